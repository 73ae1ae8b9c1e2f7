"""The audit log on real PostgreSQL: API calls recorded with their change, one chain sealed from
concurrent writers, tampering detected against signed checkpoints, purge by the rules only."""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from audit_tampering import CASES, tamper
from dossiers import PDF, dossier, multipart, submit
from flask import Flask, current_app
from flask.testing import FlaskClient
from flows import run
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DataError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session
from support import bearer, sent_statements

from mdph_bridge.domain.checkpoints import link, open_note
from mdph_bridge.domain.signing import HubSigner
from mdph_bridge.extensions import Backends, make_engine
from mdph_bridge.http import identity
from mdph_bridge.models import AuditCheckpoint, AuditEntry, AuditPending, Transfer, utcnow
from mdph_bridge.services import audit
from mdph_bridge.services.audit import (
    ANONYMOUS,
    FIELDS,
    SYSTEM,
    Actor,
    Call,
    latest_checkpoint,
    leaf_hash,
    publics_of,
    purge,
    record,
    record_call,
    seal,
    seal_all,
    verify,
)

pytestmark = pytest.mark.integration
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def signer() -> HubSigner:
    """The test hub's signing keys (the `session` fixture runs in its app context)."""
    return current_app.config["SIGNER"]


def chain(session: Session, count: int, start: datetime = T0, seal: bool = True) -> None:
    """Record `count` entries a minute apart from `start`, then seal them."""
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
    if seal:
        seal_all(session, signer())


def sql(session: Session, statement: str, **params: str) -> None:
    """Tamper as the database's owner could: first disable the append-only trigger."""
    session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_guard"))
    for part in statement.split(";"):
        session.execute(text(part), params)
    session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_guard"))
    session.commit()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET outcome = '500' WHERE seq = 2",
        "DELETE FROM audit_entries",  # young entries: whatever the session sets
        "SET LOCAL mdph.audit_purge = 'on'; DELETE FROM audit_entries",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_pending SET outcome = '500'",
    ],
)
def test_postgresql_refuses_to_change_or_delete_entries(session: Session, statement: str) -> None:
    chain(session, 3, start=utcnow() - timedelta(days=91))
    record(session, SYSTEM, "x", "y")
    session.commit()
    *setup, refused = statement.split(";")
    for part in setup:
        session.execute(text(part))
    with pytest.raises(ProgrammingError, match="append-only"):
        session.execute(text(refused))
    session.rollback()
    assert verify(session, publics_of(signer())).checked == 3


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
    wrong = bearer("mdphb_" + "x" * 43)
    assert client.get(f"/api/v1/inbound/{transfer_id}", headers=wrong).status_code == 401
    assert session.scalar(select(func.count()).select_from(AuditPending))  # not sealed yet
    seal_all(session, signer())

    rows = [
        (e.role, e.departement, e.action, e.object_type, e.object_id, e.outcome)
        for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
        if e.action.startswith(("transfers.", "inbound.", "transfer."))
    ]
    tid = str(transfer_id)
    assert rows == [
        # Committed with the transfer itself, before the answer's code exists.
        ("caseworker", "59", "transfers.create", "transfer", tid, "ok"),
        (None, None, "transfer.process", "transfer", tid, "ready"),  # the worker, as "systeme"
        ("receiver", "62", "inbound.index", "transfer", tid, "200"),  # one entry per listed
        ("receiver", "62", "inbound.package", "package", tid, "ok"),  # with the first download
        ("receiver", "62", "inbound.package:head", "package", tid, "200"),
        ("receiver", "80", "inbound.detail", "transfer", tid, "404"),
        ("caseworker", "62", "inbound.detail", "transfer", tid, "403"),
        (None, None, "inbound.detail", "transfer", tid, "401"),  # as "anonyme"
    ]
    refusals = session.scalars(select(AuditEntry).where(AuditEntry.outcome.in_(["401", "404"])))
    clients = {e.client for e in refusals}
    assert len(clients) == 1
    assert clients.pop() not in ("127.0.0.1", None)  # a keyed hash of the address
    package_entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "inbound.package"))
    token_ids = {str(row.id) for row in session.execute(text("SELECT id FROM api_tokens"))}
    assert package_entry.actor in token_ids  # the token's id, never a label or a name
    assert verify(session, publics_of(signer())).ok


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
    seal_all(session, signer())
    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.seq for e in entries] == list(range(1, threads * per_thread + 1))
    assert len({e.prev_hash for e in entries}) == len(entries)  # no two entries share a parent
    assert verify(session, publics_of(signer())).ok


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
    fields = {name: getattr(entry, name) for name in FIELDS} | {"outcome": "404"}
    forged = link(entry.prev_hash, leaf_hash(fields))
    sql(session, "UPDATE audit_entries SET outcome = '404', hash = :h WHERE seq = 3", h=forged)
    result = verify(session)
    assert result.bad_seq == 4
    assert result.problem.startswith("ne suit pas")


