"""The audit log on real PostgreSQL: API calls recorded, one chain under concurrent writers,
tampering in the database detected and named, purge keeps the chain verifiable."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import run
from sqlalchemy import func, select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session
from support import bearer

from mdph_bridge.extensions import Backends
from mdph_bridge.models import AuditEntry
from mdph_bridge.services.audit import SYSTEM, Actor, purge, record, verify

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chain(session: Session, count: int, start: datetime = T0) -> None:
    for i in range(count):
        actor = Actor(str(uuid.UUID(int=i)), "receiver", "62")
        record(
            session,
            actor,
            "inbound.detail",
            "transfer",
            uuid.UUID(int=i),
            "200",
            at=start + timedelta(minutes=i),
        )
        session.commit()


def sql(session: Session, statement: str, **params: str) -> None:
    """Tamper as the database's owner could: first disable the append-only trigger."""
    session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"))
    for part in statement.split(";"):
        session.execute(text(part), params)
    session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only"))
    session.commit()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_entries SET outcome = '500' WHERE seq = 2", "DELETE FROM audit_entries"],
)
def test_postgresql_refuses_to_change_or_delete_entries(session: Session, statement: str) -> None:
    chain(session, 3)
    with pytest.raises(ProgrammingError, match="append-only"):
        session.execute(text(statement))
    session.rollback()
    assert verify(session).checked == 3


def test_api_calls_are_recorded_by_token_id_with_outcome(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    run(app, backends, transfer_id)
    rx = demo["62"]["jetons"]["receiver"]
    assert client.get("/api/v1/inbound", headers=bearer(rx)).status_code == 200
    with client.get(f"/api/v1/inbound/{transfer_id}/package", headers=bearer(rx)) as download:
        assert download.status_code == 200
    with client.head(f"/api/v1/inbound/{transfer_id}/package", headers=bearer(rx)) as head:
        assert head.status_code == 200
    other = demo["80"]["jetons"]["receiver"]
    assert client.get(f"/api/v1/inbound/{transfer_id}", headers=bearer(other)).status_code == 404
    cw62 = demo["62"]["jetons"]["caseworker"]
    assert client.get(f"/api/v1/inbound/{transfer_id}", headers=bearer(cw62)).status_code == 403

    rows = [
        (e.role, e.departement, e.action, e.object_type, e.object_id, e.outcome)
        for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
        if e.action.startswith(("transfers.", "inbound.", "transfer."))
    ]
    tid = str(transfer_id)
    assert rows == [
        ("caseworker", "59", "transfers.create", "transfer", tid, "202"),
        (None, None, "transfer.process", "transfer", tid, "ready"),  # the worker, as "systeme"
        ("receiver", "62", "inbound.index", "transfer", tid, "200"),  # one entry per listed
        ("receiver", "62", "inbound.package", "package", tid, "200"),
        ("receiver", "62", "inbound.package:head", "package", tid, "200"),
        ("receiver", "80", "inbound.detail", "transfer", tid, "404"),
        ("caseworker", "62", "inbound.detail", "transfer", tid, "403"),
    ]
    package_entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "inbound.package"))
    token_ids = {str(row.id) for row in session.execute(text("SELECT id FROM api_tokens"))}
    assert package_entry.actor in token_ids  # the token's id, never a label or a name
    assert verify(session).ok


def test_concurrent_writers_make_one_chain(app: Flask, backends: Backends) -> None:
    threads, per_thread = 8, 25
    barrier = threading.Barrier(threads)

    def write(n: int) -> None:
        with app.app_context():
            db = backends.sessions()
            barrier.wait()
            for i in range(per_thread):
                record(db, Actor(f"t{n}", "receiver", "62"), "inbound.detail", "transfer", i)
                db.commit()
            backends.sessions.remove()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    session = backends.sessions()
    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.seq for e in entries] == list(range(1, threads * per_thread + 1))
    assert len({e.prev_hash for e in entries}) == len(entries)  # no two entries share a parent
    assert verify(session).ok


