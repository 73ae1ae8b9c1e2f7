"""A worker is woken for a transfer once the transaction that made it visible has committed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import Session

from mdph_bridge.services.operations import queue_lengths
from mdph_bridge.services.queue import BROKER, QUEUE, wake_after_commit

pytestmark = pytest.mark.unit


@pytest.fixture
def celery() -> Celery:
    """A Celery app on kombu's in-memory transport: a real broker, inside this process."""
    app = Celery("wake-test", broker="memory://", set_as_current=False)
    app.conf.mdph_large_transfer_bytes = 10**9
    app.conf.mdph_wake_up_timeout = 1.0
    return app


@pytest.fixture
def session(celery: Celery) -> Iterator[Session]:
    engine = create_engine("sqlite://")
    with Session(engine, info={BROKER: celery}) as db:
        db.execute(text("CREATE TABLE t (x INTEGER)"))
        db.commit()
        yield db
    engine.dispose()


def waiting(celery: Celery) -> int:
    return queue_lengths(celery).get(QUEUE, 0)


def test_the_wake_up_is_sent_when_the_transaction_commits(session: Session, celery: Celery) -> None:
    before = waiting(celery)
    session.execute(text("INSERT INTO t VALUES (1)"))
    wake_after_commit(session, uuid.uuid4(), 10)
    session.flush()
    assert waiting(celery) == before
    session.commit()
    assert waiting(celery) == before + 1
    session.commit()  # an empty transaction owes nothing more
    assert waiting(celery) == before + 1


def test_a_rolled_back_change_wakes_nobody(session: Session, celery: Celery) -> None:
    before = waiting(celery)
    session.execute(text("INSERT INTO t VALUES (1)"))
    wake_after_commit(session, uuid.uuid4(), 10)
    session.rollback()
    session.execute(text("INSERT INTO t VALUES (2)"))
    session.commit()
    assert waiting(celery) == before


def test_one_wake_up_per_transfer_however_often_it_is_asked(
    session: Session, celery: Celery
) -> None:
    before = waiting(celery)
    transfer_id = uuid.uuid4()
    session.execute(text("INSERT INTO t VALUES (1)"))
    wake_after_commit(session, transfer_id, 10)
    wake_after_commit(session, transfer_id, 10)
    wake_after_commit(session, uuid.uuid4(), 10)
    session.commit()
    assert waiting(celery) == before + 2


def test_asking_for_a_wake_up_adds_no_listener_to_the_session(
    session: Session, celery: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hooks serve every session, registered once: none is added per request's session."""
    added: list[object] = []
    monkeypatch.setattr(event, "listen", lambda *args, **kwargs: added.append(args))
    before = waiting(celery)
    session.execute(text("INSERT INTO t VALUES (1)"))
    wake_after_commit(session, uuid.uuid4(), 10)
    session.commit()
    assert waiting(celery) == before + 1
    assert added == []
