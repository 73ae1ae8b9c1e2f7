"""Unit tests of the guarded state change `move`, on a throwaway SQLite file database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import State
from mdph_bridge.extensions import make_engine
from mdph_bridge.models import Base, Departement, Transfer, TransferEvent, utcnow
from mdph_bridge.services.transitions import move

pytestmark = pytest.mark.unit

ACTOR = "token:test"
LEASE = "lease-x"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite file database with the whole schema and the two départements 59 and 62."""
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [Departement(code="59", nom="Nord"), Departement(code="62", nom="Pas-de-Calais")]
        )
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the test database."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def statements(engine: Engine) -> list[str]:
    """Every SQL statement the engine sends from now on."""
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    return sent


def add_transfer(session: Session, state: State, **values: Any) -> uuid.UUID:
    """Insert a transfer from 59 to 62 in `state` and commit; return its id."""
    now = utcnow()
    transfer = Transfer(
        origin_code="59",
        dest_code="62",
        state=state.value,
        numero_dossier_origine="59-2024-004217",
        motif="demenagement",
        warn_at=now + timedelta(days=10),
        due_at=now + timedelta(days=15),
        staging_key_id="k1",
        state_changed_at=now - timedelta(hours=1),
        **values,
    )
    session.add(transfer)
    session.commit()
    return transfer.id


def current(session: Session, transfer_id: uuid.UUID) -> Transfer:
    """Reload the transfer from the database."""
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    return transfer


def events_of(session: Session, transfer_id: uuid.UUID) -> list[TransferEvent]:
    """The transfer's events, oldest first, as stored."""
    return list(
        session.scalars(
            select(TransferEvent)
            .where(TransferEvent.transfer_id == transfer_id)
            .order_by(TransferEvent.id)
        )
    )


def event_count(session: Session) -> int:
    """Number of event rows in the whole database."""
    return session.scalar(select(func.count()).select_from(TransferEvent)) or 0


def test_guarded_move_changes_state_returns_source_and_writes_one_event(
    session: Session,
) -> None:
    transfer_id = add_transfer(session, State.READY)
    before = current(session, transfer_id).state_changed_at

    left = move(session, transfer_id, [State.READY], State.DOWNLOADED, ACTOR, detail={"via": "api"})
    session.commit()

    assert left is State.READY
    transfer = current(session, transfer_id)
    assert transfer.state == "downloaded"
    assert transfer.state_changed_at > before
    events = events_of(session, transfer_id)
    assert len(events) == 1
    (written,) = events
    assert (written.from_state, written.to_state, written.actor) == ("ready", "downloaded", ACTOR)
    assert written.detail == {"via": "api"}
    assert written.at == transfer.state_changed_at


def test_move_without_detail_stores_a_null_detail(session: Session) -> None:
    transfer_id = add_transfer(session, State.RECEIVED)

    move(session, transfer_id, [State.RECEIVED], State.VALIDATING, ACTOR)
    session.commit()

    (written,) = events_of(session, transfer_id)
    assert written.detail is None


def test_replayed_move_returns_none_and_writes_no_event(session: Session) -> None:
    transfer_id = add_transfer(session, State.DOWNLOADED)
    assert move(session, transfer_id, [State.DOWNLOADED], State.ACKNOWLEDGED, ACTOR)
    session.commit()
    changed_at = current(session, transfer_id).state_changed_at

    replay = move(session, transfer_id, [State.DOWNLOADED], State.ACKNOWLEDGED, ACTOR)
    session.commit()

    assert replay is None
    assert current(session, transfer_id).state == "acknowledged"
    assert current(session, transfer_id).state_changed_at == changed_at
    assert len(events_of(session, transfer_id)) == 1


def test_move_from_wrong_state_changes_nothing(session: Session) -> None:
    transfer_id = add_transfer(session, State.RECEIVED)
    changed_at = current(session, transfer_id).state_changed_at

    left = move(session, transfer_id, [State.READY], State.DOWNLOADED, ACTOR)
    session.commit()

    assert left is None
    transfer = current(session, transfer_id)
    assert transfer.state == "received"
    assert transfer.state_changed_at == changed_at
    assert event_count(session) == 0


def test_move_of_unknown_transfer_returns_none(session: Session) -> None:
    add_transfer(session, State.READY)

    assert move(session, uuid.uuid4(), [State.READY], State.DOWNLOADED, ACTOR) is None
    assert event_count(session) == 0


def test_move_touches_only_the_named_transfer(session: Session) -> None:
    moved = add_transfer(session, State.READY)
    other = add_transfer(session, State.READY)

    move(session, moved, [State.READY], State.DOWNLOADED, ACTOR)
    session.commit()

    assert current(session, moved).state == "downloaded"
    assert current(session, other).state == "ready"
    assert events_of(session, other) == []


