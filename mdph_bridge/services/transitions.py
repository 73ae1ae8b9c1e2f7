"""Guarded state changes: one conditional UPDATE plus its event row, in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CTE,
    ColumnElement,
    CursorResult,
    Insert,
    Table,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import State, can_move
from mdph_bridge.models import Transfer, TransferEvent, utcnow

# Columns recording the first (and only) time a transfer reached a milestone of the clock.
MILESTONES = {
    State.READY: "ready_at",
    State.DOWNLOADED: "downloaded_at",
    State.ACKNOWLEDGED: "acknowledged_at",
    State.COMPLETED: "completed_at",
}
# Core statements on the tables: the ORM's bulk UPDATE and INSERT cost more CPU than the SQL.
TRANSFERS = cast(Table, Transfer.__table__)
EVENTS = cast(Table, TransferEvent.__table__)
INSERT_EVENT = insert(EVENTS)  # built once: its cache key is computed once
EVENT_COLUMNS = ("transfer_id", "at", "from_state", "to_state", "actor", "detail")
# JSON `null`, as `add_event` stores a missing detail (SQLAlchemy's JSON writes None so).
NO_DETAIL: ColumnElement[Any] = literal_column("'null'::json")


def move(
    session: Session,
    transfer_id: uuid.UUID,
    sources: Iterable[State],
    target: State,
    actor: str,
    *,
    detail: dict[str, Any] | None = None,
    guard: Iterable[ColumnElement[bool]] = (),
    **values: Any,
) -> State | None:
    """Move the transfer to `target` if it is in one of `sources`; return the state it left.

    Returns None, changing nothing, when the transfer is in no source state (a replayed or
    concurrent step), so every step can be repeated safely. The caller commits.
    """
    guard = list(guard)
    sources = list(sources)
    for source in sources:
        if not can_move(source, target):
            raise ValueError(f"transition {source} -> {target} is not allowed")
    for source in sources:
        now = utcnow()
        clock: dict[str, Any] = {}
        if target in MILESTONES:
            clock[MILESTONES[target]] = values.get(MILESTONES[target], now)
        source_guard = list(guard)
        if source == State.REJECTED:
            # Add the time spent waiting for the sender's correction; the guard on the instant
            # read makes a concurrent step lose the race rather than count it twice.
            since = session.scalar(
                select(TRANSFERS.c.state_changed_at).where(
                    TRANSFERS.c.id == transfer_id, TRANSFERS.c.state == source.value
                )
            )
            if since is None:
                continue
            waited = round((now - since).total_seconds())
            clock["sender_wait_seconds"] = TRANSFERS.c.sender_wait_seconds + waited
            source_guard.append(TRANSFERS.c.state_changed_at == since)
        result = session.execute(
            update(TRANSFERS)
            .where(TRANSFERS.c.id == transfer_id, TRANSFERS.c.state == source.value, *source_guard)
            .values(state=target.value, state_changed_at=now, **{**values, **clock})
        )
        if cast(CursorResult[Any], result).rowcount == 1:
            add_event(session, transfer_id, now, source.value, target.value, actor, detail)
            return source
    return None


def add_event(
    session: Session,
    transfer_id: uuid.UUID,
    at: datetime,
    from_state: str | None,
    to_state: str,
    actor: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Insert one event row by Core: no unit of work to flush on the hot path."""
    session.execute(
        INSERT_EVENT,
        {
            "transfer_id": transfer_id,
            "at": at,
            "from_state": from_state,
            "to_state": to_state,
            "actor": actor,
            "detail": detail,
        },
    )


def insert_event_from(*values: ColumnElement[Any]) -> Insert:
    """Insert the event row of a transfer another CTE of the same statement inserted or moved
    (PostgreSQL): `values` are the columns of `EVENT_COLUMNS`, in order."""
    return insert(EVENTS).from_select(EVENT_COLUMNS, select(*values))


def event_cte(name: str, *values: ColumnElement[Any]) -> CTE:
    """The same insert as a CTE of its own, for a statement that returns something else."""
    return insert_event_from(*values).cte(name)
