"""Cost of the audit log on PostgreSQL, the old way (one lock, own transaction after each call)
beside the new (a plain insert in the call's transaction, sealed by one sequencer).

Figures: entries/s appended and sealed with 8 concurrent writer processes (an entry committed
alone, the app's path for a refused call, and for a page of 100 transfers read), beside 8 writers
of psycopg alone (the machine's ceiling), each with its CPU per entry split between the writers,
their PostgreSQL backends and the sequencer (sealing every AUDIT_SEAL_INTERVAL_SECONDS, as the
hub's does), and the rate two free cores would allow; the sequencer's sealing speed, the audit's
share of one API call, and the verification speed of the chain.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from arguments import parse
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import create_database, drop_database

from mdph_bridge.config import load_config
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
SEAL_INTERVAL = load_config({})["AUDIT_SEAL_INTERVAL_SECONDS"]  # the hub's default


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


def backend_cpu(pid: int) -> float:
    """CPU seconds a PostgreSQL backend of this machine has used so far, to the nanosecond (the
    scheduler's count: /proc's ticks of 10 ms are too coarse for one backend)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def _write(
    url: str,
    write: Callable[[Session, Actor], None],
    n: int,
    count: int,
    start: Any,
    finished: Any,
) -> None:
    """One writer process: its own engine and session, `count` calls, one commit each."""
    name = f"bench-writer-{n}"  # its connections say so: those open when the clock starts count
    named = make_url(url).update_query_dict({"application_name": name})
    engine = make_engine(named.render_as_string(hide_password=False))
    actor = Actor(f"bench-{n}", "receiver", "62")
    with Session(engine, expire_on_commit=False) as session:
        write(session, actor)  # connected, mappers configured, before the clock starts
        with engine.connect() as connection:  # the pool's one connection, used by every call
            backends = connection.exec_driver_sql(
                "SELECT array_agg(pid) FROM pg_stat_activity WHERE application_name = %(name)s",
                {"name": name},
            ).scalar_one()
        start.wait()
        cpu, database = time.process_time(), sum(map(backend_cpu, backends))
        for _ in range(count):
            write(session, actor)
        # Before the interpreter's exit, which is not the audit's; CPU is less disturbed by a
        # busy machine than the clock.
        used = (time.process_time() - cpu, sum(map(backend_cpu, backends)) - database)
    finished.put((time.monotonic(), *used))
    engine.dispose()


def _spawn(
    target: Callable[..., None],
    args: Callable[[int], tuple[Any, ...]],
    written: Callable[[], None] = lambda: None,
) -> tuple[float, float, float, float]:
    """Run 8 processes of `target` (with `args(n)`, then the start barrier and the result queue),
    released together; call `written` once they all wrote, before their exit; return when they
    started and when the last one finished (time.monotonic, shared by the processes), their CPU
    seconds in all and their PostgreSQL backends'."""
    context = multiprocessing.get_context("spawn")  # no fork beside the sequencer thread
    start, finished = context.Barrier(WRITERS + 1), context.Queue()
    processes = [
        context.Process(target=target, args=(*args(n), start, finished)) for n in range(WRITERS)
    ]
    for process in processes:
        process.start()
    start.wait()
    began = time.monotonic()
    ends, cpus, databases = zip(*(finished.get() for _ in processes), strict=True)
    written()
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a writer failed (exit code {process.exitcode})")
    return began, max(ends), sum(cpus), sum(databases)


@dataclass
class Cost:
    """Entries written, seconds taken and CPU seconds used by each side, per run."""

    entries: int
    seconds: float
    writers: float
    database: float
    sequencer: float = 0.0

    def line(self) -> str:
        """Entries/s, CPU µs per entry by side, and what two free cores would allow."""
        per = [1e6 * cpu / self.entries for cpu in (self.writers, self.database, self.sequencer)]
        return (
            f"{self.entries / self.seconds:,.0f} entries/s; CPU per entry: writers {per[0]:,.0f}"
            f" + PostgreSQL {per[1]:,.0f} + sequencer {per[2]:,.0f} µs"
            f" (two free cores: ~{2e6 / sum(per):,.0f} entries/s)"
        )


