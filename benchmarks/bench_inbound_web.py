"""Inbound polls in process: the web's and PostgreSQL's CPU per call, old and new side by side.

Run from the project root (PostgreSQL of the machine, a Redis of its own):
    .venv/bin/python benchmarks/bench_inbound_web.py [--pending 10000] [--rounds 30]
        [--before DIR]

The same database as `bench_inbound.py` (10,000 transfers ready for 62), polled with 62's
receiver token by the Flask app called as WSGI in one process per checkout: no HTTP server, no
load generator. Each round runs a batch of first pages (100 transfers) then a batch of caught-up
polls in each process, the side that goes first alternating, and reads the CPU the process used
(the web's part) and the CPU of the database's PostgreSQL backends. Batches of the two sides
taking turns for a few minutes see the same machine: medians and quartiles of the batches are
steadier than requests per second under wrk on a shared machine. `--before DIR` is another
checkout of the project (e.g. `git worktree add DIR main`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, cast

import psycopg
from arguments import parse
from bench_inbound import seeded
from harness import ROOT, Hub, cpu_seconds, hub, machine

PATHS = {"first page (100)": "/api/v1/inbound", "caught up (0 new)": "/api/v1/inbound?cursor="}


def serve(pending: int) -> None:
    """Answer `<scenario index> <calls>` lines: web µs and PostgreSQL µs per call, or `nan`."""
    from werkzeug.test import EnvironBuilder

    from mdph_bridge import create_app
    from mdph_bridge.services.receiving import encode_cursor

    app = create_app()
    headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
    paths = [PATHS["first page (100)"], PATHS["caught up (0 new)"] + encode_cursor(pending)]
    environs = [EnvironBuilder(path=path, headers=headers).get_environ() for path in paths]
    monitor = psycopg.connect(os.environ["BENCH_DATABASE"], autocommit=True)

    def backends() -> list[int]:
        rows = monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND application_name = %s",
            (f"bench-{os.environ['BENCH_NAME']}",),
        ).fetchall()
        return sorted(row[0] for row in rows)

    def call(environ: dict[str, Any]) -> None:
        for _ in app.wsgi_app(dict(environ), lambda *_: None):
            pass

    for environ in environs:  # warm up: caches, prepared statements, the watermark
        for _ in range(50):
            call(environ)
    print("ready", flush=True)
    for line in sys.stdin:
        index, calls = (int(word) for word in line.split())
        before_pids = backends()
        database = sum(cpu_seconds(before_pids).values())
        started = time.process_time()
        for _ in range(calls):
            call(environs[index])
        web = (time.process_time() - started) * 1e6 / calls
        after_pids = backends()  # a connection opened or closed meanwhile: not counted
        used = (sum(cpu_seconds(after_pids).values()) - database) * 1e6 / calls
        print(f"{web:.1f} {used if after_pids == before_pids else float('nan'):.1f}", flush=True)


def _pipes(proc: subprocess.Popen[str]) -> tuple[IO[str], IO[str]]:
    """A serving process's input and output (both piped by `start`)."""
    return cast(IO[str], proc.stdin), cast(IO[str], proc.stdout)


def start(h: Hub, name: str, root: Path, token: str) -> subprocess.Popen[str]:
    """One checkout's process, serving the benchmark's database; waits until it is warm."""
    env = {**h.env(), "BENCH_TOKEN": token, "BENCH_NAME": name, "PYTHONPATH": str(root)}
    env["BENCH_DATABASE"] = h.database_url.replace("postgresql+psycopg://", "postgresql://")
    env["MDPH_BRIDGE_DATABASE_URL"] = f"{h.database_url}?application_name=bench-{name}"
    proc = subprocess.Popen(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, "--serve"],
        cwd=root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if _pipes(proc)[1].readline().strip() != "ready":
        raise RuntimeError(f"{name} did not start")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--calls", type=int, default=200, help="first pages per batch (x5 caught up)"
    )
    parser.add_argument("--before", type=Path, help="another checkout, measured beside this one")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parse(parser, {"pending": 300, "rounds": 2, "calls": 10})
    if args.serve:
        serve(int(os.environ.get("BENCH_PENDING", args.pending)))
        return
    print(f"machine: {machine()}")
    before = f" --before {args.before}" if args.before else ""
    print(
        f"command: .venv/bin/python benchmarks/bench_inbound_web.py --pending {args.pending}"
        f" --rounds {args.rounds} --calls {args.calls}{before}"
    )
    with hub("mdph_bench_inbound_web") as h:
        token = seeded(h, args.pending)
        with psycopg.connect(h.database_url.replace("postgresql+psycopg://", "postgresql://")) as c:
            c.execute("ANALYZE transfers")
        os.environ["BENCH_PENDING"] = str(args.pending)
        roots = {"new": ROOT, **({"before": args.before.resolve()} if args.before else {})}
        procs = {name: start(h, name, root, token) for name, root in roots.items()}
        figures: dict[tuple[str, str, str], list[float]] = {}
        loads = []
        for round_ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            names = list(procs) if round_ % 2 == 0 else list(procs)[::-1]
            for index, label in enumerate(PATHS):
                for name in names:
                    ask, answer = _pipes(procs[name])
                    ask.write(f"{index} {args.calls * (1 if index == 0 else 5)}\n")
                    ask.flush()
                    web, database = (float(word) for word in answer.readline().split())
                    figures.setdefault((label, name, "web"), []).append(web)
                    if database == database:  # not nan
                        figures.setdefault((label, name, "PostgreSQL"), []).append(database)
        for proc in procs.values():
            _pipes(proc)[0].close()
            proc.wait()
    print(f"{args.rounds} rounds, load average {min(loads):.1f}-{max(loads):.1f}")
    for (label, name, part), values in figures.items():
        low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        print(
            f"{name:<7}{label:<18} {part:<10} CPU median {statistics.median(values) / 1000:6.3f} ms"
            f"  quartiles {low / 1000:6.3f}-{high / 1000:6.3f} ms  ({len(values)} batches)"
        )


if __name__ == "__main__":
    main()
