"""Statements built once by SQLAlchemy and run by psycopg itself, for the hottest paths.

For a statement compiled once, SQLAlchemy's execution (the session's connection, the execution
context, the result) costs the client about as much CPU again as psycopg's own execute
(docs/PERFORMANCE.md). Here the statement is compiled once per dialect, its parameters go through
the same bind processors SQLAlchemy would apply, and psycopg prepares it on the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class Prepared:
    """A statement's SQL for the driver, its constant parameters and its bind processors."""

    sql: str
    constants: dict[str, Any]
    required: frozenset[str]
    processors: dict[str, Callable[[Any], Any]]

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The driver's parameters: what SQLAlchemy's execution would send for `values`."""
        if missing := self.required - values.keys():
            raise KeyError(f"missing bind parameters: {sorted(missing)}")
        params = {**self.constants, **{k: v for k, v in values.items() if k in self.constants}}
        for name, process in self.processors.items():
            params[name] = process(params[name])
        return params


class DriverStatement:
    """A Core statement compiled once for each dialect that runs it.

    The parameters named in `given` skip SQLAlchemy's bind processing: the caller gives them as
    the driver takes them (e.g. psycopg's `Json` with its own `dumps`).
    """

    def __init__(self, statement: ClauseElement, given: Iterable[str] = ()) -> None:
        self._statement = statement
        self._given = frozenset(given)
        self._compiled: dict[Dialect, Prepared] = {}

    def compiled(self, dialect: Dialect) -> Prepared:
        """The statement compiled for `dialect` (once)."""
        found = self._compiled.get(dialect)
        if found is None:
            compiled = cast(SQLCompiler, self._statement.compile(dialect=dialect))
            if unknown := self._given - compiled.binds.keys():
                raise KeyError(f"unknown bind parameters: {sorted(unknown)}")
            processors: dict[str, Callable[[Any], Any]] = {}
            for name, process in compiled._bind_processors.items():  # what execution applies
                if name in self._given:
                    continue
                if not callable(process):  # a tuple's, item by item: no statement here binds one
                    raise TypeError(f"unsupported bind parameter {name}")
                processors[name] = process
            required = frozenset(n for n, b in compiled.binds.items() if b.required)
            found = Prepared(compiled.string, dict(compiled.params), required, processors)
            self._compiled[dialect] = found
        return found


@contextmanager
def _translated(
    bind: Engine,
    pooled: PoolProxiedConnection,
    invalidate: Callable[[BaseException], None],
    sql: str,
    params: Any,
) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's execution does; invalidate a lost connection."""
    dialect, error = bind.dialect, bind.dialect.loaded_dbapi.Error
    try:
        yield
    except error as exc:
        lost = dialect.is_disconnect(exc, pooled.dbapi_connection, None)
        if lost:
            invalidate(exc)
        raise DBAPIError.instance(
            sql,
            params,
            exc,
            error,
            hide_parameters=bind.hide_parameters,
            connection_invalidated=lost,
            dialect=dialect,
        ) from exc


# Where a pooled connection keeps its driver cursor (`PoolProxiedConnection.info` follows the
# driver's connection, and is emptied when the pool replaces it).
_CURSOR = "mdph_bridge.driver_cursor"
# A result of more rows than this (an inbound page) leaves with its cursor, rather than staying
# in memory with an idle pooled connection until that connection's next statement.
_KEPT_ROWS = 16


def _rows(pooled: PoolProxiedConnection, sql: str, params: Any) -> list[Any]:
    """Run a statement prepared on the server (after its first use); the rows it returned.

    On the cursor the connection keeps: psycopg's `Connection.execute` makes a cursor, its
    adapters and their caches afresh per statement (~15 µs). Whether it returned rows is read
    from the result's status (`rownumber`), not from `description`, which builds an object per
    column (~10 µs for the claim's eight).
    """
    cursor = pooled.info.get(_CURSOR)
    if cursor is None or cursor.closed:
        cursor = pooled.info[_CURSOR] = cast(Any, pooled.driver_connection).cursor()
    cursor.execute(sql, params, prepare=True)
    rows = cursor.fetchall() if cursor.rownumber is not None else []
    if len(rows) > _KEPT_ROWS:
        cursor.close()
        del pooled.info[_CURSOR]
    return rows


def _checked_out(bind: Engine) -> PoolProxiedConnection:
    """A pooled connection; a database out of reach raised as SQLAlchemy's own connect raises it
    (`OperationalError`: the pages and the API answer 503, a worker's attempt is retried)."""
    error = bind.dialect.loaded_dbapi.Error
    try:
        return bind.raw_connection()
    except error as exc:
        raise DBAPIError.instance(
            None, None, exc, error, hide_parameters=True, dialect=bind.dialect
        ) from exc


def autocommitted(bind: Engine, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run one prepared statement in autocommit on the driver of a pooled connection; its rows.

    Alone in its transaction: no `BEGIN` nor `COMMIT` (two round trips), committed when it
    returns. The pool still hands the connection out (one the server closed is replaced) and
    takes it back transactional; a failure is raised as SQLAlchemy's own execution raises it,
    and a lost connection is invalidated.
    """
    pooled = _checked_out(bind)
    try:
        driver: Any = pooled.driver_connection
        with _translated(bind, pooled, pooled.invalidate, sql, params):
            driver.autocommit = True
            try:
                return _rows(pooled, sql, params)
            finally:
                if not driver.closed:  # a lost one cannot change mode: it is invalidated
                    driver.autocommit = False
    finally:
        pooled.close()


def in_session_transaction(
    session: Session, compiled: Prepared, values: Mapping[str, Any]
) -> list[Any]:
    """Run a compiled statement on the driver, in the session's transaction (begun if needed)."""
    connection = session.connection()
    bind = connection.engine
    pooled = connection.connection
    params = compiled.params(values)
    with _translated(bind, pooled, connection.invalidate, compiled.sql, params):
        return _rows(pooled, compiled.sql, params)
