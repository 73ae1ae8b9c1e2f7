"""The clock of stored transfers: French public holidays, deadlines at submission, readings."""

from __future__ import annotations

from collections.abc import Container
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING

import holidays

from mdph_bridge.domain.clock import ClockRules, Deadlines, Reading, deadlines, read
from mdph_bridge.domain.states import State
from mdph_bridge.models import Transfer

if TYPE_CHECKING:
    from mdph_bridge.services.submission import Created


@cache
def french_holidays() -> Container[date]:
    """France's national public holidays, for any year asked (the library fills years lazily)."""
    return holidays.country_holidays("FR")


def transfer_deadlines(
    rules: ClockRules, origin: str, dest: str, submitted_at: datetime
) -> Deadlines:
    """Compute the at-risk and due instants of a new transfer under its pair's policy."""
    return deadlines(submitted_at, rules.for_pair(origin, dest), french_holidays())


def reading(transfer: Transfer | Created, now: datetime) -> Reading:
    """Read a transfer's clock from its event history."""
    history = [(event.at, State(event.to_state)) for event in transfer.events]
    return read(history, Deadlines(transfer.warn_at, transfer.due_at), now)