def writers(
    url: str,
    write: Callable[[Session, Actor], None],
    total: int,
    written: Callable[[], None] = lambda: None,
) -> tuple[float, Cost]:
    """Write about `total` entries from 8 processes (as 8 web workers would), one commit per call.

    Returns when the writers started and what they cost until the last one finished.
    Processes, not threads: threads would share one interpreter lock and measure Python, not the
    audit's contention.
    """
    calls = max(1, total // (WRITERS * PER_CALL[write]))
    began, ended, cpu, database = _spawn(_write, lambda n: (url, write, n, calls), written)
    return began, Cost(calls * WRITERS * PER_CALL[write], ended - began, cpu, database)


def appended_and_sealed(
    url: str,
    sessions: sessionmaker,
    signer: HubSigner,
    total: int,
    write: Callable[[Session, Actor], None],
) -> Cost:
    """8 writers append while one sequencer seals; what it costs until the last one is sealed.

    The sequencer runs as the hub's does (workers/sequencer.py): it seals everything pending,
    then waits the default interval; it seals the rest as soon as the writers are done.
    """
    done = threading.Event()
    sealed, used, sealed_at = [0], [0.0], [0.0]

    def sequencer() -> None:
        with sessions() as session:
            backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            session.rollback()
            cpu, database = time.thread_time(), backend_cpu(backend)
            while not done.wait(SEAL_INTERVAL):
                sealed[0] += seal_all(session, signer)
            sealed[0] += seal_all(session, signer)
            sealed_at[0] = time.monotonic()
            used[0] = time.thread_time() - cpu + backend_cpu(backend) - database

    thread = threading.Thread(target=sequencer)
    thread.start()
    began, cost = writers(url, write, total, done.set)  # not the writers' exit: not the audit's
    thread.join()
    cost.seconds = sealed_at[0] - began
    cost.sequencer = used[0]
    if sealed[0] != cost.entries + WRITERS * PER_CALL[write]:  # with each writer's warm-up call
        raise SystemExit(f"{sealed[0]} entries sealed out of {cost.entries}")
    return cost


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
        backend = connection.info.backend_pid
        start.wait()
        cpu, database = time.process_time(), backend_cpu(backend)
        for _ in range(count):
            connection.execute(BARE_INSERT, row)
        used = (time.process_time() - cpu, backend_cpu(backend) - database)
    finished.put((time.monotonic(), *used))


BARE_INSERT = (
    "INSERT INTO audit_pending (at, actor, role, departement, action, object_type, object_id,"
    " outcome) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def ceiling(url: str, total: int) -> Cost:
    """What 8 bare psycopg writers cost, nothing sealed: what this machine allows a commit per
    entry before any of the hub's code runs."""
    count = max(1, total // WRITERS)
    began, ended, cpu, database = _spawn(bare_insert, lambda n: (url, n, count))
    return Cost(count * WRITERS, ended - began, cpu, database)


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
        _, old = writers(url, old_record, args.entries)
        with sessions() as session:  # the new path starts its own chain
            session.execute(text("TRUNCATE audit_entries, audit_chain"))
            session.commit()
        print(f"{WRITERS} writers, one commit per entry, old (locked chain): {old.line()}")
        for write, what in (
            (new_record, "one commit per entry"),
            (refused_call, "refused calls, an entry alone"),
            (page_read, "pages of 100, an entry per transfer"),
        ):
            # Pages: ten times the entries, or the figure would be mostly the last batch's seal.
            total = args.entries * (10 if write is page_read else 1)
            cost = appended_and_sealed(url, sessions, signer, total, write)
            print(f"{WRITERS} writers, {what}, new, appended and sealed: {cost.line()}")
        print(
            f"{WRITERS} writers, psycopg alone, an autocommitted insert per entry, nothing sealed"
            f" (the machine's ceiling): {ceiling(url, args.entries).line()}"
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
