"""The date that rules about "today" compare with: today in Paris, or one fixed by the caller."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
_FIXED: ContextVar[date | None] = ContextVar("reference_date", default=None)


def today() -> date:
    """The reference date: the fixed one if set, else today's date in Europe/Paris."""
    fixed = _FIXED.get()
    return fixed if fixed is not None else datetime.now(PARIS).date()


@contextmanager
def reference_date(day: date) -> Iterator[None]:
    """Validate as if today were `day` (tests, replays of an old submission)."""
    token = _FIXED.set(day)
    try:
        yield
    finally:
        _FIXED.reset(token)
