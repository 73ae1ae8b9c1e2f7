"""The benchmarks refresh the planner's statistics, left stale where autovacuum is off."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import harness

pytestmark = pytest.mark.integration


def test_analyse_gives_the_planner_the_rows_a_filled_table_holds(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_analysed"))
            conn.execute(text("CREATE TABLE bench_analysed (id int PRIMARY KEY)"))
            conn.execute(text("INSERT INTO bench_analysed SELECT generate_series(1, 5000)"))

        harness.analyse(engine)

        with engine.begin() as conn:
            counted = conn.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = 'bench_analysed'")
            )
            conn.execute(text("DROP TABLE bench_analysed"))
        assert counted == 5000
    finally:
        engine.dispose()