@pytest.mark.parametrize(
    ("sources", "target"),
    [
        ([State.RECEIVED], State.READY),
        ([State.COMPLETED], State.RECEIVED),
        ([State.REJECTED], State.READY),
        ([State.READY, State.CANCELLED], State.DOWNLOADED),
    ],
    ids=["received-ready", "completed-received", "rejected-ready", "second-source-final"],
)
def test_disallowed_transition_raises_before_touching_the_database(
    session: Session,
    statements: list[str],
    sources: list[State],
    target: State,
) -> None:
    """The check comes first: no UPDATE is sent even when an earlier source is allowed."""
    transfer_id = add_transfer(session, State.COMPLETED)
    statements.clear()

    with pytest.raises(ValueError, match="is not allowed"):
        move(session, transfer_id, sources, target, ACTOR)

    assert not [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    session.rollback()
    assert current(session, transfer_id).state == "completed"
    assert event_count(session) == 0


def test_disallowed_source_is_refused_even_when_an_allowed_source_matches(
    session: Session,
) -> None:
    transfer_id = add_transfer(session, State.READY)

    with pytest.raises(ValueError, match="is not allowed"):
        move(session, transfer_id, [State.READY, State.COMPLETED], State.DOWNLOADED, ACTOR)


@pytest.mark.parametrize(
    ("state", "sources", "target"),
    [
        (
            State.READY,
            [State.RECEIVED, State.REJECTED, State.FAILED, State.READY],
            State.CANCELLED,
        ),
        (State.REJECTED, [State.RECEIVED, State.REJECTED, State.FAILED], State.CANCELLED),
        (
            State.ACKNOWLEDGED,
            [State.READY, State.DOWNLOADED, State.ACKNOWLEDGED],
            State.RETURNED,
        ),
        (State.DOWNLOADED, (s for s in [State.READY, State.DOWNLOADED]), State.RETURNED),
    ],
    ids=["cancel-ready", "cancel-rejected", "return-acknowledged", "generator-sources"],
)
def test_move_with_several_sources_returns_the_actual_one(
    session: Session, state: State, sources: Any, target: State
) -> None:
    transfer_id = add_transfer(session, state)

    left = move(session, transfer_id, sources, target, ACTOR)
    session.commit()

    assert left is state
    assert current(session, transfer_id).state == target.value
    (written,) = events_of(session, transfer_id)
    assert (written.from_state, written.to_state) == (state.value, target.value)


@pytest.mark.parametrize(
    ("lease_token", "moves"),
    [(LEASE, True), ("other-lease", False), (None, False)],
    ids=["match", "other", "none"],
)
def test_extra_guard_conditions_are_honoured(
    session: Session, lease_token: str | None, moves: bool
) -> None:
    transfer_id = add_transfer(session, State.VALIDATING, lease_token=lease_token)

    left = move(
        session,
        transfer_id,
        [State.VALIDATING],
        State.READY,
        ACTOR,
        guard=[Transfer.lease_token == LEASE],
    )
    session.commit()

    assert (left is State.VALIDATING) is moves
    assert current(session, transfer_id).state == ("ready" if moves else "validating")
    assert len(events_of(session, transfer_id)) == int(moves)


def test_extra_values_are_written_with_the_state_change(session: Session) -> None:
    transfer_id = add_transfer(session, State.VALIDATING, lease_token=LEASE, attempts=2)

    move(
        session,
        transfer_id,
        [State.VALIDATING],
        State.RECEIVED,
        ACTOR,
        guard=[Transfer.lease_token == LEASE],
        lease_token=None,
        attempts=Transfer.attempts + 1,
        problems=[{"code": "traitement.echec"}],
    )
    session.commit()

    transfer = current(session, transfer_id)
    assert (transfer.state, transfer.lease_token, transfer.attempts) == ("received", None, 3)
    assert transfer.problems == [{"code": "traitement.echec"}]


def test_rolled_back_move_leaves_neither_state_nor_event(session: Session) -> None:
    """The update and its event live in the caller's transaction: both or neither."""
    transfer_id = add_transfer(session, State.READY)

    assert move(session, transfer_id, [State.READY], State.DOWNLOADED, ACTOR)
    session.rollback()

    assert current(session, transfer_id).state == "ready"
    assert event_count(session) == 0


def test_reaching_a_milestone_records_its_instant_once(session: Session) -> None:
    transfer_id = add_transfer(session, State.READY)
    assert move(session, transfer_id, [State.READY], State.DOWNLOADED, "62/receiver/t")
    session.commit()
    transfer = current(session, transfer_id)
    assert (
        transfer.downloaded_at == transfer.state_changed_at == events_of(session, transfer_id)[0].at
    )
    assert transfer.acknowledged_at is None
    assert transfer.completed_at is None


def test_leaving_rejected_adds_the_time_waited_for_the_sender(session: Session) -> None:
    transfer_id = add_transfer(session, State.REJECTED, sender_wait_seconds=600)
    rejected_since = current(session, transfer_id).state_changed_at
    assert move(session, transfer_id, [State.REJECTED], State.RECEIVED, "59/caseworker/t")
    session.commit()
    transfer = current(session, transfer_id)
    waited = (transfer.state_changed_at - rejected_since).total_seconds()
    assert waited > 3000  # the helper put the transfer in `rejected` an hour ago
    assert transfer.sender_wait_seconds == 600 + round(waited)
