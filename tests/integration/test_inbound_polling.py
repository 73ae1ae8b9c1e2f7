"""Inbound polling that scales: a page costs the same statements at any size, an empty one none."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from flows import ready
from histories import NOW, add_transfer
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from support import bearer, evals_through_a_client, hub_settings

from mdph_bridge import create_app
from mdph_bridge.api import inbound
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.http import presenters
from mdph_bridge.models import AuditPending, Transfer, utcnow
from mdph_bridge.services import receiving
from mdph_bridge.services.watermarks import Watermarks
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


def statements(call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """What `call` returns, and every SQL statement it sent, through SQLAlchemy or the driver."""
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def spying(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return execute(cursor, query, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(psycopg.Cursor, "execute", spying)
        return call(), sent


def poll(client: FlaskClient, token: str, query: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/inbound{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def settled(client: FlaskClient, demo: dict[str, Any], session: Session) -> tuple[str, int]:
    """62's receiver token once its one-off writes are done, and the audit entries so far."""
    token = demo["62"]["jetons"]["receiver"]
    poll(client, token, "?limit=1")  # the token's first use is written once a minute
    poll(client, token, "?limit=1")  # the destination's watermark is read once into Redis
    entries = session.scalar(select(func.count()).select_from(AuditPending)) or 0
    session.commit()
    return token, entries


def test_a_page_of_a_hundred_sends_the_statements_of_a_page_of_one(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 100)
    token, entries = settled(client, demo, session)

    one, for_one = statements(lambda: poll(client, token, "?limit=1"))
    hundred, for_hundred = statements(lambda: poll(client, token, "?limit=100"))

    assert len(one["transferts"]) == 1
    assert len(hundred["transferts"]) == 100
    assert hundred["transferts"][99]["paquet"]["sha256"] == "0" * 64
    assert len(for_hundred) == len(for_one)  # no statement per transfer listed
    # Each transfer listed is still recorded, all in one statement.
    assert session.scalar(select(func.count()).select_from(AuditPending)) == entries + 101


