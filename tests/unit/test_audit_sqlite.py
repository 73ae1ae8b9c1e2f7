"""The audit chain in the embedded mode (SQLite, migrated with Alembic): record, verify, purge,
and concurrent writers from several threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from mdph_bridge.extensions import make_engine
from mdph_bridge.migrations import alembic_config
from mdph_bridge.models import AuditEntry
from mdph_bridge.services.audit import Actor, purge, record, verify

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACTOR = Actor("3f1c0e5e-0000-4000-8000-000000000001", "receiver", "62")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file database migrated to head, as `mdph-bridge serve` makes it."""
    url = f"sqlite:///{tmp_path}/hub.sqlite3"
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_chain_verify_tamper_and_purge_on_sqlite(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        for i in range(6):
            record(session, ACTOR, "inbound.detail", "transfer", i, "200", T0 + timedelta(hours=i))
            session.commit()
        assert verify(session).checked == 6
        assert purge(session, T0 + timedelta(hours=2)) == 2
        assert verify(session).ok
        session.execute(text("UPDATE audit_entries SET object_id = 'x' WHERE seq = 4"))
        session.commit()
        result = verify(session)
    assert (result.bad_seq, result.problem) == (4, "entrée modifiée")


def test_threads_writing_at_once_make_one_chain_on_sqlite(engine: Engine) -> None:
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    barrier = threading.Barrier(4)

    def write() -> None:
        with sessions() as session:
            barrier.wait()
            for i in range(20):
                record(session, ACTOR, "inbound.detail", "transfer", i)
                session.commit()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert seqs == list(range(1, 81))
        assert verify(session).ok
