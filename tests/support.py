"""Shared test helpers: where the real PostgreSQL and Redis are, and throwaway hub settings."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg.errors import DeadlockDetected
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from mdph_bridge.domain.manifest import receipt
from mdph_bridge.domain.sealing import generate_staging_key
from mdph_bridge.domain.signing import digest, generate_hub_key, sign
from mdph_bridge.keyfiles import read_secret
from mdph_bridge.models import Base

PG_URL = os.environ.get("MDPH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("MDPH_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def hub_settings(var_dir: Path, database_url: str, broker_url: str) -> dict[str, Any]:
    """Settings of a hub instance used by a test, all state under `var_dir`."""
    return {
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "STORAGE_DIR": str(var_dir / "blobs"),
        "SECRET_KEY": "test-secret",
        "STAGING_KEYS": generate_staging_key("test-staging"),
        "SIGNING_KEYS": generate_hub_key("test-hub"),
    }


# The settings that make two app instances the same hub (database, broker, storage, keys).
HUB_SETTINGS = (
    "VAR_DIR",
    "DATABASE_URL",
    "BROKER_URL",
    "STORAGE_DIR",
    "SECRET_KEY",
    "STAGING_KEYS",
    "SIGNING_KEYS",
)


def same_hub(config: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """The settings of the hub `config` belongs to, with `changes` applied."""
    return {name: config[name] for name in HUB_SETTINGS} | changes


def create_database(name: str) -> str:
    """(Re)create an empty PostgreSQL database and return its URL."""
    admin = create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG_URL}/{name}"


def drop_database(name: str) -> None:
    """Drop a test database."""
    admin = create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def bearer(token: str) -> dict[str, str]:
    """Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


def files_under(root: Path) -> list[Path]:
    """Every file below `root` (blobs, including partial ones).

    `os.walk` skips a folder that a live worker (the orphan sweeper) removes during the walk,
    where `Path.rglob` would raise.
    """
    return sorted(Path(folder) / name for folder, _, names in os.walk(root) for name in names)


def signed_receipt(
    manifest: dict[str, Any], key: dict[str, str], at: datetime | None = None
) -> dict[str, Any]:
    """Sign a receipt of `manifest` with a demo signing key (`demo[code]["cles"]["signing"]`)."""
    body = receipt(
        manifest["manifeste"]["transfert"], digest(manifest["manifeste"]), at or datetime.now(UTC)
    )
    secret = read_secret(Path(key["identity_file"]))
    return {"recu": body, "cle": key["id"], "signature": sign(secret, body)}


AGENT_PASSWORD = "Tournesol-Viaduc-84-Quartz!"  # noqa: S105 - test accounts only
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF.search(html)
    assert match is not None, "no form with a CSRF token on this page"
    return match.group(1)


def sign_in(client: Any, login: str, password: str = AGENT_PASSWORD) -> str:
    """Sign in through the sign-in page; return the CSRF token of the new session."""
    token = csrf_token(client.get("/connexion").text)
    response = client.post(
        "/connexion", data={"identifiant": login, "mot_de_passe": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return csrf_token(client.get("/", follow_redirects=True).text)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server that accepts every connection and never answers, as a hung broker does:
    its port and the connections it accepted (closed at the end, which ends any wait on them)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # the server closed
            while True:
                accepted.append(server.accept()[0])

    accepting = threading.Thread(target=accept, daemon=True)
    accepting.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.shutdown(socket.SHUT_RDWR)  # wakes the `accept` (a bare close would not, on Linux)
        server.close()
        accepting.join()
        for connection in accepted:
            connection.close()


@dataclass(frozen=True)
class Sent:
    """A statement psycopg sent, as its cursor was asked to."""

    sql: str
    autocommit: bool
    prepare: bool | None
    params: Any = None


@contextlib.contextmanager
def sent_statements() -> Iterator[list[Sent]]:
    """Every statement psycopg's cursors send meanwhile, whichever layer asked (SQLAlchemy's
    execution, the driver's own): engine events see only the first."""
    sent: list[Sent] = []
    real = psycopg.Cursor.execute

    def execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sql = query if isinstance(query, str) else bytes(query).decode()
        params = args[0] if args else kwargs.get("params")
        sent.append(Sent(sql, self.connection.autocommit, kwargs.get("prepare"), params))
        return real(self, query, *args, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = real  # type: ignore[method-assign]


@contextlib.contextmanager
def failing_statement(
    marker: str, error: psycopg.Error, after: bool = False
) -> Iterator[list[str]]:
    """psycopg raises `error` for the first statement containing `marker`, before sending it or,
    with `after`, once the server has run it, the connection then lost with the answer; yields
    the statements failed."""
    failed: list[str] = []
    real = psycopg.Cursor.execute

    def execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sql = query if isinstance(query, str) else bytes(query).decode()
        if failed or marker not in sql:
            return real(self, query, *args, **kwargs)
        failed.append(sql)
        if after:
            real(self, query, *args, **kwargs)
            self.connection.close()
        raise error

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    try:
        yield failed
    finally:
        psycopg.Cursor.execute = real  # type: ignore[method-assign]


def redis_values(store: redis.Redis) -> list[bytes]:
    """Every key and value in clear (lists, hashes, sets, strings), message bodies decoded."""
    values: list[bytes] = []
    for key in store.scan_iter(count=1000):
        kind = store.type(key)
        if kind == b"list":
            items = store.lrange(key, 0, -1)
        elif kind == b"hash":
            items = [*store.hkeys(key), *store.hvals(key)]
        elif kind in (b"set", b"zset"):
            items = list(store.smembers(key)) if kind == b"set" else store.zrange(key, 0, -1)
        else:
            items = [store.get(key) or b""]
        values.append(key)
        for item in items:
            values.append(item)
            with contextlib.suppress(ValueError, KeyError, TypeError):
                values.append(base64.b64decode(json.loads(item)["body"]))  # kombu messages
    return values


def empty_tables(engine: Engine) -> None:
    """Empty every table, though a live worker may still be finishing one of the test's transfers.

    Its transaction locks the tables it writes one by one, as TRUNCATE does in another order:
    PostgreSQL may end the deadlock by cancelling the TRUNCATE, which then goes again once the
    worker's commit went through (a bounded number of times).
    """
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        except OperationalError as exc:
            if not isinstance(exc.orig, DeadlockDetected) or attempt == 4:
                raise
        else:
            return


def evals_through_a_client(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The EVAL commands sent through a redis-py client from now on (a script sent on a kept
    connection is not one of them)."""
    sent: list[object] = []
    command = redis.Redis.execute_command

    def watched(client: redis.Redis, *args: object, **options: object) -> object:
        if args[0] == "EVAL":
            sent.append(args)
        return command(client, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", watched)
    return sent
