"""CPU and database round trips of one small transfer, web side and worker side, in one process.

Run from the project root (PostgreSQL and Redis of the machine, as the tests use):
    .venv/bin/python benchmarks/bench_transfer_cpu.py [--count 200] [--before DIR] [--profile DIR]
        [--sample DIR] [--keyed]

The submission goes through the Flask app (test client: token, multipart, sealing, validation,
commit, wake-up message) and the processing is called as the worker's task calls it, so the CPU
time of each side is measured without gunicorn, Celery or the load generator in the way: a
figure that a busy machine disturbs far less than a throughput. SQL statements are counted on
psycopg's cursors (those SQLAlchemy sends and those sent on the driver itself; psycopg's implicit
BEGIN is not one), commits as the `COMMIT`s psycopg sends (a statement in autocommit needs none;
until 2026-12-05 the engine's commits were counted, a commit without a transaction too), pings on
the dialect. `--before DIR` runs
the same measurement on another checkout of the project (e.g. `git worktree add DIR main`), each
side in a fresh process, alternately (before first in the first run, now first in the second, and
so on), and prints medians. Without `--before`, `--sample DIR` samples the web's and the worker's
stacks every 0.5 ms, weighed by the
CPU (user and kernel) used since the previous sample, into
`DIR/web.txt` and `DIR/worker.txt` (microseconds per stack) for `benchmarks/profile_summary.py`:
unlike py-spy it counts no waiting, unlike cProfile it does not inflate Python calls.
The last figures are the updates of
`transfers` per transfer, how many of them were HOT (heap-only: no index entry written), and the
table's heap bytes per transfer. `--profile DIR` writes cProfile files timed by the thread's CPU
clock. `--keyed` sends each
submission with its own Idempotency-Key, as docs/API.md's walk-through does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# The hub's PostgreSQL backends: those of its database but the one listing them.
BACKENDS = (
    "SELECT pid FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
FIGURES = ("web_cpu_ms", "worker_cpu_ms", "web_sql", "web_pings", "web_commits")
FIGURES += ("worker_sql", "worker_pings", "worker_commits", "web_pg_ms", "worker_pg_ms")
FIGURES += ("updates", "hot_updates", "table_bytes")
# Updates of `transfers` and how many were HOT (no index entry written), per transfer, warm-up
# included; its heap's size per transfer. Read once the hub's backends have exited (they send
# their counts to the statistics when they end).
TABLE_STATS = (
    "SELECT n_tup_upd, n_tup_hot_upd, pg_relation_size(relid)"
    " FROM pg_stat_user_tables WHERE relname = 'transfers'"
)


class CpuSampler:
    """Weigh the measured thread's stacks by the CPU it used (user and kernel) between samples.

    A thread wakes every 0.5 ms and charges the measured thread's CPU time since the last sample
    to the stack that thread is in. A `SIGPROF` timer, used before, fires on the kernel's clock
    tick (one sample per ~4 ms of CPU on this machine); the switch interval is lowered to 0.5 ms
    while sampling so that the sampler gets the interpreter that often from running Python.
    """

    interval = 0.0005

    def __init__(self) -> None:
        self.stacks: Counter[str] = Counter()  # microseconds of CPU per stack
        self._stop = threading.Event()

    def _run(self, ident: int) -> None:
        clock = time.pthread_getcpuclockid(ident)
        last = time.clock_gettime(clock)
        while not self._stop.wait(self.interval):
            used = time.clock_gettime(clock) - last
            frame = sys._current_frames().get(ident)
            if frame is None or used <= 0:
                continue
            last += used
            frames = []
            while frame is not None:
                code = frame.f_code
                frames.append(f"{code.co_name} ({code.co_filename}:{code.co_firstlineno})")
                frame = frame.f_back
            self.stacks[";".join(reversed(frames))] += round(used * 1_000_000)

    def __enter__(self) -> CpuSampler:
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(self.interval)
        self._thread = threading.Thread(target=self._run, args=(threading.get_ident(),))
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(self._switch)

    def write(self, path: Path) -> None:
        """Write the stacks as py-spy's raw format does: `frame;frame;… count` per line."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{stack} {n}\n" for stack, n in self.stacks.items()))


