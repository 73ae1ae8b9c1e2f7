"""The receiving side over HTTP, and the first security property: no département sees another's."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from dossiers import PDF, dossier
from flask import Flask
from flask.testing import FlaskClient
from support import bearer
from test_processing import MEDICAL_PDF, run, submit

from mdph_bridge.extensions import Backends

pytestmark = pytest.mark.integration


def ready(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, **kwargs: Any
) -> uuid.UUID:
    files = {"piece_identite.pdf": PDF}
    data = dossier(files=files, **kwargs)
    extra = {"certificat.pdf": MEDICAL_PDF} if kwargs.get("medical") else {}
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], data, {**files, **extra})
    run(app, backends, transfer_id)
    return transfer_id


def test_receiver_lifecycle_download_acknowledge_complete(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = ready(app, client, demo, backends)
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    base = f"/api/v1/inbound/{transfer_id}"

    listed = client.get(base, headers=receiver).get_json()["paquet"]["sha256"]
    early = client.post(f"{base}/receipt", json={"sha256_paquet": listed}, headers=receiver)
    assert early.status_code == 409  # download first
    with client.get(f"{base}/package", headers=receiver) as package:
        assert package.status_code == 200
        digest = hashlib.sha256(package.data).hexdigest()
        assert package.headers["X-Content-SHA256"] == digest
    assert client.get(base, headers=receiver).get_json()["etat"] == "downloaded"

    wrong = client.post(f"{base}/receipt", json={"sha256_paquet": "0" * 64}, headers=receiver)
    assert wrong.status_code == 422
    assert wrong.get_json()["erreurs"][0]["code"] == "transfert.sha256_paquet"
    too_soon = client.post(
        f"{base}/complete", json={"numero_dossier_destination": "62-1"}, headers=receiver
    )
    assert too_soon.status_code == 409
    assert too_soon.get_json()["erreurs"][0]["code"] == "transfert.etat"

    assert digest == listed
    for _ in range(2):  # replaying a step is a no-op
        ack = client.post(f"{base}/receipt", json={"sha256_paquet": digest}, headers=receiver)
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
                client.post(f"{base}/receipt", json={"sha256_paquet": "0" * 64}, headers=headers),
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

    cancelled = client.post(f"/api/v1/transfers/{waiting}/cancel", headers=sender)
    assert cancelled.get_json()["etat"] == "cancelled"
    assert client.post(f"/api/v1/transfers/{waiting}/cancel", headers=sender).status_code == 200
    assert run(app, backends, waiting) is None  # the worker leaves a cancelled transfer alone
