"""Guarded state changes: one conditional UPDATE plus its event row, in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import State, can_move
from mdph_bridge.models import Transfer, TransferEvent, utcnow


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
        result = session.execute(
            update(Transfer)
            .where(Transfer.id == transfer_id, Transfer.state == source.value, *guard)
            .values(state=target.value, state_changed_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            session.add(
                TransferEvent(
                    transfer_id=transfer_id,
                    at=now,
                    from_state=source.value,
                    to_state=target.value,
                    actor=actor,
                    detail=detail,
                )
            )
            session.flush()
            return source
    return None
