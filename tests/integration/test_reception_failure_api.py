"""A receiving client's failure report: an event on the timeline, never a change of state."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flows import ready
from support import bearer, sign_in

from mdph_bridge.domain.reception import FAILURES
from mdph_bridge.extensions import Backends

pytestmark = pytest.mark.integration
CLIENT = {"User-Agent": "mdph-reception/1.2.3 (Python 3.11)"}


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_failure_is_on_the_senders_timeline_and_the_dashboard_state_unchanged(
    app: Flask,
    web: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    agents: dict[tuple[str, str], str],
) -> None:
    transfer_id = ready(app, client, demo, backends)
    receiver = {**bearer(demo["62"]["jetons"]["receiver"]), **CLIENT}
    url = f"/api/v1/inbound/{transfer_id}/reception-failure"

    for _ in range(2):  # a resent report adds nothing
        answer = client.post(url, json={"code": "paquet_altere"}, headers=receiver)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["etat"] == "ready"

    sender = bearer(demo["59"]["jetons"]["caseworker"])
    events = client.get(f"/api/v1/transfers/{transfer_id}", headers=sender).get_json()
    failures = [e for e in events["evenements"] if e["detail"] and "echec_reception" in e["detail"]]
    assert [(e["de"], e["vers"], e["detail"]) for e in failures] == [
        ("ready", "ready", {"echec_reception": "paquet_altere"})
    ]
    assert failures[0]["acteur"] == "MDPH 62"

    page = web.test_client()
    sign_in(page, agents[("59", "caseworker")])
    shown = text(page.get(f"/envois/{transfer_id}").text)
    reason = FAILURES["paquet_altere"]
    assert f"Échec de réception signalé par la MDPH d'accueil — motif : {reason}" in shown

    supervisor = bearer(demo["59"]["jetons"]["supervisor"])
    figures = client.get("/api/v1/metrics", headers=supervisor).get_json()
    assert [(f["id"], f["motif"]) for f in figures["echecs_reception"]] == [
        (str(transfer_id), "paquet_altere")
    ]
    board = web.test_client()
    sign_in(board, agents[("62", "supervisor")])
    html = text(board.get("/tableau-de-bord").text)
    assert FAILURES["paquet_altere"] in html
    followed = text(board.get(f"/tableau-de-bord/transferts/{transfer_id}").text)
    assert f"Échec de réception signalé par la MDPH d'accueil — motif : {reason}" in followed
    assert "1.2.3" in html  # the version the 62 client sent

    # Once received after all, the failure is no longer waiting on the dashboard.
    with client.get(f"/api/v1/inbound/{transfer_id}/package", headers=receiver):
        pass
    figures = client.get("/api/v1/metrics", headers=supervisor).get_json()
    assert figures["echecs_reception"] == []


def test_unknown_code_and_finished_transfer_are_refused(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = ready(app, client, demo, backends)
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    url = f"/api/v1/inbound/{transfer_id}/reception-failure"

    free_text = client.post(url, json={"code": "Camille Exemple"}, headers=receiver)
    assert free_text.status_code == 422
    assert [(e["chemin"], e["code"]) for e in free_text.get_json()["erreurs"]] == [
        ("code", "champ.choix")
    ]
    other = client.post(
        url, json={"code": "cle_absente"}, headers=bearer(demo["80"]["jetons"]["receiver"])
    )
    assert other.status_code == 404

    client.post(
        f"/api/v1/inbound/{transfer_id}/return", json={"motif": "doublon"}, headers=receiver
    )
    late = client.post(url, json={"code": "cle_absente"}, headers=receiver)
    assert late.status_code == 409
    assert late.get_json()["erreurs"][0]["code"] == "transfert.etat"


@pytest.mark.parametrize(
    ("agent", "stored"),
    [
        ("mdph-reception/2.0.1", "2.0.1"),
        ("mdph-reception/0.3.0 (Windows)", "0.3.0"),
        ("Mozilla/5.0", None),
        ("mdph-reception/<script>", None),
    ],
)
def test_only_the_clients_version_is_kept_from_the_user_agent(
    client: FlaskClient, demo: dict[str, Any], agent: str, stored: str | None
) -> None:
    headers = {**bearer(demo["62"]["jetons"]["receiver"]), "User-Agent": agent}
    assert client.get("/api/v1/inbound", headers=headers).status_code == 200
    supervisor = bearer(demo["62"]["jetons"]["supervisor"])
    seen = client.get("/api/v1/metrics", headers=supervisor).get_json()["clients_reception"]
    assert [c["version"] for c in seen] == ([stored] if stored else [])


def test_the_dashboard_lists_the_latest_failures_and_says_how_many_in_all(
    app: Flask,
    web: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    agents: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mdph_bridge.services.metrics.FAILURES_SHOWN", 2)
    receiver = {**bearer(demo["62"]["jetons"]["receiver"]), **CLIENT}
    reported = []
    for _ in range(3):
        transfer_id = ready(app, client, demo, backends)
        url = f"/api/v1/inbound/{transfer_id}/reception-failure"
        assert client.post(url, json={"code": "paquet_altere"}, headers=receiver).status_code == 200
        reported.append(str(transfer_id))

    supervisor = bearer(demo["62"]["jetons"]["supervisor"])
    figures = client.get("/api/v1/metrics", headers=supervisor).get_json()
    assert [f["id"] for f in figures["echecs_reception"]] == reported[:0:-1]  # latest first
    assert figures["echecs_reception_total"] == 3
    board = web.test_client()
    sign_in(board, agents[("62", "supervisor")])
    html = board.get("/tableau-de-bord").text
    said = text(html.split('id="echecs-tronques">')[1].split("</p>")[0])
    assert "Les 2 plus récents sur 3" in said
    assert 'href="/tableau-de-bord/echecs_reception.csv"' in html
    exported = board.get("/tableau-de-bord/echecs_reception.csv").get_data(as_text=True)
    assert sorted(line.split(";")[0] for line in exported.splitlines()[1:]) == sorted(reported)
