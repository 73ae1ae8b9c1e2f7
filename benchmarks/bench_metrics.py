"""The supervisors' metrics API on a million transfers, beside the bare SQL it runs.

Run from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust auth):
    .venv/bin/python benchmarks/bench_metrics.py [--transfers 1000000] [--runs 20]

It creates a scratch database, migrates it, loads the transfers with one INSERT … SELECT over
generate_series (three years of history, four département pairs), then times in the same run:
  - API: GET /api/v1/metrics through Flask's test client (token check, service, JSON);
  - SQL: the very statements the API sent, with their parameters, replayed on a raw psycopg
    connection (no Flask, no SQLAlchemy, no JSON): the bare aggregates the figures need.
The goal is API <= 1.5 x SQL. The scratch database is dropped at the end, unless `--keep NAME`
names it (then a second run with the same name reuses the loaded data).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from arguments import parse
from harness import percentile
from sqlalchemy import create_engine, event, text

from mdph_bridge import create_app
from mdph_bridge.domain.sealing import generate_staging_key
from mdph_bridge.domain.signing import generate_hub_key
from mdph_bridge.migrations import alembic_config
from mdph_bridge.services.admin import add_departement
from mdph_bridge.services.auth import issue_token

PG = os.environ.get("MDPH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
GOAL = 1.5

LOAD = """
WITH base AS (
    SELECT g,
           now() - random() * interval '1095 days' AS s,
           g %% 4 AS pair,
           CASE WHEN random() < 0.2 THEN (random() * 4 * 86400)::bigint ELSE 0 END AS w,
           random() AS fate,
           random() * interval '2 days' AS d1,
           random() * interval '8 days' AS d2,
           random() * interval '3 days' AS d3,
           random() * interval '10 days' AS d4
    FROM generate_series(1, %(n)s) AS g
), steps AS (
    SELECT *,
           s + w * interval '1 second' + d1 AS r,
           s + w * interval '1 second' + d1 + d2 AS dl,
           s + w * interval '1 second' + d1 + d2 + d3 AS ak,
           s + w * interval '1 second' + d1 + d2 + d3 + d4 AS c
    FROM base
), shaped AS (
    SELECT *,
           CASE
               WHEN fate >= 0.97 THEN 'cancelled'
               WHEN fate >= 0.95 THEN 'returned'
               WHEN c <= now() THEN 'completed'
               WHEN ak <= now() THEN 'acknowledged'
               WHEN dl <= now() THEN 'downloaded'
               WHEN r <= now() THEN 'ready'
               ELSE 'received'
           END AS st
    FROM steps
)
INSERT INTO transfers (
    id, origin_code, dest_code, state, numero_dossier_origine, motif, submitted_at, warn_at,
    due_at, state_changed_at, attempts, staging_key_id, problems, warnings, sender_wait_seconds,
    ready_at, downloaded_at, acknowledged_at, completed_at
)
SELECT gen_random_uuid(),
       (ARRAY['59', '62', '59', '80'])[pair + 1],
       (ARRAY['62', '59', '80', '62'])[pair + 1],
       st, 'B-' || g, 'demenagement', s, s + interval '10 days', s + interval '15 days',
       CASE st WHEN 'completed' THEN c WHEN 'acknowledged' THEN ak WHEN 'downloaded' THEN dl
               WHEN 'ready' THEN r ELSE s END,
       0, 'bench', '[]', '[]', CASE WHEN st = 'received' THEN 0 ELSE w END,
       CASE WHEN st IN ('ready', 'downloaded', 'acknowledged', 'completed') THEN r END,
       CASE WHEN st IN ('downloaded', 'acknowledged', 'completed') THEN dl END,
       CASE WHEN st IN ('acknowledged', 'completed') THEN ak END,
       CASE WHEN st = 'completed' THEN c END