@pytest.mark.parametrize("case", CASES)
def test_tampering_is_caught_against_a_kept_checkpoint_on_postgresql(
    session: Session, case: str, tmp_path: Path, cli: Any
) -> None:
    start = utcnow() - timedelta(hours=1)
    chain(session, 6, start)
    chain(session, 4, start + timedelta(minutes=6))
    kept = tmp_path / "point.txt"
    kept.write_text(cli("audit", "checkpoint"))
    assert "1 point(s) de contrôle fourni(s) couvert(s)" in cli(
        "audit", "verify", "--checkpoint", str(kept)
    )
    tamper(session, case)
    out = cli("audit", "verify", "--checkpoint", str(kept), status=1)
    assert "Journal d'audit altéré" in out


def test_a_stored_checkpoint_alone_catches_a_tail_cut(session: Session) -> None:
    chain(session, 10, utcnow())
    sql(session, "DELETE FROM audit_entries WHERE seq > 7")
    sql(
        session,
        "UPDATE audit_chain SET last_seq = 7,"
        " last_hash = (SELECT hash FROM audit_entries WHERE seq = 7)",
    )
    result = verify(session, publics_of(signer()))
    assert result.problem.startswith("journal raccourci")
    assert not verify(session).problem  # without the hub's keys, the stored checkpoint is unused


def test_purge_keeps_recent_entries_and_a_verifiable_chain(session: Session) -> None:
    chain(session, 10)  # one entry a minute from T0
    before = latest_checkpoint(session).note
    deleted = purge(session, signer(), T0 + timedelta(minutes=4), now=T0 + timedelta(days=400))
    assert deleted == 4
    seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert seqs == [5, 6, 7, 8, 9, 10, 11]  # 11: the purge itself
    assert session.get(AuditEntry, 11).action == "audit.purge"
    publics = publics_of(signer())
    assert open_note(latest_checkpoint(session).note, publics).anchor_size == 4
    assert verify(session, publics, (open_note(before, publics),)).ok  # still covered
    assert purge(session, signer(), T0 + timedelta(minutes=4)) == 0
    sql(session, "DELETE FROM audit_entries WHERE seq = 5")  # deleting the first kept one shows
    assert verify(session, publics).bad_seq == 5


def test_purge_refuses_entries_younger_than_the_legal_minimum(session: Session) -> None:
    chain(session, 3, utcnow() - timedelta(days=10))
    with pytest.raises(ValueError, match="92"):
        purge(session, signer(), utcnow())
    session.rollback()
    assert verify(session, publics_of(signer())).checked == 3


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
    assert "mdph-bridge/audit\n6\n" in cli("audit", "checkpoint")


def test_admin_operations_on_keys_and_tokens_are_recorded(cli: Any, session: Session) -> None:
    cli("departements", "add", "80", "Somme")
    token_id = cli("tokens", "issue", "80", "receiver").split("\t")[0]
    cli("tokens", "list", "80")
    cli("tokens", "revoke", token_id)
    cli("keys", "list", "80")
    seal_all(session, signer())
    actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert actions == ["token.issue", "token.list", "token.revoke", "key.list"]
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 4
    assert session.scalar(select(AuditEntry.object_id).where(AuditEntry.seq == 1)) == token_id
    record(session, SYSTEM, "x", "y")
    session.commit()
    seal_all(session, signer())
    assert verify(session, publics_of(signer())).ok


def test_cli_purge_follows_the_configured_retention(
    cli: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain(session, 6)  # January 2026, more than 92 days before today
    monkeypatch.setenv("MDPH_BRIDGE_AUDIT_RETENTION_DAYS", "92")
    assert "6 entrée(s) de plus de 92 jours supprimée(s)" in cli("audit", "purge")
    assert "1 entrée(s) vérifiée(s)" in cli("audit", "verify")  # the purge's own entry
    assert session.scalar(select(func.count()).select_from(AuditPending)) == 0


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
    seal_all(session, signer())
    listed = session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.action == "transfers.index")
    )
    assert set(listed) == ids
    empty = session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.action == "inbound.index")
    )
    assert list(empty) == []  # an empty list shows nothing: no entry


def _post(client: FlaskClient, token: str) -> Any:
    files = {"piece_identite.pdf": PDF}
    return client.post("/api/v1/transfers", **multipart(dossier(), files), headers=bearer(token))


