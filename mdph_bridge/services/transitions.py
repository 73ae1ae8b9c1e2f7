"""Guarded state changes: one conditional UPDATE plus its event row, in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, insert, select, update
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
                select(Transfer.state_changed_at).where(
                    Transfer.id == transfer_id, Transfer.state == source.value
                )
            )
            if since is None:
                continue
            waited = round((now - since).total_seconds())
            clock["sender_wait_seconds"] = Transfer.sender_wait_seconds + waited
            source_guard.append(Transfer.state_changed_at == since)
        result = session.execute(
            update(Transfer)
            .where(Transfer.id == transfer_id, Transfer.state == source.value, *source_guard)
            .values(state=target.value, state_changed_at=now, **{**values, **clock})
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount == 1:
            session.execute(  # a Core insert: no unit of work to flush on the hot path
                insert(TransferEvent).values(
                    transfer_id=transfer_id,
                    at=now,
                    from_state=source.value,
                    to_state=target.value,
                    actor=actor,
                    detail=detail,
                )
            )
            return source
    return None
