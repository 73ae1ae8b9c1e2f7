"""The audit log in the embedded mode (SQLite, migrated with Alembic): record, seal, verify,
purge, concurrent writers from several threads, and tampering caught against a kept checkpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from audit_tampering import CASES, tamper
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from mdph_bridge.domain.checkpoints import open_note
from mdph_bridge.domain.signing import HubSigner, generate_hub_key
from mdph_bridge.extensions import make_engine
from mdph_bridge.migrations import alembic_config
from mdph_bridge.models import AuditEntry, utcnow
from mdph_bridge.services.audit import (
    Actor,
    latest_checkpoint,
    publics_of,
    purge,
    record,
    seal_all,
    verify,
)

pytestmark = pytest.mark.unit
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACTOR = Actor("3f1c0e5e-0000-4000-8000-000000000001", "receiver", "62")
SIGNER = HubSigner.parse(generate_hub_key("hub-test"))
PUBLICS = publics_of(SIGNER)


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
        assert seal_all(session, SIGNER) == 6
        assert verify(session, PUBLICS).checked == 6
        assert purge(session, SIGNER, T0 + timedelta(hours=2)) == 2
        assert verify(session, PUBLICS).ok
        session.execute(text("UPDATE audit_entries SET object_id = 'x' WHERE seq = 4"))
        session.commit()
        result = verify(session, PUBLICS)
    assert (result.bad_seq, result.problem) == (4, "entrée modifiée")


def test_threads_writing_at_once_make_one_chain_on_sqlite(engine: Engine) -> None:
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    barrier = threading.Barrier(5)

    def write() -> None:
        with sessions() as session:
            barrier.wait()
            for i in range(20):
                record(session, ACTOR, "inbound.detail", "transfer", i)
                session.commit()

    def sequencer() -> None:  # a second sequencer waits for the first, it does not fork
        with sessions() as session:
            barrier.wait()
            for _ in range(20):
                seal_all(session, SIGNER)

    threads = [threading.Thread(target=write) for _ in range(4)]
    threads += [threading.Thread(target=sequencer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        seal_all(session, SIGNER)
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert seqs == list(range(1, 81))
        assert verify(session, PUBLICS).ok


@pytest.mark.parametrize("case", CASES)
def test_tampering_is_caught_against_a_kept_checkpoint_on_sqlite(engine: Engine, case: str) -> None:
    with Session(engine, expire_on_commit=False) as session:
        start = utcnow() - timedelta(hours=1)
        for i in range(10):
            record(
                session, ACTOR, "inbound.detail", "transfer", i, "200", start + timedelta(minutes=i)
            )
            session.commit()
            if i == 5:
                seal_all(session, SIGNER)
        seal_all(session, SIGNER)
        kept = open_note(latest_checkpoint(session).note, PUBLICS)
        assert verify(session, PUBLICS, (kept,)).ok
        tamper(session, case)  # SQLite has no trigger: only the checkpoints catch it
        assert not verify(session, PUBLICS, (kept,)).ok
