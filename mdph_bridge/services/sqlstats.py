"""SQL expressions the metrics need, written for PostgreSQL and for the embedded SQLite.

PostgreSQL computes percentiles with `percentile_cont … WITHIN GROUP`; SQLite has no such
aggregate, so `register_sqlite_functions` adds one (the embedded default holds little data).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Float, Integer, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mdph_bridge.domain.delays import DAY_SECONDS, percentile_cont


class days_between(FunctionElement[float]):  # noqa: N801 - used like a SQL function
    """Days (fractional) from the second argument to the first."""

    type = Float()
    name = "days_between"
    inherit_cache = True


@compiles(days_between)
def _days_pg(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    end, start = (compiler.process(arg, **kw) for arg in element.clauses)
    # date_part gives a double; EXTRACT gives a numeric, twice as slow to sort on a million rows.
    return f"(date_part('epoch', {end} - {start}) / {DAY_SECONDS})"


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    end, start = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(julianday({end}) - julianday({start}))"


class percentile(FunctionElement[float]):  # noqa: N801 - used like a SQL function
    """Continuous percentile (linear interpolation) of the first argument; the second is 0 to 1."""

    type = Float()
    name = "percentile"
    inherit_cache = True


@compiles(percentile)
def _percentile_pg(element: percentile, compiler: SQLCompiler, **kw: Any) -> str:
    value, fraction = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY {value})"


@compiles(percentile, "sqlite")
def _percentile_sqlite(element: percentile, compiler: SQLCompiler, **kw: Any) -> str:
    value, fraction = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"mdph_percentile({value}, {fraction})"


class whole_days(FunctionElement[int]):  # noqa: N801 - used like a SQL function
    """The whole number of days in a non-negative duration in days."""

    type = Integer()
    name = "whole_days"
    inherit_cache = True


@compiles(whole_days)
def _whole_pg(element: whole_days, compiler: SQLCompiler, **kw: Any) -> str:
    return f"FLOOR({compiler.process(element.clauses, **kw)})"


@compiles(whole_days, "sqlite")
def _whole_sqlite(element: whole_days, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


class month_of(FunctionElement[str]):  # noqa: N801 - used like a SQL function
    """The month `YYYY-MM` of an instant, in Paris time on PostgreSQL (UTC on SQLite)."""

    type = String()
    name = "month_of"
    inherit_cache = True


@compiles(month_of)
def _month_pg(element: month_of, compiler: SQLCompiler, **kw: Any) -> str:
    (instant,) = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"to_char({instant} AT TIME ZONE 'Europe/Paris', 'YYYY-MM')"


@compiles(month_of, "sqlite")
def _month_sqlite(element: month_of, compiler: SQLCompiler, **kw: Any) -> str:
    (instant,) = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"strftime('%Y-%m', {instant})"


class _SqlitePercentile:
    """The `mdph_percentile(value, fraction)` aggregate for SQLite."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return percentile_cont(sorted(self.values), self.fraction)


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Add the aggregates the metrics use to a SQLite connection."""
    connection.create_aggregate("mdph_percentile", 2, _SqlitePercentile)  # type: ignore[arg-type]