FROM shaped
"""


def admin_url() -> str:
    return f"{PG}/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--keep", help="reuse (or keep) this scratch database instead of dropping it"
    )
    args = parse(parser, {"transfers": 2000, "runs": 2})

    name = args.keep or f"mdph_bench_metrics_{os.getpid()}"
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG}/{name}"
    try:
        run(url, args.transfers, args.runs, load=not exists)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(url: str, transfers: int, runs: int, load: bool) -> None:
    command.upgrade(alembic_config(url), "head")
    with tempfile.TemporaryDirectory() as var:
        app = create_app(
            {
                "VAR_DIR": var,
                "DATABASE_URL": url,
                "BROKER_URL": "memory://",
                "STORAGE_DIR": str(Path(var) / "blobs"),
                "SECRET_KEY": "bench",
                "STAGING_KEYS": generate_staging_key("bench"),
                "SIGNING_KEYS": generate_hub_key("bench"),
            }
        )
        backends = app.extensions["mdph_bridge"]
        with app.app_context():
            session = backends.sessions()
            if load:
                for code, nom in (("59", "Nord"), ("62", "Pas-de-Calais"), ("80", "Somme")):
                    add_departement(session, code, nom)
            _, token = issue_token(session, "59", "supervisor", "bench")
            backends.sessions.remove()

        raw_url = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(raw_url, autocommit=True) as conn:
            if load:
                started = time.perf_counter()
                conn.execute(LOAD, {"n": transfers})
                loaded = time.perf_counter() - started
                conn.execute("VACUUM ANALYZE transfers")
                print(f"loaded {transfers:,} transfers in {loaded:.1f} s")
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('transfers'))")
            print(f"table transfers: {size.fetchone()[0]}")
            counts = conn.execute(
                "SELECT state, count(*) FROM transfers GROUP BY state ORDER BY 2 DESC"
            ).fetchall()
            print("states:", ", ".join(f"{s} {n:,}" for s, n in counts))

        statements: list[tuple[str, Any]] = []

        @event.listens_for(backends.engine, "before_cursor_execute")
        def _capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            statements.append((statement, parameters))

        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        def api() -> float:
            statements.clear()
            started = time.perf_counter()
            response = client.get("/api/v1/metrics", headers=headers)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(response.get_data(as_text=True))
            return elapsed

        api()  # warm-up; also captures the statements the API sends
        # The bare side replays the reads that compute the figures, not the token check or the
        # audit entry the API writes.
        aggregates = [
            (sql, params)
            for sql, params in statements
            if sql.lstrip().upper().startswith(("SELECT", "WITH")) and "api_tokens" not in sql
        ]
        body = client.get("/api/v1/metrics", headers=headers).get_json()

        with psycopg.connect(raw_url) as conn:

            def bare(per_query: dict[str, list[float]] | None = None) -> float:
                started = time.perf_counter()
                for sql, params in aggregates:
                    t0 = time.perf_counter()
                    cursor = conn.execute(sql, params)
                    if cursor.description is not None:
                        cursor.fetchall()
                    if per_query is not None:
                        per_query.setdefault(sql, []).append(time.perf_counter() - t0)
                conn.commit()
                return time.perf_counter() - started

            bare()  # warm-up
            api_times, sql_times, per_query = [], [], {}
            for index in range(runs):  # alternate which side goes first
                if index % 2:
                    sql_times.append(bare(per_query))
                    api_times.append(api())
                else:
                    api_times.append(api())
                    sql_times.append(bare(per_query))
        backends.engine.dispose()

    print(
        f"\nsupervisor of 59 sees {sum(r['nombre'] for r in body['etats']):,} transfers; "
        f"{body['delais']['nombre']:,} completed, median {body['delais']['mediane_jours']} days, "
        f"{len(body['alertes'])} listed at risk or late"
    )
    print(f"{len(aggregates)} SQL statements per call; medians of {runs} runs (range):")
    api_median, sql_median = statistics.median(api_times), statistics.median(sql_times)
    for label, median, times in (
        ("API  GET /api/v1/metrics ", api_median, api_times),
        ("SQL  same statements, raw", sql_median, sql_times),
    ):
        print(f"  {label}  {median:7.3f} s  ({min(times):.3f}-{max(times):.3f})")
    for label, times in (("API", api_times), ("SQL", sql_times)):
        p50, p95 = statistics.median(times) * 1000, percentile(times, 95) * 1000
        print(f"  {label}  p50 {p50:.0f} ms  p95 {p95:.0f} ms  ({runs} runs)")
    ratio = api_median / sql_median
    print(f"  ratio API/SQL {ratio:.2f} (goal <= {GOAL}: {'met' if ratio <= GOAL else 'NOT met'})")
    print("\nslowest statements (median s):")
    slowest = sorted(per_query.items(), key=lambda kv: -statistics.median(kv[1]))[:6]
    for sql, times in slowest:
        print(f"  {statistics.median(times):6.3f}  {' '.join(sql.split())[:110]}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
