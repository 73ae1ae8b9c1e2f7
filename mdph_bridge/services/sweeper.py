"""Find transfers whose wake-up message was lost or whose worker died, and wake a worker again."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import State
from mdph_bridge.models import Transfer, utcnow
from mdph_bridge.services.transitions import move

BATCH = 500


def stale_transfers(session: Session, stale_after: timedelta) -> list[uuid.UUID]:
    """Return transfers waiting in `received` too long, or in `validating` past their lease."""
    now = utcnow()
    query = (
        select(Transfer.id)
        .where(
            or_(
                and_(
                    Transfer.state == State.RECEIVED, Transfer.state_changed_at < now - stale_after
                ),
                and_(Transfer.state == State.VALIDATING, Transfer.lease_until < now),
            )
        )
        .order_by(Transfer.state_changed_at)
        .limit(BATCH)
    )
    return list(session.scalars(query))


def retry_failed(session: Session, transfer_id: uuid.UUID, actor: str) -> bool:
    """Give a failed transfer a fresh set of attempts (after a human fixed the cause)."""
    moved = move(
        session, transfer_id, [State.FAILED], State.RECEIVED, actor, attempts=0, problems=[]
    )
    session.commit()
    return moved is not None