def test_a_page_and_its_audit_entries_are_one_statement_without_begin_or_commit(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ready_for_62(session, 3)
    token, entries = settled(client, demo, session)
    autocommit: list[bool] = []
    execute = psycopg.Cursor.execute

    def spying(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        autocommit.append(cursor.connection.autocommit)
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spying)
    assert len(poll(client, token, "")["transferts"]) == 3
    monkeypatch.undo()

    # The page's read writes its entries: one statement, its own transaction, no round trip more.
    assert autocommit == [True]
    assert session.scalar(select(func.count()).select_from(AuditPending)) == entries + 3


def test_a_page_read_with_its_entries_records_what_record_call_would(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 1)
    # The first poll checks its token in the database, in a transaction: `record_call` writes
    # the entry after the read; the second, its token cached, reads and records in one statement.
    settled(client, demo, session)
    columns = [c for c in AuditPending.__table__.c if c.name not in ("id", "at")]
    first, second = session.execute(select(*columns).order_by(AuditPending.id)).all()[-2:]
    assert first == second
    assert first.outcome == "200"
    assert first.action == "inbound.index"


def test_a_page_that_fails_after_its_read_records_the_failure_too(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ready_for_62(session, 2)
    token, entries = settled(client, demo, session)

    def broken(_page: Any) -> Any:
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(inbound, "page_json", broken)
    assert client.get("/api/v1/inbound", headers=bearer(token)).status_code == 500
    outcomes = session.scalars(select(AuditPending.outcome).order_by(AuditPending.id)).all()
    # The two transfers were read for the caller (written with the read), then the call failed
    # (its outcome for each transfer it had read): both are said.
    assert outcomes[entries:] == ["200", "200", "500", "500"]


def test_the_caught_up_poll_reads_no_table_and_leaves_no_audit_entry(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 3)
    token = demo["62"]["jetons"]["receiver"]
    cursor = poll(client, token, "")["cursor"]
    entries = session.scalar(select(func.count()).select_from(AuditPending))
    session.commit()

    first, read_through = statements(lambda: poll(client, token, f"?cursor={cursor}"))
    body, sent = statements(lambda: poll(client, token, f"?cursor={cursor}"))

    assert first == body == {"transferts": [], "cursor": cursor}
    # The token was checked a moment ago and Redis has 62's last position: no database at all.
    assert sent == []
    # The first time, the position was read from the index, and no page, nor token, nor audit.
    assert len(read_through) == 1
    assert "max(transfers.inbound_seq)" in read_through[0]
    assert session.scalar(select(func.count()).select_from(AuditPending)) == entries


def test_a_page_is_what_the_schema_dumps_for_the_same_transfers(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 6)
    transfers = session.scalars(select(Transfer).order_by(Transfer.inbound_seq))
    first, returned, medical, at_risk, on_time, bare = transfers
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
    first.package_key_ids = ['clé "62"']  # stored escaped: not written as stored
    returned.state, returned.return_reason = State.RETURNED.value, {"code": "r", "texte": "t"}
    returned.numero_dossier_destination = "62-2026-0001"
    medical.medical_package_key, medical.medical_package_size = "packages/m.age", 512
    medical.medical_package_sha256, medical.medical_package_key_ids = "1" * 64, ["cle-62"]
    # Microseconds with trailing zeros, or only one; text JSON must escape; levels other than late.
    soon, later = utcnow() + timedelta(days=1), utcnow() + timedelta(days=9)
    at_risk.warn_at = (utcnow() - timedelta(hours=1)).replace(microsecond=123400)
    at_risk.due_at = later
    at_risk.submitted_at = at_risk.submitted_at.replace(microsecond=1)
    at_risk.numero_dossier_origine = 'é"\\\t\x01/€\u2028'
    on_time.warn_at, on_time.due_at = soon.replace(microsecond=120000), later
    # A transfer with no date of readiness and an empty package key: null fields.
    bare.ready_at, bare.package_key = None, ""
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
    shown = expected["transferts"]
    assert [t["niveau"] for t in shown[2:5]] == ["en_retard", "a_risque", "dans_les_delais"]
    assert shown[3]["soumis_le"].endswith(".000001+00:00")
    assert shown[3]["a_risque_le"].endswith(".123400+00:00")
    assert shown[4]["a_risque_le"].endswith(".120000+00:00")
    assert shown[5]["pret_le"] is None
    assert shown[5]["paquet"] is None


def test_postgresql_and_python_write_a_page_alike(
    app: Flask, session: Session, demo: dict[str, Any]
) -> None:
    ready_for_62(session, 3)
    late, on_time, medical = session.scalars(select(Transfer).order_by(Transfer.inbound_seq))
    on_time.warn_at, on_time.due_at = utcnow() + timedelta(days=1), utcnow() + timedelta(days=2)
    on_time.submitted_at = on_time.submitted_at.replace(microsecond=10)
    late.warnings, late.return_reason = [{"code": "x"}], {"texte": "t", "code": "r"}
    late.harmonisation = {"version_rapport": 1, "resultats": {"maintenu": 1}}
    medical.state, medical.numero_dossier_destination = State.COMPLETED.value, "62-2026-9"
    medical.medical_package_key, medical.medical_package_size = "packages/m.age", 7
    medical.medical_package_sha256, medical.medical_package_key_ids = "2" * 64, ["a", "b\u00e9"]
    medical.package_key_ids = None
    session.commit()

    with app.test_request_context():
        links = presenters.written_links()
        written = receiving.page_rows(session, "62", 0, 100, links)
        listed = receiving.page_rows(session, "62", 0, 100)
        sql_page = receiving.InboundPage(written, "c", written=True)
        python_page = receiving.InboundPage(listed, "c")
        from_sql, from_python = inbound.page_json(sql_page), inbound.page_json(python_page)

    assert from_sql == from_python
    assert sql_page.ids == [str(t) for t in python_page.ids]
    assert b'"cles":["a","b\xc3\xa9"]' in from_sql


def test_a_page_read_with_its_entries_carries_only_the_columns_it_writes(
    app: Flask, session: Session
) -> None:
    with app.test_request_context():
        links = presenters.written_links()
    entries = dict.fromkeys(("audit_actor", "audit_role", "audit_action", "audit_object_type"), "x")
    entries |= {"audit_at": utcnow(), "audit_departement": "62"}
    values = {"dest": "62", "after": 0, "limit": 100, "dest_json": '"62"', **links, **entries}
    plan = session.connection().exec_driver_sql(
        f"EXPLAIN (VERBOSE) {receiving.WRITTEN_AND_LISTED}", values
    )
    read = set(re.findall(r"\btransfers\.(\w+)", "\n".join(row[0] for row in plan)))

    # The materialised page copies what the answer and its audit entries use (the columns the
    # Python path lists), not the signed manifest, the receipt nor the processing's bookkeeping.
    assert "manifest" in {column.name for column in Transfer.__table__.c}
    assert "id" in read
    assert read <= {column.key for column in receiving.LISTED}


def test_links_follow_the_prefix_the_hub_is_served_under(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 1)
    headers = bearer(demo["62"]["jetons"]["receiver"])

    def listed(base_url: str) -> dict[str, Any]:
        response = client.get("/api/v1/inbound", headers=headers, base_url=base_url)
        assert response.status_code == 200
        transfer: dict[str, Any] = response.get_json()["transferts"][0]
        return transfer

    plain = listed("http://localhost/")
    prefixed = listed("http://localhost/mdph/")
    again = listed("http://localhost/")

    assert prefixed["lien"] == f"/mdph{plain['lien']}" == f"/mdph/api/v1/inbound/{plain['id']}"
    assert prefixed["paquet"]["lien"] == f"/mdph{plain['paquet']['lien']}"
    assert again == plain


def test_the_token_check_and_the_caught_up_list_share_one_transaction(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    app.config["TOKEN_CACHE_SECONDS"] = 0  # as in a process that never saw the token
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


WATERMARK_62 = "mdph:inbound-seq:62"


def test_a_transfer_made_ready_is_listed_by_the_next_poll(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    redis_client: redis.Redis,
) -> None:
    token = demo["62"]["jetons"]["receiver"]
    cursor = poll(client, token, "")["cursor"]
    assert poll(client, token, f"?cursor={cursor}")["transferts"] == []  # answered from Redis

    transfer_id = ready(app, client, demo, backends)

    listed = poll(client, token, f"?cursor={cursor}")["transferts"]
    assert [t["id"] for t in listed] == [str(transfer_id)]
    # Redis holds a département's code and a number, nothing else of the transfer.
    assert redis_client.keys("mdph:*") == [WATERMARK_62.encode()]
    assert redis_client.get(WATERMARK_62) == b"1"


def test_the_watermark_is_raised_once_the_ready_transfer_is_committed(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ready` runs in autocommit: the position is raised after its commit, so another
    connection already sees the transfer at the position raised."""
    seen: list[tuple[int, str | None]] = []
    raise_to = Watermarks.raise_to

    def raise_seen_from_elsewhere(self: Watermarks, dest: str, seq: int) -> None:
        at_seq = (Transfer.dest_code == dest) & (Transfer.inbound_seq == seq)
        with backends.engine.connect() as other:
            seen.append((seq, other.scalar(select(Transfer.state).where(at_seq))))
        raise_to(self, dest, seq)

    monkeypatch.setattr(Watermarks, "raise_to", raise_seen_from_elsewhere)
    ready(app, client, demo, backends)

    assert seen == [(1, State.READY)]


def test_after_redis_is_emptied_the_poll_reads_the_position_from_postgresql(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    redis_client: redis.Redis,
) -> None:
    token = demo["62"]["jetons"]["receiver"]
    cursor = poll(client, token, "")["cursor"]
    poll(client, token, f"?cursor={cursor}")
    transfer_id = ready(app, client, demo, backends)

    redis_client.flushdb()  # a Redis restarted without its data

    listed = poll(client, token, f"?cursor={cursor}")["transferts"]
    assert [t["id"] for t in listed] == [str(transfer_id)]
    assert redis_client.get(WATERMARK_62) == b"1"


def test_a_lost_raise_delays_a_transfer_until_its_watermark_expires(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    redis_client: redis.Redis,
) -> None:
    token = demo["62"]["jetons"]["receiver"]
    cursor = poll(client, token, "")["cursor"]
    poll(client, token, f"?cursor={cursor}")  # 62's position, 0, mirrored in Redis
    ready_for_62(session, 1)  # made ready without raising the watermark: the raise was lost

    assert poll(client, token, f"?cursor={cursor}")["transferts"] == []
    # Delayed, not hidden: the stale position lives at most INBOUND_WATERMARK_SECONDS.
    assert 0 < redis_client.ttl(WATERMARK_62) <= app.config["INBOUND_WATERMARK_SECONDS"]
    redis_client.delete(WATERMARK_62)  # as the key expiring

    assert len(poll(client, token, f"?cursor={cursor}")["transferts"]) == 1


def test_a_raise_goes_on_a_connection_its_thread_keeps_and_outlives_its_loss(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker raises a watermark per transfer: one script on the connection its thread keeps,
    not a client's command (a pool checkout, a poll and a retry wrapper); one closed by Redis is
    opened again."""
    watermarks = app.extensions["mdph_bridge"].watermarks
    through_a_client = evals_through_a_client(monkeypatch)
    watermarks.raise_to("62", 5)
    assert through_a_client == []
    kept = watermarks.scripts._local.held.connection
    kept.send_command("CLIENT", "ID")
    redis_client.client_kill_filter(_id=kept.read_response())  # as a Redis restart would
    watermarks.raise_to("62", 7)
    watermarks.raise_to("62", 6)
    assert watermarks.scripts._local.held.connection is kept
    assert redis_client.get(WATERMARK_62) == b"7"


def test_a_watermark_ahead_of_the_database_only_costs_a_read(
    client: FlaskClient, demo: dict[str, Any], session: Session, redis_client: redis.Redis
) -> None:
    token = demo["62"]["jetons"]["receiver"]
    ready_for_62(session, 1)
    cursor = poll(client, token, "")["cursor"]
    redis_client.set(WATERMARK_62, 5)  # as after PostgreSQL was restored from a backup

    assert poll(client, token, f"?cursor={cursor}") == {"transferts": [], "cursor": cursor}


def test_a_blocked_client_polls_on_with_a_token_checked_a_moment_ago_but_guesses_stop(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    ready_for_62(session, 1)
    good, shared = bearer(demo["62"]["jetons"]["receiver"]), {"REMOTE_ADDR": "198.51.100.9"}
    cursor = client.get("/api/v1/inbound", headers=good, environ_base=shared).get_json()["cursor"]
    for _ in range(10):  # AUTH_FAILURE_LIMIT's default: 10/minute
        wrong = client.get("/api/v1/inbound", headers=bearer("mdphb_x"), environ_base=shared)
        assert wrong.status_code == 401

    guess = client.get("/api/v1/inbound", headers=bearer("mdphb_y"), environ_base=shared)
    polls = [
        statements(
            lambda: client.get(
                f"/api/v1/inbound?cursor={cursor}", headers=good, environ_base=shared
            ),
        )
        for _ in range(2)
    ]

    assert guess.status_code == 429
    assert 0 < int(guess.headers["Retry-After"]) <= 60
    assert [answer.get_json() for answer, _ in polls] == [{"transferts": [], "cursor": cursor}] * 2
    # The position still comes from Redis with the token's check: the caught-up poll reads none.
    assert polls[1][1] == []


def test_without_a_reachable_redis_every_poll_reads_postgresql(
    tmp_path: Path, database_url: str, demo: dict[str, Any], session: Session
) -> None:
    settings = hub_settings(tmp_path, database_url, "filesystem://")
    down = create_app(settings | {"RATELIMIT_STORAGE_URL": "redis://127.0.0.1:1/0"})
    client, token = down.test_client(), demo["62"]["jetons"]["receiver"]
    cursor = poll(client, token, "")["cursor"]
    ready_for_62(session, 1)

    for _ in range(2):
        assert len(poll(client, token, f"?cursor={cursor}")["transferts"]) == 1
    down.extensions["mdph_bridge"].engine.dispose()
