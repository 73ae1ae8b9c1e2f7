"""Cost of the audit log on PostgreSQL, the old way (one lock, own transaction after each call)
beside the new (a plain insert in the call's transaction, sealed by one sequencer).

Figures: entries/s appended and sealed with 8 concurrent writer processes (an entry committed
alone, the app's path for a refused call, and for a page of 100 transfers read), beside 8 writers
of psycopg alone (the machine's ceiling); the sequencer's sealing speed, the audit's share of one
API call, and the verification speed of the chain.

Run from the project root: .venv/bin/python benchmarks/bench_audit.py [--entries 8000] [--smoke]
Needs the test PostgreSQL (MDPH_TEST_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432);
it creates and drops its own database.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from arguments import parse
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import create_database, drop_database

from mdph_bridge.domain.checkpoints import link
from mdph_bridge.domain.signing import HubSigner, generate_hub_key
from mdph_bridge.extensions import make_engine
from mdph_bridge.migrations import alembic_config
from mdph_bridge.models import AuditChain, AuditEntry, utcnow
from mdph_bridge.services.audit import (
    Actor,
    Call,
    leaf_hash,
    publics_of,
    record,
    record_call,
    seal,
    seal_all,
    verify,
)

NAME = f"mdph_bench_audit_{os.getpid()}"  # runs side by side do not share a database
WRITERS = 8
OLD_LOCK = 0x6D647068_61756474  # the advisory lock the old writers took


def old_record(session: Session, actor: Actor) -> None:
    """The old path: take the chain's lock, chain the entry, write it, commit."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": OLD_LOCK})
    chain = session.get(AuditChain, 1, populate_existing=True)
    fields = {
        "seq": chain.last_seq + 1,
        "at": utcnow(),
        "actor": actor.id,
        "role": actor.role,
        "departement": actor.departement,
        "action": "inbound.detail",
        "object_type": "transfer",
        "object_id": "0",
        "outcome": "200",
        "client": None,
    }
    head = link(chain.last_hash, leaf_hash(fields))
    session.add(AuditEntry(**fields, prev_hash=chain.last_hash, hash=head))
    chain.last_seq, chain.last_hash = fields["seq"], head
    session.commit()


def new_record(session: Session, actor: Actor) -> None:
    """The new path: one insert, no lock, committed (a change's own commit would carry it)."""
    record(session, actor, "inbound.detail", "transfer", 0, "200")
    session.commit()


def refused_call(session: Session, actor: Actor) -> None:
    """The app's path for a refused call (401, 403, 404, 429): its entry alone, autocommitted."""
    record_call(session, Call(actor, "inbound.detail", "transfer", 0), "404", [0], "c" * 16, False)


def page_read(session: Session, actor: Actor) -> None:
    """The app's path for a page of 100 transfers read: an entry each, committed with the read."""
    session.execute(text("SELECT 1"))  # the page's read began the transaction
    record_call(session, Call(actor, "inbound.index", "transfer"), "200", PAGE_IDS)


PER_CALL = {old_record: 1, new_record: 1, refused_call: 1, page_read: 100}
PAGE_IDS = list(range(100))


def _write(
    url: str,
    write: Callable[[Session, Actor], None],
    n: int,
    count: int,
    start: Any,
    finished: Any,
) -> None:
    """One writer process: its own engine and session, `count` calls, one commit each."""
    engine = make_engine(url)
    actor = Actor(f"bench-{n}", "receiver", "62")
    with Session(engine, expire_on_commit=False) as session:
        write(session, actor)  # connected, mappers configured, before the clock starts
        start.wait()
        cpu = time.process_time()
        for _ in range(count):
            write(session, actor)
    # Before the interpreter's exit, which is not the audit's; CPU is less disturbed by a busy
    # machine than the clock.
    finished.put((time.monotonic(), time.process_time() - cpu))
    engine.dispose()


def _spawn(
    target: Callable[..., None], args: Callable[[int], tuple[Any, ...]]
) -> tuple[float, float, float]:
    """Run 8 processes of `target` (with `args(n)`, then the start barrier and the result queue),
    released together; return when they started and when the last one finished (time.monotonic,
    shared by the processes), and their CPU seconds in all."""
    context = multiprocessing.get_context("spawn")  # no fork beside the sequencer thread
    start, finished = context.Barrier(WRITERS + 1), context.Queue()
    processes = [
        context.Process(target=target, args=(*args(n), start, finished)) for n in range(WRITERS)
    ]
    for process in processes:
        process.start()
    start.wait()
    began = time.monotonic()
    ends, cpus = zip(*(finished.get() for _ in processes), strict=True)
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a writer failed (exit code {process.exitcode})")
    return began, max(ends), sum(cpus)


