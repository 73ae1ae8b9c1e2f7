"""How pages place a refusal's problems and show dates and the harmonisation summary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mdph_bridge import create_app
from mdph_bridge.domain.sealing import generate_staging_key
from mdph_bridge.domain.signing import generate_hub_key
from mdph_bridge.web.display import date_fr, date_if_iso, days_fr, percent_fr, place_errors
from schemas.errors import error

pytestmark = pytest.mark.unit


def settings(tmp_path: Path) -> dict[str, Any]:
    return {
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "x",
        "STAGING_KEYS": generate_staging_key("s"),
        "SIGNING_KEYS": generate_hub_key("h"),
    }


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(settings(tmp_path))


@pytest.mark.parametrize(
    ("proxies", "forwarded", "secure"),
    [(0, "http", False), (0, "https", False), (1, "http", False), (1, "https", True)],
)
def test_session_cookie_is_secure_when_a_trusted_proxy_says_tls(
    tmp_path: Path, proxies: int, forwarded: str, secure: bool
) -> None:
    app = create_app(settings(tmp_path) | {"TRUSTED_PROXIES": proxies})
    response = app.test_client().get("/connexion", headers={"X-Forwarded-Proto": forwarded})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("mdph_session=")
    assert "HttpOnly" in cookie
    assert ("Secure" in cookie) is secure


def test_problems_go_next_to_the_dossier_or_the_document_they_concern() -> None:
    raw = json.dumps({"pieces": [{"nom_fichier": "a.pdf"}, {"nom_fichier": "b.pdf"}]}).encode()
    problems = [
        error("pieces[1].sha256", "piece.empreinte_differente"),
        error("transfert.mdph_destination", "departement.code"),
        error("dossier", "requete.dossier_json"),
        error("autre.pdf", "piece.type_non_autorise", nom="autre.pdf"),
        error("pieces", "piece.fichier_non_declare", nom="autre.pdf"),
        error("Idempotency-Key", "requete.cle_idempotence"),
    ]
    placed = place_errors(problems, raw)
    assert [p["ou"] for p in placed["pieces"]] == ["Pièce « b.pdf »", "Fichier « autre.pdf »", ""]
    assert [p["ou"] for p in placed["dossier"]] == ["transfert.mdph_destination", ""]
    assert [p["code"] for p in placed["general"]] == ["requete.cle_idempotence"]


def test_dates_are_french_in_paris_time() -> None:
    assert date_fr(datetime(2026, 12, 1, 17, 5, tzinfo=UTC)) == "1 déc. 2026 à 18 h 05"
    assert date_fr(datetime(2026, 7, 14, 10, 0, tzinfo=UTC), with_time=False) == "14 juil. 2026"
    assert date_if_iso("2027-02-15") == "15 févr. 2027"
    assert date_if_iso("62-2026-0001") == "62-2026-0001"


def test_harmonisation_summary_shows_counts_alerts_and_payer_switch(app: Flask) -> None:
    summary: dict[str, Any] = {
        "version_rapport": 1,
        "versions_regles": ["national@2024-06-01", "59@2022-01-01", "62@2022-01-01"],
        "resultats": {"maintenu": 3, "maintenu_changement_payeur": 1, "echu": 0},
        "bascule_payeur": "2027-02-15",
        "alertes": [
            {
                "code": "renouvellement",
                "chemin": "droits[0]",
                "date_limite": "2027-03-31",
                "libelle": "Droit arrivant à échéance : renouvellement à engager",
            }
        ],
    }
    with app.test_request_context():
        macros = app.jinja_env.get_template("macros.html").module
        html = str(macros.harmonisation(summary))  # type: ignore[attr-defined]
        absent = str(macros.harmonisation(None))  # type: ignore[attr-defined]
    text = " ".join(html.split())
    assert "Harmonisation des droits" in text
    assert "<li>Maintenus, avec changement de payeur : 1</li>" in text
    assert "Échus" not in text  # no line for an outcome nobody got
    assert "<td>31 mars 2027</td><td>Droit arrivant à échéance : renouvellement à engager</td>" in (
        text
    )
    assert "Changement de payeur de la PCH (ou d'une aide du département) le 15 févr. 2027" in (
        text
    )
    assert "59@2022-01-01" in text
    assert absent.strip() == ""


def test_dashboard_figures_read_the_french_way() -> None:
    assert days_fr(3.25) == "3,2 j"
    assert days_fr(0.0) == "0 j"
    assert days_fr(None) == "—"
    assert percent_fr(0.875) == "88 %"
    assert percent_fr(1.0) == "100 %"
    assert percent_fr(None) == "—"
