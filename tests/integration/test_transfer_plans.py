"""The queries that look for transfers by state use an index, though none reads `state`.

Every step writes `state` and `state_changed_at`, so no index reads them (migration 0019): a
step that changes no indexed column is a HOT update. The plans are read with sequential scans
disabled, so that the tiny test table is read through an index if one serves the query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from mdph_bridge.extensions import Backends
from mdph_bridge.models import utcnow
from mdph_bridge.services import alerts, metrics, retention, staging, sweeper

pytestmark = pytest.mark.integration
UNFOLDED = {"ix_transfers_not_rolled_up", "ix_transfers_unfolded_due"}


def indexes_read(session: Session, call: Callable[[], Any]) -> set[str]:
    """The indexes of `transfers` in the plan of the first statement `call` sends that reads it."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM transfers" in statement:
            sent.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = sent[0]
    connection = session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    # Nearly every transfer is past its `warn_at` on a real table; on this tiny one the planner
    # may read that index instead: it is left out of this (rolled back) transaction.
    connection.exec_driver_sql("DROP INDEX ix_transfers_warn_at")
    plan = "\n".join(
        row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
    )
    session.rollback()
    return set(re.findall(r"\b(ix_transfers_\w+|transfers_pkey)\b", plan))


def test_open_transfers_are_found_through_the_unfolded_ones(
    session: Session, backends: Backends
) -> None:
    now = utcnow()
    calls: dict[str, Callable[[], Any]] = {
        "sweeper": lambda: sweeper.stale_transfers(session, timedelta(minutes=5)),
        "alerts": lambda: alerts.decide(session, now),
        "metrics": lambda: metrics.open_alerts(session, ["59"], now, 100),
        "undownloaded": lambda: retention.flag_undownloaded(session, timedelta(days=7), now),
        "staging": lambda: staging.reseal_staging(
            session, backends.storage, current_app.config["KEYRING"]
        ),
    }

    read = {name: indexes_read(session, call) for name, call in calls.items()}

    assert all(indexes and indexes <= UNFOLDED for indexes in read.values()), read


def test_finished_transfers_packages_are_found_through_those_holding_packages(
    session: Session, backends: Backends
) -> None:
    def delete() -> Any:
        return retention.delete_expired_packages(
            session, backends.storage, timedelta(days=30), utcnow()
        )

    assert indexes_read(session, delete) == {"ix_transfers_packages_held"}
