"""Transfers with a generated history, written straight to the database (metrics, alerts)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import PARIS, Policy, deadlines
from mdph_bridge.domain.states import State
from mdph_bridge.models import HistoricalTransfer, Transfer, TransferEvent

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
PAIRS = [("59", "62"), ("62", "59"), ("59", "80"), ("80", "62")]
DAY = 86400
OPEN_STATES = [State.RECEIVED, State.READY, State.DOWNLOADED, State.REJECTED, State.RETURNED]

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


def plus_days_paris(at: datetime, days: int) -> datetime:
    return (at.astimezone(PARIS) + timedelta(days=days)).astimezone(UTC)


def generate(session: Session) -> list[dict[str, Any]]:
    """A seeded history of 400 transfers over six months, with the facts the test needs."""
    rng = random.Random(20261201)  # noqa: S311 - a reproducible history, not a secret
    made = []
    for _ in range(400):
        origin, dest = rng.choice(PAIRS)
        submitted = NOW - timedelta(days=rng.uniform(0.5, 180))
        wait = timedelta(days=rng.choice([0, 0, 0, rng.uniform(0.5, 6)]))
        spans = [timedelta(days=rng.uniform(0.01, x)) for x in (2, 8, 3, 10)]
        milestones = [State.READY, State.DOWNLOADED, State.ACKNOWLEDGED, State.COMPLETED]
        steps, at = {}, submitted + wait
        reach = rng.choice([0, 1, 2, 4, 4, 4, 4])
        for state, span in zip(milestones[:reach], spans, strict=False):
            at += span
            if at >= NOW:
                break
            steps[state] = at
        final = State.COMPLETED if State.COMPLETED in steps else None
        if final is None:
            final = rng.choice([*OPEN_STATES, State.CANCELLED])
            if final in (State.RECEIVED, State.REJECTED):
                steps = {}
            if final == State.READY and State.DOWNLOADED in steps:
                final = State.DOWNLOADED if State.ACKNOWLEDGED not in steps else State.ACKNOWLEDGED
        transfer_id = add_transfer(
            session,
            origin,
            dest,
            submitted,
            steps,
            state=final,
            sender_wait=wait if steps else timedelta(),
        )
        # A processed transfer keeps its rights-mapping summary, as the worker leaves it.
        resultats = None
        if State.READY in steps:
            resultats = {
                "maintenu": 2,
                "maintenu_changement_payeur": 1,
                "a_instruire": 0,
                "non_transferable": len(steps) % 2,
                "echu": 1,
            }
            transfer = session.get(Transfer, transfer_id)
            assert transfer is not None
            transfer.harmonisation = {"resultats": resultats, "alertes": []}
        made.append(
            {
                "id": str(transfer_id),
                "origin": origin,
                "dest": dest,
                "state": final,
                "submitted": submitted,
                "steps": steps,
                "wait": (wait if steps else timedelta()).total_seconds() / DAY,
                "warn": plus_days_paris(submitted, 10),
                "due": plus_days_paris(submitted, 15),
                "resultats": resultats,
            }
        )
    for index in range(60):
        origin, dest = rng.choice(PAIRS)
        submitted = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.uniform(0, 300))
        completed = submitted + timedelta(days=rng.uniform(20, 150)) if index % 6 else None
        session.add(
            HistoricalTransfer(
                reference=f"H{index}",
                origin_code=origin,
                dest_code=dest,
                submitted_at=submitted,
                completed_at=completed,
            )
        )
        made.append(
            {
                "historical": True,
                "origin": origin,
                "dest": dest,
                "submitted": submitted,
                "completed": completed,
            }
        )
    session.commit()
    return made
