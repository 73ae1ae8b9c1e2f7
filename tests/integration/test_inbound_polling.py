"""Inbound polling that scales: a page costs the same statements at any size, an empty one less."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from histories import NOW, add_transfer
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from support import bearer

from mdph_bridge.domain.states import State
from mdph_bridge.http import presenters
from mdph_bridge.models import AuditPending, Transfer
from schemas.api import InboundPageSchema

pytestmark = pytest.mark.integration


def ready_for_62(session: Session, count: int) -> None:
    """Transfers from 59 ready for 62, in its inbound order, with a package and a manifest."""
    for seq in range(1, count + 1):
        transfer = session.get(Transfer, add_transfer(session, "59", "62", NOW, {State.READY: NOW}))
        assert transfer is not None
        transfer.inbound_seq = seq
        transfer.package_key, transfer.package_size = f"packages/{seq}.age", 4096
        transfer.package_sha256, transfer.package_key_ids = "0" * 64, ["cle-62"]
        transfer.manifest = {"manifeste": {"transfert": str(transfer.id)}, "signature": "x"}
    session.commit()


def statements(app: Flask, call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """What `call` returns, and every SQL statement it sent."""
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = app.extensions["mdph_bridge"].engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        return call(), sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def poll(client: FlaskClient, token: str, query: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/inbound{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_a_page_of_a_hundred_sends_the_statements_of_a_page_of_one(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 100)
    token = demo["62"]["jetons"]["receiver"]
    poll(client, token, "?limit=1")  # the token's first use is written once a minute
    entries = session.scalar(select(func.count()).select_from(AuditPending))
    session.commit()

    one, for_one = statements(app, lambda: poll(client, token, "?limit=1"))
    hundred, for_hundred = statements(app, lambda: poll(client, token, "?limit=100"))

    assert len(one["transferts"]) == 1
    assert len(hundred["transferts"]) == 100
    assert hundred["transferts"][99]["paquet"]["sha256"] == "0" * 64
    assert len(for_hundred) == len(for_one)  # no statement per transfer listed
    # Each transfer listed is still recorded, all in one statement.
    assert session.scalar(select(func.count()).select_from(AuditPending)) == entries + 101


def test_the_caught_up_poll_is_one_lookup_and_leaves_no_audit_entry(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 3)
    token = demo["62"]["jetons"]["receiver"]
    cursor = poll(client, token, "")["cursor"]
    entries = session.scalar(select(func.count()).select_from(AuditPending))
    session.commit()

    body, sent = statements(app, lambda: poll(client, token, f"?cursor={cursor}"))

    assert body == {"transferts": [], "cursor": cursor}
    assert len([s for s in sent if "FROM transfers" in s]) == 1
    assert not [s for s in sent if "audit_pending" in s]  # it showed nothing: no entry
    assert session.scalar(select(func.count()).select_from(AuditPending)) == entries


def test_a_page_is_what_the_schema_dumps_for_the_same_transfers(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 3)
    first, returned, medical = session.scalars(select(Transfer).order_by(Transfer.inbound_seq))
    # Stored lists with keys the contract does not declare: the schema leaves them out.
    first.warnings = [{"chemin": "a", "code": "x.y", "message": "m", "interne": 1}]
    first.harmonisation = {
        "version_rapport": 1,
        "versions_regles": ["2026-01"],
        "resultats": {"maintenu": 2},
        "bascule_payeur": None,
        "alertes": [{"code": "c", "chemin": "p", "date_limite": "2027-01-01", "libelle": "l"}],
        "en_trop": True,
    }
    first.ready_at = first.ready_at.replace(microsecond=0)
    returned.state, returned.return_reason = State.RETURNED.value, {"code": "r", "texte": "t"}
    returned.numero_dossier_destination = "62-2026-0001"
    medical.medical_package_key, medical.medical_package_size = "packages/m.age", 512
    medical.medical_package_sha256, medical.medical_package_key_ids = "1" * 64, ["cle-62"]
    session.commit()
    listed = list(session.scalars(select(Transfer).order_by(Transfer.inbound_seq)))

    response = client.get("/api/v1/inbound", headers=bearer(demo["62"]["jetons"]["receiver"]))

    with app.test_request_context():
        cursor = response.get_json()["cursor"]
        page = {"transferts": [presenters.listed_inbound(t) for t in listed], "cursor": cursor}
        expected = InboundPageSchema().dump(page)
        assert response.get_json() == expected
        assert response.get_data() == app.json.response(expected).get_data()
    assert "interne" not in str(expected)
    assert "en_trop" not in str(expected)
    assert response.mimetype == "application/json"


def test_the_token_check_and_the_caught_up_list_share_one_transaction(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 1)
    token = demo["62"]["jetons"]["receiver"]
    cursor = poll(client, token, "")["cursor"]  # writes the token's last use: its own commit
    engine = app.extensions["mdph_bridge"].engine
    seen: list[str] = []
    hooks = {name: lambda *_, n=name: seen.append(n) for name in ("begin", "commit", "rollback")}
    for name, hook in hooks.items():
        event.listen(engine, name, hook)
    try:
        assert poll(client, token, f"?cursor={cursor}")["transferts"] == []
    finally:
        for name, hook in hooks.items():
            event.remove(engine, name, hook)

    assert seen.count("begin") == 1  # the token check did not end its transaction
    assert "commit" not in seen  # nothing written, so no commit to wait for
