"""Retention's batch on SQLite (the embedded default) reads the transfers holding packages
through their index, as on PostgreSQL, instead of the whole table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from mdph_bridge.models import utcnow
from mdph_bridge.services.retention import expired_packages

pytestmark = pytest.mark.unit


def test_a_batch_reads_the_index_of_transfers_holding_packages(session: Session) -> None:
    connection = session.connection()
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        session.execute(expired_packages(timedelta(days=30), utcnow())).all()
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    statement, parameters = sent[-1]

    plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()

    details = [row[-1] for row in plan]
    assert details[0].startswith("SEARCH transfers USING INDEX ix_transfers_packages_held"), details
