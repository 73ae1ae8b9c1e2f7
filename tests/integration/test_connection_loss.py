"""A database connection lost between or during requests: a clear 503 at most, never a broken next.

PostgreSQL closes a connection on a restart, a failover or an administrator's command; here a
second connection ends the hub's own with `pg_terminate_backend`, as PostgreSQL would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, create_engine, event, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from support import bearer, free_port

from mdph_bridge.extensions import TCP_SETTINGS, Backends, make_engine
from mdph_bridge.models import AuditPending
from mdph_bridge.services.driver import autocommitted

POLL = "/api/v1/inbound?cursor="


@pytest.fixture
def outside(app: Flask) -> Iterator[Engine]:
    """Connections of the test's own, outside the hub's pool."""
    engine = create_engine(app.config["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def control(outside: Engine) -> Iterator[Connection]:
    """A connection that ends the hub's connections, as PostgreSQL does on a restart."""
    with outside.connect() as conn:
        yield conn


_END = text(
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND (CAST(:pid AS integer) IS NULL OR pid = :pid)"
    " AND (NOT :waiting OR wait_event_type = 'Lock')"
)


def end_connections(control: Connection, pid: int | None = None, waiting: bool = False) -> int:
    """End the database's other connections (or `pid`, or those waiting on a lock); count them.

    Each is gone when this returns: PostgreSQL wrote its last words and closed the socket.
    """
    return int(control.execute(_END, {"pid": pid, "waiting": waiting}).scalar_one())


def assert_unavailable(response: Any) -> None:
    """The French 503 of a database that went away, with when to try again."""
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["erreurs"][0]["code"] == "service.indisponible"


def test_a_pooled_connection_the_server_closed_is_replaced_without_an_error(
    web: Flask, demo: dict[str, Any], control: Connection
) -> None:
    client, headers = web.test_client(), bearer(demo["59"]["jetons"]["receiver"])
    assert client.get(POLL, headers=headers).status_code == 200
    assert end_connections(control) >= 1  # the hub's pooled connections, idle between requests

    assert client.get(POLL, headers=headers).status_code == 200


def test_a_connection_lost_mid_request_answers_503_and_the_next_request_succeeds(
    web: Flask, demo: dict[str, Any], outside: Engine, control: Connection
) -> None:
    client, headers = web.test_client(), bearer(demo["59"]["jetons"]["receiver"])
    answers: list[Any] = []
    with outside.connect() as locker:
        locker.execute(text("BEGIN"))
        locker.execute(text("LOCK TABLE transfers IN ACCESS EXCLUSIVE MODE"))  # the poll waits
        polling = threading.Thread(target=lambda: answers.append(client.get(POLL, headers=headers)))
        polling.start()
        while not end_connections(control, waiting=True):
            assert polling.is_alive()
            time.sleep(0.01)
        polling.join()
        locker.execute(text("ROLLBACK"))

    assert_unavailable(answers[0])
    assert client.get(POLL, headers=headers).status_code == 200
    with Session(outside) as session:  # the lost call is in the audit log, with what it got
        outcomes = session.scalars(select(AuditPending.outcome).order_by(AuditPending.id))
        assert outcomes.all()[-1:] == ["503"]


def test_a_session_kept_across_requests_recovers_after_its_connection_is_lost(
    client: FlaskClient, backends: Backends, demo: dict[str, Any], control: Connection
) -> None:
    """As in a worker thread whose session outlives one call, the session keeps a transaction."""
    headers = bearer(demo["59"]["jetons"]["receiver"])
    session: Session = backends.sessions()
    session.execute(select(1))  # the session's connection, in a transaction, as after a call
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert end_connections(control, pid) == 1

    assert_unavailable(client.get(POLL, headers=headers))
    assert client.get(POLL, headers=headers).status_code == 200


def test_connections_give_up_a_silent_network_path_within_a_minute(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        settings = conn.connection.driver_connection.info.get_parameters()
    engine.dispose()
    assert {name: settings.get(name) for name in TCP_SETTINGS} == {
        "keepalives": "1",
        "keepalives_idle": "30",
        "keepalives_interval": "10",
        "keepalives_count": "3",
        "tcp_user_timeout": "60000",
    }
    # What the URL sets itself is kept.
    engine = make_engine(f"{database_url}?keepalives_idle=7")
    with engine.connect() as conn:
        settings = conn.connection.driver_connection.info.get_parameters()
    engine.dispose()
    assert settings["keepalives_idle"] == "7"
    assert settings["tcp_user_timeout"] == "60000"


def test_connections_read_instants_in_utc_whatever_the_servers_zone(database_url: str) -> None:
    """Instants come back with Python's own UTC (no offset lookup per value, e.g. for a page's
    levels), also when the database's TimeZone is another one (Etc/UTC, Europe/Paris)."""
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    name = make_url(database_url).database
    with admin.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE {name} SET TimeZone = 'Europe/Paris'")
    try:
        engine = make_engine(database_url)
        with engine.connect() as conn:
            zone = conn.exec_driver_sql("SHOW TimeZone").scalar_one()
            instant = conn.exec_driver_sql("SELECT now()").scalar_one()
        engine.dispose()
        assert zone == "UTC"
        assert instant.tzinfo is UTC
        # What the URL sets itself is kept.
        engine = make_engine(f"{database_url}?options=-c%20TimeZone%3DEurope/Paris")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW TimeZone").scalar_one() == "Europe/Paris"
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {name} RESET TimeZone")
        admin.dispose()


def test_statements_on_the_driver_meet_a_database_out_of_reach_as_sqlalchemy_does() -> None:
    """What runs on psycopg itself (the worker's claim and `ready`, a refusal's audit entry)
    raises SQLAlchemy's `OperationalError` when no connection can be made: a 503, a retry."""
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        with pytest.raises(OperationalError):
            autocommitted(engine, "SELECT 1", {})
    finally:
        engine.dispose()


def test_a_connection_lost_under_the_driver_is_invalidated_and_the_next_statement_succeeds(
    backends: Backends,
) -> None:
    """Lost in the middle of a statement on the driver (the worker's `ready`): SQLAlchemy's
    `OperationalError`, saying the connection was invalidated, and the pool drops it."""
    engine = backends.engine
    invalidated: list[BaseException | None] = []
    event.listen(engine, "invalidate", lambda _conn, _record, exc: invalidated.append(exc))
    # The server ends the statement's own connection while it runs (the sleep checks for it).
    lost_mid_statement = "SELECT pg_terminate_backend(pg_backend_pid()), pg_sleep(5)"
    with pytest.raises(OperationalError) as lost:
        autocommitted(engine, lost_mid_statement, {})
    assert lost.value.connection_invalidated
    assert len(invalidated) == 1

    assert autocommitted(engine, "SELECT 1", {}) == [(1,)]