def measure(
    count: int,
    profile: Path | None,
    sample: Path | None = None,
    on_side: Callable[[str], None] | None = None,
    keyed: bool = False,
) -> dict[str, float]:
    """Submit and process `count` transfers in this process; return the figures per transfer.

    `on_side` is called with each side's name before it is measured.
    """
    import cProfile
    from datetime import timedelta

    import psycopg
    from harness import CpuMeter, hub  # after sys.path: the code measured may be another checkout
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from mdph_bridge import create_app
    from mdph_bridge.services.admin import create_demo
    from mdph_bridge.services.processing import Limits, process_transfer

    sys.path.insert(0, str(HERE.parent / "tests"))
    from dossiers import PDF, dossier, multipart

    files = {"justificatif.pdf": PDF + os.urandom(2048)}
    request = multipart(dossier(files=files), files)
    with hub("mdph_bench_transfer_cpu") as h:
        app = create_app(h.settings())
        backends, cfg = app.extensions["mdph_bridge"], app.config
        with app.app_context():
            demo = create_demo(backends.sessions(), h.var / "keys")
            backends.sessions.remove()
        client = app.test_client()
        headers = {
            "Authorization": f"Bearer {demo['59']['jetons']['caseworker']}",
            "Content-Type": request["content_type"],
        }
        counts = {"sql": 0, "pings": 0, "commits": 0}

        execute, commit = psycopg.Cursor.execute, psycopg.Connection.commit

        def sent(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            counts["sql"] += 1
            return execute(cursor, *args, **kwargs)

        def committed(connection: Any) -> None:
            if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                counts["commits"] += 1  # a COMMIT is sent
            commit(connection)

        psycopg.Cursor.execute = sent  # type: ignore[method-assign]
        psycopg.Connection.commit = committed  # type: ignore[method-assign]
        real_ping = backends.engine.dialect.do_ping

        def ping(connection: Any) -> bool:
            counts["pings"] += 1
            return bool(real_ping(connection))

        backends.engine.dialect.do_ping = ping  # type: ignore[method-assign]
        limits = Limits(timedelta(seconds=900), 5)
        meter_engine = create_engine(h.database_url, poolclass=NullPool)

        def pg_backends() -> list[int]:
            with meter_engine.connect() as conn:
                return list(conn.scalars(text(BACKENDS)))

        def submit() -> uuid.UUID:
            key = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
            response = client.post(
                "/api/v1/transfers", data=request["data"], headers={**headers, **key}
            )
            if response.status_code != 202:
                raise RuntimeError(f"HTTP {response.status_code} {response.data[:300]!r}")
            return uuid.UUID(response.get_json()["id"])

        def work(transfer_id: uuid.UUID) -> None:
            with app.app_context():
                process_transfer(
                    backends.sessions(), backends.storage, cfg["KEYRING"], cfg["SIGNER"],
                    cfg["RULES"], limits, transfer_id,
                )  # fmt: skip
                backends.sessions.remove()

        for _ in range(10):  # warm up
            work(submit())
        figures: dict[str, float] = {}
        for side in ("web", "worker"):
            if on_side:
                on_side(side)
            profiler = cProfile.Profile(time.thread_time) if profile else None
            sampler = CpuSampler() if sample else None
            counts.update(sql=0, pings=0, commits=0)
            meter = CpuMeter({"postgres": pg_backends}, every=1.0).__enter__()
            started = time.process_time()
            if profiler:
                profiler.enable()
            with sampler or contextlib.nullcontext():
                if side == "web":
                    ids = [submit() for _ in range(count)]
                else:
                    for transfer_id in ids:
                        work(transfer_id)
            if sampler and sample:
                sampler.write(sample / f"{side}.txt")
            if profiler and profile:
                profiler.disable()
                profile.mkdir(parents=True, exist_ok=True)
                profiler.dump_stats(profile / f"{side}.prof")
            figures[f"{side}_cpu_ms"] = (time.process_time() - started) / count * 1000
            meter.__exit__()
            figures[f"{side}_pg_ms"] = meter.used()["postgres"] / count * 1000
            for name, value in counts.items():
                figures[f"{side}_{name}"] = value / count
        app.extensions["mdph_bridge"].engine.dispose()
        for _ in range(50):  # until the hub's backends have exited
            if not pg_backends():
                break
            time.sleep(0.1)
        with meter_engine.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            updates, hot, size = conn.execute(text(TABLE_STATS)).one()
        total = count + 10  # the warm-up's transfers too
        figures.update(updates=updates / total, hot_updates=hot / total, table_bytes=size / total)
        meter_engine.dispose()
    return figures


def run_side(code: Path, count: int, keyed: bool = False) -> dict[str, float]:
    """Measure in a fresh process importing the hub's code from `code`."""
    keys = ["--keyed"] if keyed else []
    output = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, "--count", str(count), "--code", str(code), *keys],
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(zip(FIGURES, map(float, output.split()[-len(FIGURES) :]), strict=True))


