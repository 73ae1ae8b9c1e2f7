"""Transfers with a generated history, written straight to the database (metrics, alerts)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import Policy, deadlines
from mdph_bridge.domain.states import State
from mdph_bridge.models import Transfer, TransferEvent

STEP_COLUMNS = {
    State.READY: "ready_at",
    State.DOWNLOADED: "downloaded_at",
    State.ACKNOWLEDGED: "acknowledged_at",
    State.COMPLETED: "completed_at",
}


def add_transfer(
    session: Session,
    origin: str,
    dest: str,
    submitted_at: datetime,
    steps: dict[State, datetime] | None = None,
    state: State | None = None,
    sender_wait: timedelta = timedelta(),
) -> uuid.UUID:
    """Add a transfer with its milestones and events (15 days, at risk from day 10); no commit."""
    steps = steps or {}
    if state is None:
        state = max(steps, key=lambda s: steps[s]) if steps else State.RECEIVED
    deadline = deadlines(submitted_at, Policy(), frozenset())
    changed = max([submitted_at, *steps.values()])
    transfer = Transfer(
        id=uuid.uuid4(),
        origin_code=origin,
        dest_code=dest,
        state=state.value,
        numero_dossier_origine=f"{origin}-2026-0001",
        motif="demenagement",
        staging_key_id="k",
        submitted_at=submitted_at,
        warn_at=deadline.warn_at,
        due_at=deadline.due_at,
        state_changed_at=changed,
        sender_wait_seconds=round(sender_wait.total_seconds()),
        problems=[],
        warnings=[],
        **{STEP_COLUMNS[s]: at for s, at in steps.items() if s in STEP_COLUMNS},
    )
    events = [(submitted_at, State.RECEIVED), *sorted(((at, s) for s, at in steps.items()))]
    transfer.events = [TransferEvent(at=at, to_state=s.value, actor="test") for at, s in events]
    session.add(transfer)
    return transfer.id