@pytest.mark.parametrize(
    ("tampering", "bad_seq", "problem"),
    [
        ("UPDATE audit_entries SET outcome = '500' WHERE seq = 5", 5, "entrée modifiée"),
        ("UPDATE audit_entries SET at = at - interval '1 day' WHERE seq = 7", 7, "entrée modifiée"),
        ("DELETE FROM audit_entries WHERE seq = 4", 4, "entrée supprimée"),
        ("DELETE FROM audit_entries WHERE seq >= 9", 9, "entrée supprimée (fin de la chaîne)"),
        (  # swap two entries' places in the order
            "UPDATE audit_entries SET seq = -3 WHERE seq = 3;"
            "UPDATE audit_entries SET seq = 3 WHERE seq = 6;"
            "UPDATE audit_entries SET seq = 6 WHERE seq = -3",
            3,
            "ne suit pas l'entrée précédente (ordre changé ou précédente remplacée)",
        ),
        (  # a rewritten entry whose hash was recomputed still breaks the link to the next one
            "UPDATE audit_entries SET hash = repeat('a', 64) WHERE seq = 2",
            2,
            "entrée modifiée",
        ),
    ],
)
def test_tampering_in_postgresql_is_detected_and_named(
    session: Session, tampering: str, bad_seq: int, problem: str
) -> None:
    chain(session, 10)
    assert verify(session).ok
    sql(session, tampering)
    result = verify(session)
    assert (result.bad_seq, result.problem) == (bad_seq, problem)


def test_a_recomputed_hash_is_caught_at_the_next_entry(session: Session) -> None:
    chain(session, 5)
    entry = session.get(AuditEntry, 3)
    from mdph_bridge.services.audit import FIELDS, entry_hash

    fields = {name: getattr(entry, name) for name in FIELDS} | {"outcome": "404"}
    forged = entry_hash(entry.prev_hash, fields)
    sql(session, "UPDATE audit_entries SET outcome = '404', hash = :h WHERE seq = 3", h=forged)
    result = verify(session)
    assert result.bad_seq == 4
    assert result.problem.startswith("ne suit pas")


def test_purge_keeps_recent_entries_and_a_verifiable_chain(session: Session) -> None:
    chain(session, 10)  # one entry a minute from T0
    deleted = purge(session, T0 + timedelta(minutes=4), now=T0 + timedelta(days=400))
    assert deleted == 4
    seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert seqs == [5, 6, 7, 8, 9, 10, 11]  # 11: the purge itself
    assert session.get(AuditEntry, 11).action == "audit.purge"
    assert verify(session).ok
    assert purge(session, T0 + timedelta(minutes=4)) == 0
    sql(session, "DELETE FROM audit_entries WHERE seq = 5")  # deleting the first kept one shows
    assert verify(session).bad_seq == 5


def test_cli_verify_names_the_entry_and_export_filters_dates(cli: Any, session: Session) -> None:
    chain(session, 6)
    assert "6 entrée(s) vérifiée(s)" in cli("audit", "verify")
    lines = cli(
        "audit",
        "export",
        "--format",
        "jsonl",
        "--from",
        "2026-01-01T00:02:00",
        "--to",
        "2026-01-01T00:04:00",
    ).splitlines()
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r["numero"] for r in rows] == [3, 4]
    assert set(rows[0]) >= {"acteur", "role", "departement", "action", "objet", "resultat"}
    csv_out = cli("audit", "export")
    assert "numero,date,acteur,role,departement,action,type_objet,objet,resultat," in csv_out
    sql(session, "UPDATE audit_entries SET actor = 'quelqu-un' WHERE seq = 2")
    assert "entrée n°2 : entrée modifiée" in cli("audit", "verify", status=1)


def test_admin_operations_on_keys_and_tokens_are_recorded(cli: Any, session: Session) -> None:
    cli("departements", "add", "80", "Somme")
    token_id = cli("tokens", "issue", "80", "receiver").split("\t")[0]
    cli("tokens", "list", "80")
    cli("tokens", "revoke", token_id)
    cli("keys", "list", "80")
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions == ["token.issue", "token.list", "token.revoke", "key.list"]
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 4
    assert session.scalar(select(AuditEntry.object_id).where(AuditEntry.seq == 1)) == token_id
    record(session, SYSTEM, "x", "y")
    session.commit()
    assert verify(session).ok


def test_cli_purge_follows_the_configured_retention(
    cli: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain(session, 6)  # January 2026, more than 92 days before today
    monkeypatch.setenv("MDPH_BRIDGE_AUDIT_RETENTION_DAYS", "92")
    assert "6 entrée(s) de plus de 92 jours supprimée(s)" in cli("audit", "purge")
    assert "1 entrée(s) vérifiée(s)" in cli("audit", "verify")  # the purge's own entry


def test_a_list_records_each_transfer_it_shows(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    cw = demo["59"]["jetons"]["caseworker"]
    files = {"piece_identite.pdf": PDF}
    ids = {str(submit(client, cw, dossier(), files)) for _ in range(2)}
    assert client.get("/api/v1/transfers", headers=bearer(cw)).status_code == 200
    assert (
        client.get("/api/v1/inbound", headers=bearer(demo["80"]["jetons"]["receiver"])).status_code
        == 200
    )
    listed = session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.action == "transfers.index")
    )
    assert set(listed) == ids
    empty = session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.action == "inbound.index")
    )
    assert list(empty) == [None]  # an empty list is one entry