_REFUSE_CREATED = """
CREATE FUNCTION test_refuse_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.action = 'transfers.create' AND NEW.outcome = 'ok' THEN
        RAISE EXCEPTION 'entry refused by the test';
    END IF;
    RETURN NEW;
END $$"""
_REFUSE_CREATED_TRIGGER = (
    "CREATE TRIGGER test_refuse_created BEFORE INSERT ON audit_pending"
    " FOR EACH ROW EXECUTE FUNCTION test_refuse_created()"
)


def test_a_change_and_its_entry_are_both_there_or_both_absent(
    client: FlaskClient, demo: dict[str, Any], backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    # The process dies as soon as the view has answered: the change is kept with its entry.
    monkeypatch.setattr(identity, "audit_call", lambda *_: sys.exit(9))
    with pytest.raises(SystemExit):
        _post(client, token)
    monkeypatch.undo()
    # The database refuses the change's entry after the transfer's row was written by the same
    # statement (committed alone, in autocommit): neither the transfer nor its entry is there.
    with backends.engine.begin() as conn:
        conn.execute(text(_REFUSE_CREATED))
        conn.execute(text(_REFUSE_CREATED_TRIGGER))
    try:
        with sent_statements() as sent:
            assert _post(client, token).status_code >= 500
    finally:
        with backends.engine.begin() as conn:
            conn.execute(text("DROP FUNCTION test_refuse_created CASCADE"))
    (lost,) = [str(s.params["id"]) for s in sent if "INSERT INTO transfers " in s.sql]  # a CTE
    db = backends.sessions()
    transfers = set(db.scalars(select(Transfer.id)))
    created = db.scalars(
        select(AuditPending.object_id).where(
            AuditPending.action == "transfers.create", AuditPending.outcome == "ok"
        )
    ).all()
    assert len(transfers) == 1
    assert created == [str(transfers.pop())]
    named = db.scalars(select(AuditPending.object_id)).all()
    assert lost not in named  # the failed call's entry (500) names no lost transfer


def test_the_sequencer_seals_the_oldest_pending_entries_first_batch_by_batch(
    session: Session,
) -> None:
    for i in range(7):
        record(session, SYSTEM, "maintenance.sweep", "transfer", i)
        session.commit()
    assert seal(session, signer(), limit=3) == 3
    left = session.scalars(select(AuditPending.object_id).order_by(AuditPending.id)).all()
    assert left == ["3", "4", "5", "6"]  # the three oldest were taken, the others wait
    assert seal_all(session, signer()) == 4
    sealed = session.scalars(select(AuditEntry.object_id).order_by(AuditEntry.seq)).all()
    assert sealed == [str(i) for i in range(7)]
    assert verify(session, publics_of(signer())).ok


def test_a_round_seals_what_was_pending_and_leaves_later_entries_to_the_next(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        record(session, SYSTEM, "maintenance.sweep", "transfer", i)
    session.commit()
    engine = make_engine(database_url)
    sealed_once = audit.seal

    def seal_while_a_call_records(*args: Any) -> int:
        count = sealed_once(*args)
        with Session(engine) as other:  # a call commits its entry while the round seals
            record(other, SYSTEM, "maintenance.sweep", "transfer", 9)
            other.commit()
        return count

    monkeypatch.setattr(audit, "seal", seal_while_a_call_records)
    checkpoints = session.scalar(select(func.count()).select_from(AuditCheckpoint))
    assert seal_all(session, signer()) == 3  # one checkpoint, not one more for the late entry
    assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == checkpoints + 1
    assert session.scalars(select(AuditPending.object_id)).all() == ["9"]
    engine.dispose()


def test_a_round_goes_on_while_its_batches_are_full(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        record(session, SYSTEM, "maintenance.sweep", "transfer", i)
    session.commit()
    monkeypatch.setattr(audit, "BATCH", 2)
    assert seal_all(session, signer()) == 5  # batches of 2, 2 and 1
    assert session.scalar(select(func.count()).select_from(AuditPending)) == 0


def spy_entries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, bool | None]]:
    """Whether each audit insert the driver runs is autocommitted, and prepared at once."""
    seen: list[tuple[bool, bool | None]] = []
    execute = psycopg.Cursor.execute

    def spying(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if str(query).startswith("INSERT INTO audit_pending"):
            seen.append((cursor.connection.autocommit, kwargs.get("prepare")))
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spying)
    return seen


def test_a_refusal_is_written_alone_and_leaves_no_autocommit_behind(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(database_url)
    db = Session(engine)
    db.execute(text("SELECT 1"))  # a view had begun a transaction
    seen = spy_entries(monkeypatch)
    call = Call(ANONYMOUS, "inbound.index", "transfer")
    record_call(db, call, "401", [None], client="abc", keep_work=False)
    # One statement, no BEGIN or COMMIT around it, prepared from its first use.
    assert seen == [(True, True)]
    backend = db.scalar(text("SELECT pg_backend_pid()"))
    # The pool's one connection is transactional again: a rolled-back write leaves nothing.
    record(db, SYSTEM, "maintenance.sweep", "transfer", 1)
    assert db.scalar(text("SELECT pg_backend_pid()")) == backend
    db.rollback()
    assert [autocommit for autocommit, _ in seen] == [True, False]
    outcomes = session.scalars(select(AuditPending.outcome)).all()
    assert outcomes == ["401"]
    db.close()
    engine.dispose()


def test_a_refusal_whose_entry_fails_raises_as_sqlalchemy_and_leaves_no_autocommit_behind(
    session: Session, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(database_url)
    db = Session(engine)
    backend = db.scalar(text("SELECT pg_backend_pid()"))
    db.rollback()
    seen = spy_entries(monkeypatch)
    call = Call(Actor("x" * 65), "inbound.index", "transfer")  # longer than the column
    with pytest.raises(DataError) as failed:
        record_call(db, call, "401", [None], client="abc", keep_work=False)
    assert "x" * 65 not in str(failed.value)  # parameters are not written in errors (logs)
    record(db, SYSTEM, "maintenance.sweep", "transfer", 1)  # the same connection, transactional
    assert db.scalar(text("SELECT pg_backend_pid()")) == backend
    db.rollback()
    assert [autocommit for autocommit, _ in seen] == [True, False]
    assert session.scalar(select(func.count()).select_from(AuditPending)) == 0
    db.close()
    engine.dispose()


def test_a_refusal_whose_connection_is_lost_raises_as_sqlalchemy_and_the_next_one_is_written(
    session: Session, database_url: str
) -> None:
    engine = make_engine(database_url)
    db = Session(engine)
    lost: list[BaseException] = []
    call = Call(ANONYMOUS, "inbound.index", "transfer")

    def refuse() -> None:
        try:
            record_call(db, call, "401", [None], client="abc", keep_work=False)
        except OperationalError as exc:
            lost.append(exc)

    outside = make_engine(database_url)
    with outside.connect() as locker, outside.connect() as control:
        locker.execute(text("LOCK TABLE audit_pending IN ACCESS EXCLUSIVE MODE"))
        refusing = threading.Thread(target=refuse)
        refusing.start()
        ended = 0
        while not ended:  # the entry's statement waits on the lock: end its connection
            assert refusing.is_alive()
            control.rollback()  # a transaction sees one snapshot of pg_stat_activity
            ended = control.scalar(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))"
                    " FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                )
            )
            time.sleep(0.01)
        refusing.join()
        locker.rollback()
    outside.dispose()
    # What a dead database gives the call: SQLAlchemy's OperationalError, hence the 503.
    assert len(lost) == 1
    assert isinstance(lost[0], OperationalError)
    assert lost[0].connection_invalidated
    record_call(db, call, "429", [None], client="abc", keep_work=False)  # a new connection
    assert session.scalars(select(AuditPending.outcome)).all() == ["429"]
    db.close()
    engine.dispose()


def test_a_call_names_its_objects_as_text_whatever_their_kind(session: Session) -> None:
    transfer = uuid.uuid4()
    call = Call(Actor("t", "receiver", "62"), "inbound.index", "transfer")
    record_call(session, call, "200", [transfer, 7, None, "code-59"])
    named = session.scalars(select(AuditPending.object_id).order_by(AuditPending.id)).all()
    assert named == [str(transfer), "7", None, "code-59"]


@pytest.mark.parametrize("keep_work", [True, False])
def test_a_call_names_its_one_object_as_text_whatever_its_kind(
    session: Session, keep_work: bool
) -> None:
    transfer = uuid.uuid4()
    call = Call(Actor("t", "receiver", "62"), "inbound.detail", "transfer")
    for one in (transfer, 7, None, "code-59"):
        record_call(session, call, "200" if keep_work else "404", [one], keep_work=keep_work)
    named = session.scalars(select(AuditPending.object_id).order_by(AuditPending.id)).all()
    assert named == [str(transfer), "7", None, "code-59"]


def test_one_object_s_entry_goes_by_its_values_and_a_list_s_by_one_json_text(
    session: Session,
) -> None:
    sent: list[str] = []
    bind = session.get_bind()

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(bind, "before_cursor_execute", seen)
    call = Call(Actor("t", "receiver", "62"), "inbound.detail", "transfer")
    try:
        record_call(session, call, "200", [uuid.uuid4()])
        record_call(session, call, "200", [uuid.uuid4(), uuid.uuid4()])
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    inserts = [sql for sql in sent if "INTO audit_pending" in sql]
    assert ["VALUES (" in sql for sql in inserts] == [True, False]