def row(label: str, figures: dict[str, float]) -> str:
    """One printed row."""
    f = figures
    return (
        f"{label:<7} web {f['web_cpu_ms']:5.2f} ms CPU, {f['web_sql']:.0f} SQL, "
        f"{f['web_pings']:.1f} pings, {f['web_commits']:.0f} commits, "
        f"PostgreSQL {f['web_pg_ms']:4.2f} ms | "
        f"worker {f['worker_cpu_ms']:5.2f} ms CPU, {f['worker_sql']:.0f} SQL, "
        f"{f['worker_pings']:.1f} pings, {f['worker_commits']:.0f} commits, "
        f"PostgreSQL {f['worker_pg_ms']:4.2f} ms | transfers: {f['updates']:.2f} updates, "
        f"{f['hot_updates']:.2f} HOT, {f['table_bytes']:.0f} heap bytes per transfer"
    )


def main() -> None:
    """Print the figures of this checkout, and of `--before` beside them."""
    from arguments import parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200, help="transfers per measurement")
    parser.add_argument("--runs", type=int, default=3, help="measurements per side (--before)")
    parser.add_argument("--before", type=Path, help="another checkout measured beside this one")
    parser.add_argument("--profile", type=Path, help="folder for cProfile files (web, worker)")
    parser.add_argument("--sample", type=Path, help="folder for CPU-time stack samples")
    parser.add_argument("--keyed", action="store_true", help="an Idempotency-Key per submission")
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # a side's own process
    args = parse(parser, {"count": 5, "runs": 2})  # two runs: both orders
    if args.before and (args.profile or args.sample):
        parser.error("--profile and --sample record this checkout alone: without --before")
    if args.code:
        figures = measure(args.count, None, keyed=args.keyed)
        print(" ".join(f"{figures[name]:.4f}" for name in FIGURES))
        return
    print(f"command: .venv/bin/python benchmarks/bench_transfer_cpu.py --count {args.count}"
          + (f" --before {args.before} --runs {args.runs}" if args.before else "")
          + (" --keyed" if args.keyed else "")
          + (f" --profile {args.profile}" if args.profile else "")
          + (f" --sample {args.sample}" if args.sample else ""))  # fmt: skip
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.before:
        print(row("this", measure(args.count, args.profile, args.sample, keyed=args.keyed)))
        return
    sides = {"before": args.before.resolve(), "now": HERE.parent}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for i in range(args.runs):  # alternated: the first of a pair runs in a colder cache
        order = sorted(sides, reverse=i % 2 == 1)
        for name in order:
            runs[name].append(run_side(sides[name], args.count, args.keyed))
        worker = ", ".join(f"{n} {runs[n][-1]['worker_cpu_ms']:.2f}" for n in order)
        print(f"run {i + 1}/{args.runs}: worker ms CPU {worker}", flush=True)
    for name in sides:
        medians = {k: statistics.median(r[k] for r in runs[name]) for k in FIGURES}
        print(row(name, medians) + f"   (medians of {args.runs})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
