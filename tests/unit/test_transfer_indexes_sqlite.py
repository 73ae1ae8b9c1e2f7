"""The transfers' indexes on SQLite (the embedded default): an Idempotency-Key's lookup reads the
unique index of the given keys, as on PostgreSQL (migration 0020)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.models import Transfer

pytestmark = pytest.mark.unit


def test_a_key_is_looked_up_through_the_index_of_given_keys(session: Session) -> None:
    # The lookup of `services.submission.find_by_idempotency_key`.
    lookup = select(Transfer.id).where(
        Transfer.origin_code == "59", Transfer.idempotency_key == "k"
    )
    statement = lookup.compile(session.connection())  # bound as the lookup binds them: `?`

    plan = (
        session.connection()
        .exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", tuple(statement.params.values()))
        .all()
    )

    details = [row[-1] for row in plan]
    assert details[0].startswith(
        "SEARCH transfers USING INDEX uq_transfers_origin_code_idempotency_key_given"
    ), details
