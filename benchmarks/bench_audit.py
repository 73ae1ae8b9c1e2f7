"""Cost of the audit log on PostgreSQL: entries per second for 1 and 8 concurrent writers (one
commit per entry, as the API does), and verification speed of the whole chain.

Run from the project root: .venv/bin/python benchmarks/bench_audit.py [--entries 4000]
Needs the test PostgreSQL (MDPH_TEST_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432);
it creates and drops its own database.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

from alembic import command
from arguments import parse
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import create_database, drop_database

from mdph_bridge.extensions import make_engine
from mdph_bridge.migrations import alembic_config
from mdph_bridge.services.audit import Actor, record, verify

NAME = f"mdph_bench_audit_{os.getpid()}"


def write(sessions: sessionmaker, writers: int, total: int) -> float:
    """Write `total` entries from `writers` threads; return entries per second."""
    per_writer = total // writers
    barrier = threading.Barrier(writers + 1)

    def run(n: int) -> None:
        session = sessions()
        actor = Actor(f"bench-{n}", "receiver", "62")
        barrier.wait()
        for i in range(per_writer):
            record(session, actor, "inbound.detail", "transfer", i, "200")
            session.commit()
        session.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return per_writer * writers / (time.perf_counter() - start)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=4000)
    args = parse(parser, {"entries": 50})
    url = create_database(NAME)
    try:
        command.upgrade(alembic_config(url), "head")
        engine = make_engine(url)
        sessions = sessionmaker(bind=engine, expire_on_commit=False)
        for writers in (1, 8):
            rate = write(sessions, writers, args.entries)
            print(f"{writers} writer(s): {rate:,.0f} entries/s (one commit each)")
        with sessions() as session:
            count = session.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
            start = time.perf_counter()
            result = verify(session)
            elapsed = time.perf_counter() - start
        if not result.ok:
            raise SystemExit(f"chain broken at entry {result.bad_seq}: {result.problem}")
        print(f"verify: {count:,} entries in {elapsed:.2f} s ({count / elapsed:,.0f} entries/s)")
        engine.dispose()
    finally:
        drop_database(NAME)


if __name__ == "__main__":
    main()
