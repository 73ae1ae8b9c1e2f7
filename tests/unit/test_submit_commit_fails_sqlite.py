"""A submission whose COMMIT fails on the embedded SQLite database leaves nothing behind: no
row, no staged blob, no wake-up; the API answers with an error, never 202."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from dossiers import dossier, multipart
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, event, func, select

from mdph_bridge import create_app
from mdph_bridge.blobpaths import STAGING
from mdph_bridge.domain.sealing import generate_staging_key
from mdph_bridge.domain.signing import generate_hub_key
from mdph_bridge.extensions import Backends
from mdph_bridge.migrations import alembic_config
from mdph_bridge.models import AuditPending, Transfer, TransferDocument, TransferEvent
from mdph_bridge.services.admin import create_demo
from mdph_bridge.services.audit import CLI
from mdph_bridge.services.operations import queue_lengths
from mdph_bridge.services.queue import QUEUES

pytestmark = pytest.mark.unit
FILES = {
    "piece_identite.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
    "jugement.pdf": b"%PDF-1.4\n2 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The embedded mode as `make serve` runs it, with kombu's in-memory broker (a real one)."""
    url = f"sqlite:///{tmp_path}/hub.sqlite3"
    command.upgrade(alembic_config(url), "head")
    app = create_app(
        {
            "VAR_DIR": str(tmp_path),
            "DATABASE_URL": url,
            "BROKER_URL": "memory://",
            "STORAGE_DIR": str(tmp_path / "blobs"),
            "SECRET_KEY": "x",
            "STAGING_KEYS": generate_staging_key("s"),
            "SIGNING_KEYS": generate_hub_key("h"),
        }
    )
    yield app
    backends: Backends = app.extensions["mdph_bridge"]
    backends.sessions.remove()
    backends.engine.dispose()


@pytest.fixture
def caseworker(app: Flask, tmp_path: Path) -> str:
    """The API token of 59's caseworker (demo set-up: 59 and 62 with their keys)."""
    with app.app_context():
        backends: Backends = app.extensions["mdph_bridge"]
        token: str = create_demo(backends.sessions(), tmp_path / "keys")["59"]["jetons"][
            "caseworker"
        ]
        backends.sessions.remove()
    return token


def post(client: FlaskClient, token: str) -> Any:
    return client.post(
        "/api/v1/transfers",
        **multipart(dossier("59", "62", files=FILES), FILES),
        headers={"Authorization": f"Bearer {token}"},
    )


def blobs(app: Flask) -> list[str]:
    """Every blob file under the storage folder, relative to it (partial ones included)."""
    root = Path(app.config["STORAGE_DIR"])
    return sorted(
        str((Path(folder) / name).relative_to(root))
        for folder, _, names in os.walk(root)
        for name in names
    )


def counts(app: Flask) -> tuple[int, int, int]:
    """Transfers, documents and events in the database, read by a connection of its own."""
    backends: Backends = app.extensions["mdph_bridge"]
    with backends.engine.connect() as conn:
        return (
            conn.scalar(select(func.count()).select_from(Transfer)) or 0,
            conn.scalar(select(func.count()).select_from(TransferDocument)) or 0,
            conn.scalar(select(func.count()).select_from(TransferEvent)) or 0,
        )


def api_calls(app: Flask) -> list[tuple[str, str | None, str]]:
    """The API calls audited (not sealed yet: no sequencer runs here): action, object, outcome."""
    backends: Backends = app.extensions["mdph_bridge"]
    with backends.engine.connect() as conn:
        rows = conn.execute(
            select(AuditPending.action, AuditPending.object_id, AuditPending.outcome).where(
                AuditPending.actor != CLI.id
            )
        )
        return [(action, object_id, outcome) for action, object_id, outcome in rows]


def waiting(app: Flask) -> int:
    """Messages waiting in every queue: a wake-up sent to any of them counts."""
    backends: Backends = app.extensions["mdph_bridge"]
    lengths = queue_lengths(backends.celery)
    assert set(lengths) == set(QUEUES)  # the broker answered
    return sum(lengths.values())


def test_a_submission_whose_commit_fails_leaves_nothing_behind(
    app: Flask, caseworker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payload is staged before the commit; a failed one must take it away with the rows."""
    engine = app.extensions["mdph_bridge"].engine
    dialect = engine.dialect
    real_commit = dialect.do_commit
    staged_at_commit: list[list[str]] = []

    def note_insert(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO transfers "):
            conn.info["creates a transfer"] = True

    def failing_commit(dbapi_connection: Any) -> None:
        # Only the transaction that creates the transfer (the request commits earlier ones) gets
        # what SQLite answers a COMMIT on a failing disk; SQLAlchemy wraps it as it would.
        if dbapi_connection.info.pop("creates a transfer", False):
            staged_at_commit.append([b for b in blobs(app) if b.startswith(f"{STAGING}/")])
            raise sqlite3.OperationalError("disk I/O error")
        real_commit(dbapi_connection)

    before = waiting(app)
    event.listen(engine, "before_cursor_execute", note_insert)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(dialect, "do_commit", failing_commit)
            response = post(app.test_client(), caseworker)
    finally:
        event.remove(engine, "before_cursor_execute", note_insert)

    assert response.status_code == 503, response.get_json()
    assert response.get_json()["erreurs"][0]["code"] == "service.indisponible"
    # The failure came at the submission's COMMIT, with both documents staged (the dossier is
    # in the row).
    assert len(staged_at_commit) == 1
    (staged,) = staged_at_commit
    transfer_id = staged[0].removeprefix(f"{STAGING}/").split(".")[0]
    assert staged == [f"{STAGING}/{transfer_id}.{n}" for n in ("piece-0", "piece-1")]
    assert counts(app) == (0, 0, 0)
    assert blobs(app) == []  # neither staged blobs nor the uploads they were moved from
    assert waiting(app) == before
    assert api_calls(app) == [("transfers.create", None, "503")]  # names no transfer


def test_the_same_submission_is_kept_and_announced_when_its_commit_succeeds(
    app: Flask, caseworker: str
) -> None:
    """The control: what the failed commit must not leave is there after a successful one."""
    before = waiting(app)
    response = post(app.test_client(), caseworker)
    assert response.status_code == 202, response.get_json()
    transfer_id = response.get_json()["id"]
    assert counts(app) == (1, 2, 1)
    assert blobs(app) == [f"{STAGING}/{transfer_id}.{n}" for n in ("piece-0", "piece-1")]
    assert waiting(app) == before + 1
    assert api_calls(app) == [("transfers.create", transfer_id, "ok")]
