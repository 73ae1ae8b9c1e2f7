"""The receiving side over HTTP, and the first security property: no département sees another's."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import MEDICAL_PDF, ready, run
from support import bearer, signed_receipt

from mdph_bridge.domain.keyids import key_id
from mdph_bridge.domain.signing import digest, generate_signing_key, sign, verify
from mdph_bridge.extensions import Backends

pytestmark = pytest.mark.integration
RECEIPT_SHAPE = {
    "recu": {
        "transfert": str(uuid.UUID(int=0)),
        "sha256_manifeste": "0" * 64,
        "date": "2026-01-01",
    },
    "cle": "x",
    "signature": "x",
}


def test_receiver_lifecycle_download_acknowledge_complete(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = ready(app, client, demo, backends)
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    base = f"/api/v1/inbound/{transfer_id}"

    listed = client.get(base, headers=receiver).get_json()["paquet"]["sha256"]
    manifest = client.get(f"{base}/manifest", headers=receiver).get_json()
    signing = demo["62"]["cles"]["signing"]
    good = signed_receipt(manifest, signing)
    early = client.post(f"{base}/receipt", json=good, headers=receiver)
    assert early.status_code == 409  # download first
    with client.get(f"{base}/package", headers=receiver) as package:
        assert package.status_code == 200
        digest = hashlib.sha256(package.data).hexdigest()
        assert package.headers["X-Content-SHA256"] == digest
    assert client.get(base, headers=receiver).get_json()["etat"] == "downloaded"

    forged = {**good, "recu": {**good["recu"], "sha256_manifeste": "0" * 64}}
    wrong = client.post(f"{base}/receipt", json=forged, headers=receiver)
    assert wrong.status_code == 422
    assert wrong.get_json()["erreurs"][0]["code"] == "recu.manifeste"
    too_soon = client.post(
        f"{base}/complete", json={"numero_dossier_destination": "62-1"}, headers=receiver
    )
    assert too_soon.status_code == 409
    assert too_soon.get_json()["erreurs"][0]["code"] == "transfert.etat"

    assert digest == listed
    dossier_part = manifest["manifeste"]["parties"][0]
    assert (dossier_part["nom"], dossier_part["sha256_chiffre"]) == ("dossier", digest)
    for _ in range(2):  # replaying a step is a no-op
        ack = client.post(f"{base}/receipt", json=good, headers=receiver)
        assert ack.status_code == 200
        assert ack.get_json()["etat"] == "acknowledged"
    for _ in range(2):
        done = client.post(
            f"{base}/complete", json={"numero_dossier_destination": "62-1"}, headers=receiver
        )
        assert done.status_code == 200
        assert done.get_json()["etat"] == "completed"
    other = client.post(
        f"{base}/complete", json={"numero_dossier_destination": "62-2"}, headers=receiver
    )
    assert other.status_code == 409

    sender = client.get(
        f"/api/v1/transfers/{transfer_id}", headers=bearer(demo["59"]["jetons"]["caseworker"])
    )
    body = sender.get_json()
    assert [e["vers"] for e in body["evenements"]] == [
        "received",
        "validating",
        "ready",
        "downloaded",
        "acknowledged",
        "completed",
    ]
    assert body["numero_dossier_destination"] == "62-1"


def test_return_with_reason_is_seen_by_the_sender(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = ready(app, client, demo, backends)
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    bad = client.post(
        f"/api/v1/inbound/{transfer_id}/return", json={"motif": "parce que"}, headers=receiver
    )
    assert bad.status_code == 422
    assert bad.get_json()["erreurs"][0] == {
        "chemin": "motif",
        "code": "champ.choix",
        "message": bad.get_json()["erreurs"][0]["message"],
    }
    reason = {"motif": "hors_competence", "commentaire": "Domicile de secours resté dans le Nord."}
    returned = client.post(f"/api/v1/inbound/{transfer_id}/return", json=reason, headers=receiver)
    assert returned.status_code == 200
    assert returned.get_json()["etat"] == "returned"

    sender = client.get(
        f"/api/v1/transfers/{transfer_id}", headers=bearer(demo["59"]["jetons"]["caseworker"])
    )
    assert sender.get_json()["etat"] == "returned"
    assert sender.get_json()["motif_retour"] == reason
    package = client.get(f"/api/v1/inbound/{transfer_id}/package", headers=receiver)
    assert package.status_code == 409


def test_medical_package_is_for_doctors_only(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = ready(app, client, demo, backends, medical={"certificat.pdf": MEDICAL_PDF})
    url = f"/api/v1/inbound/{transfer_id}/medical-package"
    assert client.get(url, headers=bearer(demo["62"]["jetons"]["receiver"])).status_code == 403
    with client.get(url, headers=bearer(demo["62"]["jetons"]["doctor"])) as doctor:
        assert doctor.status_code == 200
        assert doctor.data.startswith(b"age-encryption.org/v1\n")


def test_inbound_polling_never_misses_or_repeats(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    first = [ready(app, client, demo, backends) for _ in range(3)]
    page = client.get("/api/v1/inbound?limit=2", headers=receiver).get_json()
    assert [t["id"] for t in page["transferts"]] == [str(t) for t in first[:2]]
    later = ready(app, client, demo, backends)
    page2 = client.get(
        f"/api/v1/inbound?limit=2&cursor={page['cursor']}", headers=receiver
    ).get_json()
    assert [t["id"] for t in page2["transferts"]] == [str(first[2]), str(later)]
    empty = client.get(f"/api/v1/inbound?cursor={page2['cursor']}", headers=receiver).get_json()
    assert empty["transferts"] == []
    assert empty["cursor"] == page2["cursor"]
    bad = client.get("/api/v1/inbound?cursor=%%%", headers=receiver)
    assert bad.status_code == 400
    assert bad.get_json()["erreurs"][0]["code"] == "requete.curseur"


def test_transfers_not_yet_ready_are_not_visible_to_the_receiver(
    client: FlaskClient, demo: dict[str, Any]
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    assert client.get("/api/v1/inbound", headers=receiver).get_json()["transferts"] == []
    assert client.get(f"/api/v1/inbound/{transfer_id}", headers=receiver).status_code == 404


def test_no_departement_can_read_or_change_another_departements_transfer(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = ready(app, client, demo, backends)
    outsider_cw = bearer(demo["80"]["jetons"]["caseworker"])
    outsider_rx = bearer(demo["80"]["jetons"]["receiver"])
    dest_cw = bearer(demo["62"]["jetons"]["caseworker"])
    origin_rx = bearer(demo["59"]["jetons"]["receiver"])

    # Lists: 62 does not see 59's outbound; 80 sees nothing anywhere.
    assert client.get("/api/v1/transfers", headers=dest_cw).get_json()["transferts"] == []
    assert client.get("/api/v1/transfers", headers=outsider_cw).get_json()["total"] == 0
    assert client.get("/api/v1/inbound", headers=outsider_rx).get_json()["transferts"] == []
    assert client.get("/api/v1/inbound", headers=origin_rx).get_json()["transferts"] == []

    # Every single-transfer route answers 404, exactly as for a transfer that does not exist.
    missing = uuid.uuid4()
    for target in (transfer_id, missing):
        for headers in (outsider_cw, dest_cw):
            assert client.get(f"/api/v1/transfers/{target}", headers=headers).status_code == 404
            assert (
                client.post(f"/api/v1/transfers/{target}/cancel", headers=headers).status_code
                == 404
            )
        for headers in (outsider_rx, origin_rx):
            base = f"/api/v1/inbound/{target}"
            responses = [
                client.get(base, headers=headers),
                client.get(f"{base}/package", headers=headers),
                client.post(f"{base}/receipt", json=RECEIPT_SHAPE, headers=headers),
                client.post(
                    f"{base}/complete", json={"numero_dossier_destination": "x"}, headers=headers
                ),
                client.post(f"{base}/return", json={"motif": "autre"}, headers=headers),
            ]
            assert [r.status_code for r in responses] == [404] * 5
            assert {r.get_json()["erreurs"][0]["code"] for r in responses} == {
                "transfert.introuvable"
            }
    owner = client.get(
        f"/api/v1/inbound/{transfer_id}", headers=bearer(demo["62"]["jetons"]["receiver"])
    )
    assert owner.get_json()["etat"] == "ready"


def test_sender_lists_filters_paginates_and_cancels(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    done = ready(app, client, demo, backends)
    waiting = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )

    everything = client.get("/api/v1/transfers?par_page=1", headers=sender).get_json()
    assert everything["total"] == 2
    assert [t["id"] for t in everything["transferts"]] == [str(waiting)]
    page2 = client.get("/api/v1/transfers?par_page=1&page=2", headers=sender).get_json()
    assert [t["id"] for t in page2["transferts"]] == [str(done)]
    only_ready = client.get("/api/v1/transfers?etat=ready", headers=sender).get_json()
    assert [t["id"] for t in only_ready["transferts"]] == [str(done)]
    bad = client.get("/api/v1/transfers?etat=nimporte&par_page=0", headers=sender)
    assert bad.status_code == 422
    assert {e["chemin"] for e in bad.get_json()["erreurs"]} == {"etat", "par_page"}
    # A misspelt filter is refused, not ignored (the list would silently hold every state).
    typo = client.get("/api/v1/transfers?etats=ready", headers=sender)
    assert typo.status_code == 422
    assert [(e["chemin"], e["code"]) for e in typo.get_json()["erreurs"]] == [
        ("etats", "champ.inconnu")
    ]

    cancelled = client.post(f"/api/v1/transfers/{waiting}/cancel", headers=sender)
    assert cancelled.get_json()["etat"] == "cancelled"
    assert client.post(f"/api/v1/transfers/{waiting}/cancel", headers=sender).status_code == 200
    assert run(app, backends, waiting) is None  # the worker leaves a cancelled transfer alone


def test_receipts_are_checked_against_the_departements_signing_key(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = ready(app, client, demo, backends)
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    base = f"/api/v1/inbound/{transfer_id}"
    with client.get(f"{base}/package", headers=receiver):
        pass
    manifest = client.get(f"{base}/manifest", headers=receiver).get_json()
    good = signed_receipt(manifest, demo["62"]["cles"]["signing"])

    def code_of(body: dict[str, Any]) -> str:
        response = client.post(f"{base}/receipt", json=body, headers=receiver)
        assert response.status_code == 422, response.get_json()
        return response.get_json()["erreurs"][0]["code"]

    other_departement = signed_receipt(manifest, demo["59"]["cles"]["signing"])
    tampered = {**good, "recu": {**good["recu"], "date": "2026-11-22T00:00:00+00:00"}}
    stale = signed_receipt(
        manifest, demo["62"]["cles"]["signing"], datetime(2020, 1, 1, tzinfo=UTC)
    )
    elsewhere = {**good, "recu": {**good["recu"], "transfert": str(uuid.uuid4())}}
    assert code_of(other_departement) == "recu.cle"
    assert code_of({**good, "cle": demo["62"]["cles"]["receiver"]["id"]}) == "recu.cle"
    assert code_of(tampered) in {"recu.signature", "recu.date"}
    assert code_of({**good, "signature": other_departement["signature"]}) == "recu.signature"
    assert code_of(stale) == "recu.date"
    assert code_of(elsewhere) == "recu.transfert"

    assert client.post(f"{base}/receipt", json=good, headers=receiver).status_code == 200
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    fetched = client.get(f"/api/v1/transfers/{transfer_id}/receipt", headers=sender).get_json()
    assert fetched["recu"] == good["recu"]
    assert verify(fetched["cle_publique"], fetched["signature"], fetched["recu"])  # offline check
    sent = client.get(f"/api/v1/transfers/{transfer_id}/manifest", headers=sender).get_json()
    hub = client.get("/api/v1/keys").get_json()["cles"]
    key = next(k for k in hub if k["id"] == sent["signature"]["cle"])
    assert verify(key["cle_publique"], sent["signature"]["valeur"], sent["manifeste"])
    assert fetched["recu"]["sha256_manifeste"] == digest(sent["manifeste"])


def test_a_transfer_without_receipt_has_none_to_show(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = ready(app, client, demo, backends)
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    missing = client.get(f"/api/v1/transfers/{transfer_id}/receipt", headers=sender)
    assert missing.status_code == 404
    assert missing.get_json()["erreurs"][0]["code"] == "transfert.recu_absent"
    outsider = bearer(demo["80"]["jetons"]["caseworker"])
    assert (
        client.get(f"/api/v1/transfers/{transfer_id}/manifest", headers=outsider).status_code == 404
    )


def test_sender_verifies_the_receipt_offline_with_the_cli(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from mdph_bridge.cli import main

    transfer_id = ready(app, client, demo, backends)
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    base = f"/api/v1/inbound/{transfer_id}"
    with client.get(f"{base}/package", headers=receiver):
        pass
    manifest = client.get(f"{base}/manifest", headers=receiver).get_json()
    client.post(
        f"{base}/receipt",
        json=signed_receipt(manifest, demo["62"]["cles"]["signing"]),
        headers=receiver,
    )
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    files = {
        "recu.json": client.get(
            f"/api/v1/transfers/{transfer_id}/receipt", headers=sender
        ).get_json(),
        "manifeste.json": client.get(
            f"/api/v1/transfers/{transfer_id}/manifest", headers=sender
        ).get_json(),
        "cles.json": client.get("/api/v1/keys").get_json(),
    }
    for name, body in files.items():
        (tmp_path / name).write_text(json.dumps(body))
    args = [
        "receipt",
        "verify",
        str(tmp_path / "recu.json"),
        "--manifest",
        str(tmp_path / "manifeste.json"),
        "--hub-keys",
        str(tmp_path / "cles.json"),
    ]
    ok = CliRunner().invoke(main, args)
    assert ok.exit_code == 0, ok.output
    assert "signature valide" in ok.output
    forged = {
        **files["recu.json"],
        "recu": {**files["recu.json"]["recu"], "date": "2030-01-01T00:00:00+00:00"},
    }
    (tmp_path / "recu.json").write_text(json.dumps(forged))
    bad = CliRunner().invoke(main, args)
    assert bad.exit_code == 1
    assert "signature du reçu est invalide" in bad.output

    # A receipt signed with any other key, however self-consistent, proves nothing.
    secret, public = generate_signing_key()
    impostor = {
        "recu": files["recu.json"]["recu"],
        "cle": key_id("62", "signing", public),
        "signature": sign(secret, files["recu.json"]["recu"]),
        "cle_publique": public,
        "algorithme": "Ed25519",
    }
    assert verify(public, impostor["signature"], impostor["recu"])
    (tmp_path / "recu.json").write_text(json.dumps({**impostor, "cle": "62-signing-autre"}))
    assert "pas une clé de signature" in CliRunner().invoke(main, args).output
    (tmp_path / "recu.json").write_text(json.dumps(files["recu.json"]))
    (tmp_path / "manifeste.json").write_text(
        json.dumps({**files["manifeste.json"], "signature": {"cle": "x", "valeur": "x"}})
    )
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert "signature de la plateforme" in refused.output
    (tmp_path / "recu.json").write_text("{}")
    assert CliRunner().invoke(main, args).exit_code == 1  # a French message, not a traceback
