"""Retention's batch of expired packages on a million transfers, with and without its index.

Run from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust auth):
    .venv/bin/python benchmarks/bench_retention.py [--transfers 1000000] [--runs 10]

It creates a scratch database, migrates it, loads the transfers as `bench_metrics.py` does (three
years of history), then gives packages to the transfers that hold them on a live hub: those from
`ready` until they finish, and the finished ones of the last retention period plus one day (the
last day's are expired: what an hourly retention finds after a day's outage, a few batches).
Then it times, in the same run and alternating which goes first, the statement of one batch as
`services.retention` sends it (`SELECT … FOR UPDATE SKIP LOCKED`, rolled back, so every run reads
the same rows):
  - before: without `ix_transfers_packages_held` (dropped in the rolled-back transaction: the
    schema of migration 0018);
  - now: with it.
Each side's plan is printed once (EXPLAIN ANALYZE, BUFFERS). The scratch database is dropped at
the end, unless `--keep NAME` names it (then a second run with the same name reuses the data).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta

import psycopg
from alembic import command
from arguments import parse
from bench_metrics import LOAD
from harness import percentile
from sqlalchemy import Connection, create_engine, text

from mdph_bridge.migrations import alembic_config
from mdph_bridge.models import utcnow
from mdph_bridge.services.retention import expired_packages

PG = os.environ.get("MDPH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
KEEP_DAYS = 30  # MDPH_BRIDGE_PACKAGE_RETENTION_DAYS' default
INDEX = "ix_transfers_packages_held"
DEPARTEMENTS = (
    "INSERT INTO departements (code, nom, created_at, inbound_seq) VALUES"
    " ('59', 'Nord', now(), 0), ('62', 'Pas-de-Calais', now(), 0), ('80', 'Somme', now(), 0)"
)
# Packages on the transfers that hold them on a live hub (see the docstring).
PACKAGES = """
UPDATE transfers
SET package_key = 'packages/' || id || '.bench-dossier.age',
    medical_package_key = CASE WHEN random() < 0.3
                               THEN 'packages/' || id || '.bench-medical.age' END
WHERE state IN ('ready', 'downloaded', 'acknowledged')
   OR (state IN ('completed', 'returned')
       AND state_changed_at > now() - %(held)s * interval '1 day')
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--keep", help="reuse (or keep) this scratch database instead of dropping it"
    )
    args = parse(parser, {"transfers": 2000, "runs": 2})

    name = args.keep or f"mdph_bench_retention_{os.getpid()}"
    admin = create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run(f"{PG}/{name}", args.transfers, args.runs, load=not exists)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def batch(conn: Connection, indexed: bool, explain: bool = False) -> tuple[float, int, str]:
    """One batch's statement in a rolled-back transaction: seconds, rows, and the plan if asked."""
    statement = expired_packages(timedelta(days=KEEP_DAYS), utcnow())
    with conn.begin() as transaction:
        if not indexed:
            conn.exec_driver_sql(f"DROP INDEX {INDEX}")
        plan = ""
        if explain:
            compiled = statement.compile(conn, compile_kwargs={"literal_binds": True})
            lines = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}").scalars()
            plan = "\n".join(f"    {line}" for line in lines)
        started = time.perf_counter()
        rows = len(conn.execute(statement).all())
        elapsed = time.perf_counter() - started
        transaction.rollback()
    return elapsed, rows, plan


def run(url: str, transfers: int, runs: int, load: bool) -> None:
    command.upgrade(alembic_config(url), "head")
    raw_url = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(raw_url, autocommit=True) as conn:
        if load:
            conn.execute(DEPARTEMENTS)
            started = time.perf_counter()
            conn.execute(LOAD, {"n": transfers})
            conn.execute(PACKAGES, {"held": KEEP_DAYS + 1})
            conn.execute("VACUUM ANALYZE transfers")
            print(f"loaded {transfers:,} transfers in {time.perf_counter() - started:.1f} s")
        size = conn.execute("SELECT pg_size_pretty(pg_relation_size('transfers'))").fetchone()
        held = conn.execute("SELECT count(*) FROM transfers WHERE package_key IS NOT NULL")
        index = conn.execute(f"SELECT pg_size_pretty(pg_relation_size('{INDEX}'))").fetchone()
        print(f"table transfers {size[0]}; {held.fetchone()[0]:,} hold packages; index {index[0]}")

    engine = create_engine(url)
    times: dict[bool, list[float]] = {False: [], True: []}
    with engine.connect() as conn:
        for indexed in (False, True):  # warm-up, and each side's plan once
            _, rows, plan = batch(conn, indexed, explain=True)
            print(f"\n{'now' if indexed else 'before'}: {rows} rows in the batch; plan:\n{plan}")
        for index in range(runs):  # alternate which side goes first
            for indexed in (bool(index % 2), not index % 2):
                times[indexed].append(batch(conn, indexed)[0])
    engine.dispose()

    print(f"\nretention's batch of expired packages, {runs} runs each, side by side:")
    for indexed, label in ((False, "before, no index"), (True, "now, its index  ")):
        values = times[indexed]
        p50, p95 = statistics.median(values) * 1000, percentile(values, 95) * 1000
        print(f"  {label}  p50 {p50:.1f} ms  p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
