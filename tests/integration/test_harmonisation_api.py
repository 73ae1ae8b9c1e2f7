"""The worker maps the rights: report inside the package, summary on the transfer for both sides."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dossiers import PDF, dossier, multipart, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import identity, run, unpack
from sqlalchemy.orm import Session
from support import bearer

from mdph_bridge.domain.harmonisation import harmonise
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer
from schemas.dossier import DossierSchema

pytestmark = pytest.mark.integration
FILES = {"piece_identite.pdf": PDF}
# What the example dossier says about the person: none of it may reach the transfer's metadata.
PERSONAL = ("Exemple", "Camille", "285035935012357", "rue de l'Exemple", "Arras", "1985-03-14")


def test_the_mapping_report_travels_encrypted_and_its_summary_is_on_the_transfer(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    data = dossier(files=FILES)
    data["aides_extra_legales"] = [
        {
            "identifiant": "A1",
            "code": "59_aide_menagere_ph",
            "date_ouverture": "2025-01-01",
            "date_echeance": None,
        }
    ]
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], data, FILES)
    assert run(app, backends, transfer_id) == State.READY

    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    blob = (backends.storage.root / transfer.package_key).read_bytes()  # type: ignore[operator]
    files = unpack(blob, [identity(demo, "62", "receiver")])
    report = json.loads(files["rapport_harmonisation.json"])
    expected = harmonise(DossierSchema().load(data), app.config["RULES"])
    assert report == json.loads(json.dumps(expected))
    assert report["resultats"] == {
        "maintenu": 3,
        "maintenu_changement_payeur": 2,  # the PCH and the aide ménagère (legal aid)
        "a_instruire": 0,
        "non_transferable": 0,
        "echu": 0,
    }
    page = files["rapport_harmonisation.html"].decode()
    assert "Rapport d'harmonisation des droits" in page
    assert "PCH aide humaine" in page
    assert transfer.manifest is not None
    assert transfer.manifest["manifeste"]["version_regles"] == report["versions_regles"]

    sender = client.get(
        f"/api/v1/transfers/{transfer_id}", headers=bearer(demo["59"]["jetons"]["caseworker"])
    ).get_json()
    receiver = client.get(
        f"/api/v1/inbound/{transfer_id}", headers=bearer(demo["62"]["jetons"]["receiver"])
    ).get_json()
    polled = client.get(
        "/api/v1/inbound?cursor=", headers=bearer(demo["62"]["jetons"]["receiver"])
    ).get_json()
    brief = sender["harmonisation"]
    assert brief == receiver["harmonisation"] == polled["transferts"][0]["harmonisation"]
    assert brief["resultats"] == report["resultats"]
    assert brief["bascule_payeur"] == "2027-02-02"
    assert brief["versions_regles"] == ["national@2026-01-01", "59@2022-01-01", "62@2022-01-01"]
    assert [(a["code"], a["chemin"], a["date_limite"]) for a in brief["alertes"]] == [
        ("demande_en_cours", "demandes_en_cours[0]", "2027-01-15"),
        # The example says 59 pays the PCH until 28/02/2027: one month too many.
        ("versement_a_ajuster", "droits[1]", "2027-02-01"),
        ("bascule_payeur", "droits[1]", "2027-02-02"),
        ("bascule_payeur", "aides_extra_legales[0]", "2027-02-02"),
    ]
    assert {a["libelle"] for a in brief["alertes"]} >= {
        "Changement de payeur : versement à mettre en place"
    }
    metadata = json.dumps(sender, ensure_ascii=False) + json.dumps(receiver, ensure_ascii=False)
    assert not [marker for marker in PERSONAL if marker in metadata]


def test_before_processing_the_transfer_has_no_summary_yet(
    client: FlaskClient, demo: dict[str, Any]
) -> None:
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(files=FILES), FILES)

    body = client.get(
        f"/api/v1/transfers/{transfer_id}", headers=bearer(demo["59"]["jetons"]["caseworker"])
    ).get_json()

    assert body["harmonisation"] is None


def test_an_aid_unknown_to_the_origin_rules_is_refused_at_submission(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    data = dossier(files=FILES)
    data["aides_extra_legales"] = [
        {
            "identifiant": "A1",
            "code": "62_aide_menagere",  # 62's aid, not one of 59's
            "date_ouverture": "2025-01-01",
            "date_echeance": None,
        }
    ]

    response = client.post(
        "/api/v1/transfers",
        **multipart(data, FILES),
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )

    assert response.status_code == 422
    assert response.get_json()["erreurs"] == [
        {
            "chemin": "aides_extra_legales[0].code",
            "code": "aide.inconnue",
            "message": (
                "Aide extra-légale « 62_aide_menagere » inconnue des règles du département 59 : "
                "codes possibles : 59_aide_menagere_ph, 59_transport_adapte."
            ),
        }
    ]
    assert session.query(Transfer).count() == 0


def test_the_border_case_without_a_move_keeps_payers_and_the_same_clock(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """A family of Brebières (62) shares the file with 59 for the Douai IME: nobody moves."""
    moving = submit(client, demo["62"]["jetons"]["caseworker"], dossier("62", "59"), FILES)
    data = dossier("62", "59", files=FILES)
    data["transfert"]["motif"] = "orientation_frontaliere"
    data["beneficiaire"]["adresse_nouvelle"] = data["beneficiaire"]["adresse_precedente"]
    transfer_id = submit(client, demo["62"]["jetons"]["caseworker"], data, FILES)
    assert run(app, backends, transfer_id) == State.READY

    border = session.get(Transfer, transfer_id, populate_existing=True)
    usual = session.get(Transfer, moving)
    assert border is not None
    assert usual is not None
    assert border.due_at - border.submitted_at == usual.due_at - usual.submitted_at
    assert border.harmonisation is not None
    assert border.harmonisation["bascule_payeur"] is None  # no domicile de secours change
    files = unpack(
        (backends.storage.root / border.package_key).read_bytes(),  # type: ignore[operator]
        [identity(demo, "59", "receiver")],
    )
    report = json.loads(files["rapport_harmonisation.json"])
    assert report["sans_demenagement"] is True
    assert report["mdph_competente"] == "62"
    assert report["observations"][0].startswith("Pas de déménagement")
    assert "sans déménagement" in files["rapport_harmonisation.html"].decode()
