"""The transfers' indexes on PostgreSQL: the lookups of an Idempotency-Key still read an index,
the prepared statement's generic plan included, once it holds the given keys only (0020)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from mdph_bridge.services.admin import add_departement
from mdph_bridge.services.submission import _KEYED

pytestmark = pytest.mark.integration
# 20,000 transfers, one in ten sent with a key (as a draft's sending and some API clients do);
# analysed, as autovacuum keeps a real table.
SENT = """
INSERT INTO transfers (id, origin_code, dest_code, state, numero_dossier_origine, motif,
    idempotency_key, submitted_at, warn_at, due_at, state_changed_at, attempts, staging_key_id,
    problems, warnings, sender_wait_seconds)
SELECT gen_random_uuid(), '59', '62', 'completed', 'B-' || g, 'demenagement',
    CASE WHEN g %% 10 = 0 THEN 'key-' || g END, now(), now(), now(), now(), 1, 'k', '[]', '[]', 0
FROM generate_series(1, 20000) AS g
"""
INDEX = "uq_transfers_origin_code_idempotency_key_given"


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
def test_a_key_is_looked_up_through_the_index_of_given_keys(
    session: Session, plan_cache_mode: str
) -> None:
    for code in ("59", "62"):
        add_departement(session, code, code)
    connection = session.connection()
    connection.exec_driver_sql(SENT)
    connection.exec_driver_sql("ANALYZE transfers")
    connection.exec_driver_sql(f"SET LOCAL plan_cache_mode = {plan_cache_mode}")
    # The submission's lookup as the driver prepares it: its parameters as $1 and $2.
    keyed = _KEYED.compiled(connection.dialect).sql
    prepared = keyed.replace("%(origin)s", "$1").replace("%(key)s", "$2")
    connection.exec_driver_sql(f"PREPARE keyed (varchar, varchar) AS {prepared}")
    plan = "\n".join(connection.exec_driver_sql("EXPLAIN EXECUTE keyed ('59', 'key-10')").scalars())
    session.rollback()
    assert f"Index Scan using {INDEX} on transfers" in plan, plan