def writers(
    url: str, write: Callable[[Session, Actor], None], total: int
) -> tuple[float, float, float, int]:
    """Write about `total` entries from 8 processes (as 8 web workers would), one commit per call.

    Returns when the writers started and when the last one finished, their CPU seconds and the
    entries written. Processes, not threads: threads would share one interpreter lock and measure
    Python, not the audit's contention.
    """
    calls = max(1, total // (WRITERS * PER_CALL[write]))
    began, ended, cpu = _spawn(_write, lambda n: (url, write, n, calls))
    return began, ended, cpu, calls * WRITERS * PER_CALL[write]


def entries_per_second(
    url: str, write: Callable[[Session, Actor], None], total: int
) -> tuple[float, float]:
    """Entries/s that 8 writer processes append, one commit each, and their CPU µs per entry."""
    began, ended, cpu, written = writers(url, write, total)
    return written / (ended - began), cpu / written * 1e6


def appended_and_sealed(
    url: str,
    sessions: sessionmaker,
    signer: HubSigner,
    total: int,
    write: Callable[[Session, Actor], None],
) -> tuple[float, float]:
    """8 writers append while one sequencer seals; entries/s until the last one is sealed, and
    the writers' CPU µs per entry."""
    done = threading.Event()
    sealed = [0]

    def sequencer() -> None:
        with sessions() as session:
            while not done.is_set():
                sealed[0] += seal(session, signer) or (time.sleep(0.05) or 0)
            while count := seal(session, signer):
                sealed[0] += count

    thread = threading.Thread(target=sequencer)
    thread.start()
    began, _, cpu, written = writers(url, write, total)
    done.set()
    thread.join()
    elapsed = time.monotonic() - began
    if sealed[0] != written + WRITERS * PER_CALL[write]:  # with each writer's warm-up call
        raise SystemExit(f"{sealed[0]} entries sealed out of {written}")
    return written / elapsed, cpu / written * 1e6


def share_of_a_call(sessions: sessionmaker, old: bool, n: int) -> float:
    """Median milliseconds the audit adds to one call that already commits a change."""
    actor = Actor("bench", "receiver", "62")
    times = []
    with sessions() as session:
        for _ in range(n):
            session.execute(text("SELECT 1"))  # the call's own transaction is open
            start = time.perf_counter()
            if old:  # the old audit: after the call's commit, a transaction of its own
                session.commit()
                old_record(session, actor)
            else:  # the new audit: an insert in the call's transaction, same commit
                record(session, actor, "inbound.detail", "transfer", 0, "200")
            times.append(time.perf_counter() - start)
            session.commit()
    return statistics.median(times) * 1000


def bare_insert(url: str, n: int, count: int, start: Any, finished: Any) -> None:
    """A writer with psycopg alone: one autocommitted insert per entry, nothing else."""
    row = (utcnow(), f"bench-{n}", "receiver", "62", "inbound.detail", "transfer", "0", "404")
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(BARE_INSERT, row)
        start.wait()
        cpu = time.process_time()
        for _ in range(count):
            connection.execute(BARE_INSERT, row)
        finished.put((time.monotonic(), time.process_time() - cpu))


BARE_INSERT = (
    "INSERT INTO audit_pending (at, actor, role, departement, action, object_type, object_id,"
    " outcome) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def ceiling(url: str, total: int) -> tuple[float, float]:
    """Entries/s and client CPU µs/entry of 8 bare psycopg writers, nothing sealed: what this
    machine allows a commit per entry before any of the hub's code runs."""
    count = max(1, total // WRITERS)
    began, ended, cpu = _spawn(bare_insert, lambda n: (url, n, count))
    return count * WRITERS / (ended - began), cpu / (count * WRITERS) * 1e6


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=8000)
    args = parse(parser, {"entries": 48})
    signer = HubSigner.parse(generate_hub_key("bench"))
    url = create_database(NAME)
    try:
        command.upgrade(alembic_config(url), "head")
        engine = make_engine(url)
        sessions = sessionmaker(bind=engine, expire_on_commit=False)
        old, old_cpu = entries_per_second(url, old_record, args.entries)
        with sessions() as session:  # the new path starts its own chain
            session.execute(text("TRUNCATE audit_entries, audit_chain"))
            session.commit()
        print(
            f"{WRITERS} writers, one commit per entry: old {old:,.0f} entries/s (locked chain),"
            f" writers' CPU {old_cpu:,.0f} µs/entry"
        )
        for write, what in (
            (new_record, "one commit per entry"),
            (refused_call, "refused calls, an entry alone"),
            (page_read, "pages of 100, an entry per transfer"),
        ):
            # Pages: ten times the entries, or the figure would be mostly the last batch's seal.
            total = args.entries * (10 if write is page_read else 1)
            new, new_cpu = appended_and_sealed(url, sessions, signer, total, write)
            print(
                f"{WRITERS} writers, {what}: new {new:,.0f} entries/s appended and sealed,"
                f" writers' CPU {new_cpu:,.0f} µs/entry"
            )
        bare, bare_cpu = ceiling(url, args.entries)
        print(
            f"{WRITERS} writers, psycopg alone, an autocommitted insert per entry, nothing sealed:"
            f" {bare:,.0f} entries/s, writers' CPU {bare_cpu:,.0f} µs/entry (the machine's ceiling)"
        )
        with sessions() as session:  # the next figure starts from an empty queue
            seal_all(session, signer)
        writers(url, new_record, args.entries)
        with sessions() as session:
            start = time.perf_counter()
            count = 0
            while batch := seal(session, signer):
                count += batch
            elapsed = time.perf_counter() - start
        print(
            f"sequencer alone: {count:,} entries sealed in {elapsed:.2f} s "
            f"({count / elapsed:,.0f}/s)"
        )
        calls = max(50, args.entries // 20)
        print(
            f"audit share of an API call (median of {calls}): old "
            f"{share_of_a_call(sessions, True, calls):.2f} ms, new "
            f"{share_of_a_call(sessions, False, calls):.2f} ms"
        )
        with sessions() as session:
            while seal(session, signer):
                pass
            count = session.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
            start = time.perf_counter()
            result = verify(session, publics_of(signer))
            elapsed = time.perf_counter() - start
        if not result.ok:
            raise SystemExit(f"chain broken at entry {result.bad_seq}: {result.problem}")
        print(f"verify: {count:,} entries in {elapsed:.2f} s ({count / elapsed:,.0f} entries/s)")
        engine.dispose()
    finally:
        drop_database(NAME)


if __name__ == "__main__":
    main()
