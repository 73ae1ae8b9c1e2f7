"""The supervisors' dashboard page shows the metrics API's figures, for its département only."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import ready, run
from histories import NOW, add_transfer, generate
from sqlalchemy.orm import Session
from support import AGENT_PASSWORD, bearer, sign_in

from mdph_bridge.domain.reception import FAILURES
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer
from mdph_bridge.services.accounts import create_account
from mdph_bridge.services.rollups import roll_up
from mdph_bridge.web.display import days_fr, percent_fr

pytestmark = pytest.mark.integration
# The two tables of the receiving clients, exported as the other sections are.
RECEPTION_EXPORTS = ("echecs_reception", "clients_reception")
HEADLINE = {
    "part-dans-les-delais": "part_dans_les_delais",
    "delai-median": "delai_median_jours",
    "ouverts": "total",
    "a-risque": "a_risque",
    "en-retard": "en_retard",
}


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))).strip()


def rows(html: str, attribute: str) -> dict[str, list[str]]:
    """The cells' text of the rows marked `data-<attribute>`, by the attribute's value."""
    found = re.findall(rf'<tr {attribute}="([^"]+)">(.*?)</tr>', html, re.S)
    return {
        key: [text(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)] for key, row in found
    }


def headline(html: str) -> dict[str, str]:
    return dict(re.findall(r'<dd id="([a-z-]+)" data-valeur="([^"]*)"', html))


def raw(value: Any) -> str:
    """A figure as the page writes it in its `data-valeur` attribute."""
    return "" if value is None else str(value)


@pytest.fixture
def supervisor_page(web: Flask, agents: dict[tuple[str, str], str]) -> Any:
    def open_(code: str) -> FlaskClient:
        client = web.test_client()
        sign_in(client, agents[(code, "supervisor")])
        return client

    return open_


def test_the_page_shows_the_api_figures(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    supervisor_page: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    generate(session)
    monkeypatch.setattr("mdph_bridge.api.metrics.utcnow", lambda: NOW)
    monkeypatch.setattr("mdph_bridge.web.supervision.utcnow", lambda: NOW)
    monkeypatch.setattr("mdph_bridge.services.metrics.ALERTS_SHOWN", 3)
    api = client.get("/api/v1/metrics", headers=bearer(demo["59"]["jetons"]["supervisor"]))
    figures = api.get_json()
    page = supervisor_page("59")
    home = page.get("/")
    assert home.status_code == 302
    assert home.location.endswith("/tableau-de-bord")
    response = page.get("/tableau-de-bord")
    assert response.status_code == 200
    html = response.text

    assert "Tableau de bord — MDPH 59" in html
    assert 'aria-current="page">Tableau de bord</a>' in html
    assert headline(html) == {name: raw(figures["en_bref"][key]) for name, key in HEADLINE.items()}
    assert figures["en_bref"]["a_risque"] > 0
    assert figures["en_bref"]["en_retard"] > 0
    # The at-risk table: the same transfers in the same order, each linked to its timeline.
    listed = re.findall(r'<tr data-transfert="([0-9a-f-]+)">', html)
    assert listed == [row["id"] for row in figures["alertes"]]
    for row in figures["alertes"][:3]:
        assert f'href="/tableau-de-bord/transferts/{row["id"]}"' in html
    # Only the most overdue are listed; the page says how many in all and links the full CSV.
    total = figures["en_bref"]["a_risque"] + figures["en_bref"]["en_retard"]
    assert (len(listed), figures["alertes_total"]) == (3, total)
    assert total > 3
    truncated = html.split('id="alertes-tronquees">')[1].split("</p>")[0]
    assert f"Les 3 plus en retard sur {total}" in truncated
    assert 'href="/tableau-de-bord/alertes.csv"' in truncated
    every = page.get("/tableau-de-bord/alertes.csv").get_data(as_text=True).splitlines()
    assert len(every) == 1 + total
    # The charts' text alternatives hold the API's figures.
    assert {k: int(v[1]) for k, v in rows(html, "data-jours").items()} == {
        str(b["jours"]): b["nombre"] for b in figures["histogramme"]
    }
    assert rows(html, "data-mois") == {
        m["mois"]: [
            m["mois"],
            str(m["nombre"]),
            days_fr(m["mediane_jours"]),
            percent_fr(m["part_dans_les_delais"]),
        ]
        for m in figures["par_mois"]
    }
    assert {k: v[2:] for k, v in rows(html, "data-etape").items()} == {
        s["etape"]: [
            str(s["nombre"]),
            days_fr(s["moyenne_jours"]),
            days_fr(s["mediane_jours"]),
            days_fr(s["p90_jours"]),
        ]
        for s in figures["etapes"]
    }
    assert {k: int(v[1]) for k, v in rows(html, "data-etat").items()} == {
        e["etat"]: e["nombre"] for e in figures["etats"]
    }
    # Before and after: the imported history beside the hub's transfers.
    before, after = figures["historique"]["delais"], figures["delais"]
    assert before["nombre"] > 0
    comparison = re.search(r'id="table-avant-apres">(.*?)</table>', html, re.S)
    assert comparison is not None
    assert re.findall(r'data-valeur="([^"]*)"', comparison.group(1)) == [
        raw(before["mediane_jours"]),
        raw(before["part_dans_les_delais"]),
        raw(after["mediane_jours"]),
        raw(after["part_dans_les_delais"]),
    ]
    # Four charts, each with a title and a description, drawn without inline style or script.
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == 4
    assert html.count("<title id=") == 4
    assert html.count("<desc id=") == 4
    assert "style=" not in html
    assert "<script>" not in html
    assert "59-2026-0001" not in html  # no file number (nor anything else of a dossier)


def test_page_exports_are_the_api_exports(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    supervisor_page: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    generate(session)
    monkeypatch.setattr("mdph_bridge.api.metrics.utcnow", lambda: NOW)
    monkeypatch.setattr("mdph_bridge.web.supervision.utcnow", lambda: NOW)
    headers = bearer(demo["62"]["jetons"]["supervisor"])
    page = supervisor_page("62")
    html = page.get("/tableau-de-bord").text
    sections = re.findall(r'href="/tableau-de-bord/([a-z_]+)\.csv"', html)
    assert sections == [
        "etats", "delais", "histogramme", "paires", "mois", "etapes", "alertes",
        "echecs_reception", "clients_reception", "continuite", "historique"
    ]  # fmt: skip
    for section in sections:
        mine = page.get(f"/tableau-de-bord/{section}.csv")
        assert mine.status_code == 200
        assert mine.mimetype == "text/csv"
        assert mine.headers["Content-Disposition"] == (
            f'attachment; filename="mdph-bridge-{section}.csv"'
        )
        theirs = client.get(f"/api/v1/metrics/{section}.csv", headers=headers)
        assert mine.get_data() == theirs.get_data(), section
        if section not in RECEPTION_EXPORTS:  # no receiving client in these figures: see below
            assert len(mine.get_data(as_text=True).splitlines()) > 1, section
    assert page.get("/tableau-de-bord/noms.csv").status_code == 404


def test_reception_failures_and_clients_are_exported_without_personal_data(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    supervisor_page: Any,
) -> None:
    transfer_id = ready(app, client, demo, backends)
    receiver = {**bearer(demo["62"]["jetons"]["receiver"]), "User-Agent": "mdph-reception/1.2.3"}
    url = f"/api/v1/inbound/{transfer_id}/reception-failure"
    assert client.post(url, json={"code": "paquet_altere"}, headers=receiver).status_code == 200
    page = supervisor_page("62")
    headers = bearer(demo["62"]["jetons"]["supervisor"])
    tables = {}
    for section in RECEPTION_EXPORTS:
        mine = page.get(f"/tableau-de-bord/{section}.csv")
        assert mine.status_code == 200
        assert mine.get_data() == client.get(f"/api/v1/metrics/{section}.csv", headers=headers).data
        exported = mine.get_data(as_text=True)
        assert exported.startswith("\ufeff")
        for personal in ("59-2024-004217", "285035935012357", "Exemple", "Camille"):
            assert personal not in exported  # file number, NIR, names of the example dossier
        tables[section] = list(csv.reader(io.StringIO(exported[1:]), delimiter=";"))
    failures = tables["echecs_reception"]
    assert failures[0] == [
        "id", "mdph_origine", "mdph_destination", "motif", "motif_libelle", "signale_le"
    ]  # fmt: skip
    assert [row[:5] for row in failures[1:]] == [
        [str(transfer_id), "59", "62", "paquet_altere", FAILURES["paquet_altere"]]
    ]
    clients = tables["clients_reception"]
    assert clients[0] == ["mdph", "role", "version", "dernier_usage"]
    assert [row[:3] for row in clients[1:]] == [["62", "receiver", "1.2.3"]]


def test_a_supervisor_follows_a_listed_transfer_without_its_file_number(
    session: Session, supervisor_page: Any, demo: dict[str, Any]
) -> None:
    generate(session)
    page = supervisor_page("59")
    html = page.get("/tableau-de-bord").text
    first = re.search(r'<tr data-transfert="([0-9a-f-]+)">', html)
    assert first is not None
    response = page.get(f"/tableau-de-bord/transferts/{first.group(1)}")
    assert response.status_code == 200
    shown = text(response.text)
    assert first.group(1) in shown
    assert re.search(r"Délai (À risque|En retard)", shown)
    assert "Chronologie" in shown
    assert "Reçu, en attente de traitement" in shown
    assert "59-2026-0001" not in response.text
    assert "style=" not in response.text


def test_a_supervisor_of_80_sees_nothing_of_59_and_62(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    supervisor_page: Any,
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    run(app, backends, transfer_id)
    for code, count in (("59", "1"), ("62", "1"), ("80", "0")):
        page = supervisor_page(code)
        html = page.get("/tableau-de-bord").text
        assert headline(html)["ouverts"] == count, code
        assert rows(html, "data-etat")["ready"][1] == count, code
        export = page.get("/tableau-de-bord/etats.csv").get_data(as_text=True)
        assert f"ready;Prêt à être téléchargé par la MDPH d'accueil;{count}" in export, code
        timeline = page.get(f"/tableau-de-bord/transferts/{transfer_id}")
        assert timeline.status_code == (404 if code == "80" else 200), code
        if code == "80":
            assert str(transfer_id) not in html


def test_a_supervisor_of_two_departements_sees_the_one_it_acts_for(
    app: Flask,
    web: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    run(app, backends, transfer_id)
    create_account(session, "c.martin", "supervisor", ["80", "59"], AGENT_PASSWORD)
    page = web.test_client()
    token = sign_in(page, "c.martin")
    html = page.get("/tableau-de-bord").text
    assert "Tableau de bord — MDPH 59" in html
    assert headline(html)["ouverts"] == "1"
    assert 'name="departement"' in html  # the choice of département is offered on the page
    page.post("/departement", data={"csrf_token": token, "departement": "80"})
    html = page.get("/tableau-de-bord").text
    assert "Tableau de bord — MDPH 80" in html
    assert headline(html)["ouverts"] == "0"
    assert str(transfer_id) not in html


def test_continuity_of_rights_on_the_page_the_api_and_the_csv(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    supervisor_page: Any,
) -> None:
    """The summaries the hub keeps give the rights by outcome, per pair and month (PostgreSQL)."""
    counts = {"maintenu": 3, "maintenu_changement_payeur": 1, "a_instruire": 1}
    for at in (datetime(2026, 4, 3, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC)):
        transfer = session.get(Transfer, add_transfer(session, "59", "62", at))
        assert transfer is not None
        transfer.harmonisation = {
            "resultats": {"non_transferable": 0, "echu": 1, **counts},
            "alertes": [],
        }
    session.commit()

    figures = client.get(
        "/api/v1/metrics", headers=bearer(demo["62"]["jetons"]["supervisor"])
    ).get_json()
    row = {
        "mdph_origine": "59",
        "mdph_destination": "62",
        "mois": "2026-04",
        "transferts": 2,
        "maintenu": 6,
        "maintenu_changement_payeur": 2,
        "a_instruire": 2,
        "non_transferable": 0,
        "echu": 2,
        "part_sans_rupture": 0.8,  # 8 of the 10 rights still running at the move
    }
    assert figures["continuite"] == [row]
    page = supervisor_page("62")
    html = page.get("/tableau-de-bord").text
    assert 'data-paire="59-62"' in html
    assert percent_fr(0.8) in html.split('id="table-continuite"')[1]
    exported = page.get("/tableau-de-bord/continuite.csv").get_data(as_text=True)
    assert exported.splitlines()[1] == "59;62;2026-04;2;6;2;2;0;2;0,8"


def test_the_page_says_how_close_its_medians_are(session: Session, supervisor_page: Any) -> None:
    generate(session)
    page = supervisor_page("59")
    assert "médianes et percentiles exacts" in text(page.get("/tableau-de-bord").text)

    roll_up(session, 15)

    shown = text(page.get("/tableau-de-bord").text)
    assert "les médianes et percentiles le sont à 1 % près" in shown
