"""End-to-end small transfers against the bare pipeline, measured in the same run.

Run from the project root (PostgreSQL and Redis of the machine, as the tests use):
    .venv/bin/python benchmarks/bench_pipeline.py [--levels 1,4,16] [--count 300]

Hub: gunicorn as `mdph-bridge serve` and the image run it (`harness.Hub.gunicorn`: 2 threaded
workers, `mdph_bridge.gunicorn_conf`) → authentication, multipart streaming and sealing, dossier
validation → PostgreSQL commit → Redis → one prefork Celery worker (concurrency 2) → business
validation, rights mapping, tar + age encryption, signed manifest → storage → `ready`. Bare: the
same gunicorn, started the same way, serving `benchmarks/bare_pipeline.py` (read the body, one
insert, one Celery hop, one update). Both get the same multipart body (a dossier and a 2 KiB PDF),
from closed-loop clients at each concurrency level, then from an open loop at half the hub's best
throughput. The clients keep their connections alive, as nginx in front of the deployed hub keeps
its own to gunicorn (deploy/nginx: upstream `keepalive 16`): a submission takes an idle connection
or opens one, and one that gunicorn closed while idle is reopened; each row ends with how many
connections its clients opened. Until 2026-12-05 each submission opened its own, which cost each
side's web ~0.3 ms of CPU that the deployed hub does not spend (docs/PERFORMANCE.md).
Latency is submit→ready: from the client sending the request to the `ready_at` (hub) or `done_at`
(bare) the database recorded, on the same clock. The load generator shares the 2 cores.

CPU per transfer is what the web processes, the worker processes, Redis and the hub database's
PostgreSQL backends used during a level (from /proc; the backends listed again every 50 ms, since
the web's threads open their connections as the load needs them), divided by its submissions. The
open loop's submit→ready splits into its stages (HTTP answer, wait in the queue until a worker
claimed it, processing until `ready`), from the transfer's own events, so that a tail can be placed.
`--before DIR` runs the hub a second time from another checkout of the project (e.g.
`git worktree add DIR main`, or `git archive main | tar -x -C DIR`), in the same run and database,
before this checkout's hub; `--now-first` runs this checkout's first. The side run second meets
the first side's file-system churn (on a journal-less ext4, each new file scans the inodes freed
in the last minutes): alternate the order between runs and compare pairs, and give `--settle 120`
to wait that long before the second side, which then pays for no churn but its own. Each side
first serves `--warm-up` submissions from 4 clients, unmeasured (100 by default; 20 until
2026-12-05 evening, which seemed to leave the first hub side's first level paying for its fresh
tables, indexes and folders). `--rounds R` measures every side R times in one run, the order
reversed each round (A B C, C B A, ...), and takes hub/bare within each round, then their median:
this machine's speed drifts by tens of percent from one minute to the next (2026-12-05 evening,
docs/PERFORMANCE.md), and a ratio of two sides measured minutes apart moves with it. Before each
side's closed loops a fixed piece of work is timed on one thread (`host probe`), its CPU time and
its wall time: the same code each time, so a spread of its CPU time is the host's speed, and wall
time well above CPU time is other processes' load.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from arguments import parse
from harness import (
    BIN,
    PG_URL,
    ROOT,
    CpuMeter,
    children,
    free_port,
    host_probe,
    hub,
    machine,
    percentile,
    summary_ms,
)
from sqlalchemy import create_engine, text

from mdph_bridge import create_app
from mdph_bridge.services.admin import create_demo

HUB_PORT, BARE_PORT = free_port(), free_port()
BARE_SCHEMA = (
    "CREATE TABLE bare_jobs (id uuid PRIMARY KEY, body_size int NOT NULL,"
    " submitted_at timestamptz NOT NULL, done_at timestamptz)"
)


@dataclass
class Target:
    """Where to post, with what, and how to read back when each submission was done."""

    name: str
    port: int
    path: str
    headers: dict[str, str]
    body: bytes
    done_query: str


@dataclass
class Result:
    """Figures of one run."""

    throughput: float
    latencies: list[float]
    http: list[float]
    ids: list[str]
    connections: int = 0  # TCP connections the clients opened
    cpu: dict[str, float] | None = None  # role -> CPU seconds used during the run


STAGES_QUERY = """
SELECT t.submitted_at, min(e.at) FILTER (WHERE e.to_state = 'validating'), t.ready_at
FROM transfers t JOIN transfer_events e ON e.transfer_id = t.id
WHERE t.id = ANY(CAST(:ids AS uuid[])) GROUP BY t.id
"""
# The hub database's backends, but not this script's own (it polls for `ready`).
BACKENDS_QUERY = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND application_name <> 'bench'"
)


class Meter:
    """CPU used by each role of one side (web, worker, redis, postgres) from now to `used()`."""

    def __init__(self, engine: Any, procs: dict[str, subprocess.Popen[bytes]]) -> None:
        def backends() -> list[int]:
            with engine.connect() as conn:
                return [pid for (pid,) in conn.execute(text(BACKENDS_QUERY))]

        roles = {role: partial(children, p.pid) for role, p in procs.items()}
        self.meter = CpuMeter(roles | {"postgres": backends})  # re-listed during the run
        self.meter.__enter__()

    def used(self) -> dict[str, float]:
        """CPU seconds per role since the meter was made (processes started since from zero)."""
        self.meter.__exit__()
        return self.meter.used()


KEEPALIVE = 16  # idle connections kept, as deploy/nginx's upstream `keepalive 16` keeps them


class Connections:
    """Kept-alive connections to one side, as nginx keeps its own to gunicorn: a submission takes
    an idle one (or opens one) and gives it back once answered."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.idle: list[http.client.HTTPConnection] = []
        self.opened = 0
        self.lock = threading.Lock()

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self.lock:
            if self.idle:
                return self.idle.pop(), True
            self.opened += 1
        return http.client.HTTPConnection("127.0.0.1", self.target.port, timeout=60), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            if conn.sock is not None and len(self.idle) < KEEPALIVE:
                self.idle.append(conn)
                return
        conn.close()

    def post(self) -> tuple[str, float, float]:
        """Send one submission; return its id, when it was sent and how long the answer took."""
        target = self.target
        conn, kept = self._take()
        while True:
            sent = time.time()
            try:
                conn.request("POST", target.path, body=target.body, headers=target.headers)
                response = conn.getresponse()
            except (ConnectionResetError, BrokenPipeError):  # RemoteDisconnected included
                conn.close()
                if not kept:
                    raise
                kept = False  # gunicorn closed it while idle: sent again on a new connection
                with self.lock:
                    self.opened += 1
                continue
            payload = response.read()
            answered = time.time()
            break
        self._give_back(conn)  # http.client closed it if the answer said `Connection: close`
        if response.status != 202:
            raise RuntimeError(f"{target.name}: HTTP {response.status} {payload[:300]!r}")
        return json.loads(payload)["id"], sent, answered - sent

    def close(self) -> None:
        """Close the idle connections."""
        with self.lock:
            for conn in self.idle:
                conn.close()
            self.idle.clear()


def wait_done(engine: Any, target: Target, sent: dict[str, float]) -> dict[str, float]:
    """Poll the database until every submission is done; return id → done time (epoch)."""
    deadline = time.monotonic() + 300
    while True:
        with engine.connect() as conn:
            rows = conn.execute(text(target.done_query), {"ids": list(sent)}).all()
        done = {str(i): at.timestamp() for i, at in rows if at is not None}
        if len(done) == len(sent):
            return done
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target.name}: {len(sent) - len(done)} never done")
        time.sleep(0.05)


def closed_loop(engine: Any, target: Target, count: int, concurrency: int) -> Result:
    """`concurrency` clients, each submitting as soon as its previous answer came."""
    connections = Connections(target)
    sent: dict[str, float] = {}
    http_times: list[float] = []
    lock = threading.Lock()
    remaining = iter(range(count))

    def client() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            transfer_id, at, took = connections.post()
            with lock:
                sent[transfer_id] = at
                http_times.append(took)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connections.close()
    return _result(engine, target, sent, http_times, connections.opened)


def open_loop(engine: Any, target: Target, count: int, rate: float) -> Result:
    """Submissions started at a fixed rate, whatever the answers (as independent MDPHs would)."""
    connections = Connections(target)
    sent: dict[str, float] = {}
    http_times: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        transfer_id, at, took = connections.post()
        with lock:
            sent[transfer_id] = at
            http_times.append(took)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=64) as pool:
        futures = []
        for i in range(count):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            futures.append(pool.submit(one))
        for future in futures:
            future.result()
    connections.close()
    return _result(engine, target, sent, http_times, connections.opened)


def _result(
    engine: Any, target: Target, sent: dict[str, float], http_times: list[float], connections: int
) -> Result:
    done = wait_done(engine, target, sent)
    sent = dict(sorted(sent.items(), key=lambda item: item[1]))  # in the order sent
    latencies = [done[i] - sent[i] for i in sent]
    throughput = len(sent) / (max(done.values()) - min(sent.values()))
    return Result(throughput, latencies, http_times, list(sent), connections)


def line(label: str, result: Result) -> str:
    """One printed row."""
    row = (
        f"{label:<28} {result.throughput:7.1f} /s   submit→ready {summary_ms(result.latencies)}"
        f"   | HTTP p50 {sorted(result.http)[len(result.http) // 2] * 1000:6.1f} ms"
        f"   | {result.connections} connections"
    )
    if result.cpu is not None:
        n = len(result.latencies)
        shares = " + ".join(f"{role} {t / n * 1000:.1f}" for role, t in result.cpu.items())
        total = sum(result.cpu.values()) / n * 1000
        row += f"\n{'':<28} CPU per transfer {total:5.1f} ms = {shares}"
    return row


def stages(engine: Any, result: Result) -> str:
    """Where the open loop's submit→ready went, stage by stage (hub only)."""
    with engine.connect() as conn:
        rows = conn.execute(text(STAGES_QUERY), {"ids": result.ids}).all()
    split = {
        "queued (received → claimed)": [(c - s).total_seconds() for s, c, _ in rows],
        "processing (claimed → ready)": [(r - c).total_seconds() for _, c, r in rows],
    }
    lines = [f"{'':<6}HTTP answer {'':<20} {summary_ms(result.http)}"]
    lines += [f"{'':<6}{name:<31} {summary_ms(values)}" for name, values in split.items()]
    # A tail made of the first submissions is start-up (cold processes), not steady state.
    slowest = sorted(range(len(result.latencies)), key=lambda i: -result.latencies[i])[:5]
    ranks = ", ".join(str(i + 1) for i in slowest)
    lines.append(f"{'':<6}the 5 slowest were no. {ranks} of {len(result.latencies)} (order sent)")
    return "\n".join(lines)


def spy(output: Path, pid: int) -> subprocess.Popen[bytes]:
    """Sample a process and its children with py-spy (`pip install py-spy`) until interrupted."""
    output.parent.mkdir(parents=True, exist_ok=True)
    args = ["record", "--subprocesses", "--format", "raw", "--rate", "200"]
    args += ["--output", str(output), "--pid", str(pid)]
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        [str(BIN / "py-spy"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def settle(name: str, order: list[str], seconds: float) -> None:
    """Wait before a round's second hub side, so that both start on a file system at rest."""
    hubs = [side for side in order if side != "bare"]
    if seconds and len(hubs) == 2 and name == hubs[1]:
        time.sleep(seconds)


def round_orders(sides: list[str], rounds: int) -> list[list[str]]:
    """Each round's order of the sides: as given, then reversed, and so on (A B C, C B A, ...),
    so that a drift of the machine's speed during the run weighs on every side alike."""
    return [sides if number % 2 == 0 else sides[::-1] for number in range(rounds)]


def ratios(results: dict[tuple[str, int, int], Result], side: str, rounds: int) -> list[float]:
    """Each round's best throughput of `side` over the bare pipeline's in the same round."""

    def best(name: str, number: int) -> float:
        return max(r.throughput for (n, _, k), r in results.items() if (n, k) == (name, number))

    return [best(side, number) / best("bare", number) for number in range(rounds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--count", type=int, default=300, help="submissions per level")
    parser.add_argument(
        "--profile",
        type=Path,
        help="folder for py-spy raw profiles of the hub's web and worker at the highest level",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout of the project (e.g. main) whose hub is measured beside this one",
    )
    parser.add_argument(
        "--now-first",
        action="store_true",
        help="run this checkout's hub before the other checkout's (alternate between runs)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait before the second hub side, so that it meets none of the first's "
        "freed inodes (an ext4 without a journal skips those freed in the last minutes)",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=100,
        help="submissions from 4 clients before each side's first level (fresh tables, indexes "
        "and blob folders, the processes' first calls): not measured",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every side this many times, the order reversed each round; hub/bare is "
        "taken within each round (the machine's speed drifts between minutes), then its median",
    )
    args = parse(parser, {"levels": "1,2", "count": 6, "warm_up": 4, "rounds": 2})
    levels = [int(level) for level in args.levels.split(",")]
    print(f"machine: {machine()}")
    profile = f" --profile {args.profile}" if args.profile else ""
    before = f" --before {args.before}" if args.before else ""
    before += " --now-first" if args.now_first else ""
    before += f" --settle {args.settle:g}" if args.settle else ""
    before += f" --warm-up {args.warm_up}" + (f" --rounds {args.rounds}" if args.rounds > 1 else "")
    print(f"command: .venv/bin/python benchmarks/bench_pipeline.py --levels {args.levels} "
          f"--count {args.count}{profile}{before}")  # fmt: skip
    print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    from dossiers import PDF, dossier, multipart

    pdf = PDF + os.urandom(2048)
    files = {"justificatif.pdf": pdf}
    request = multipart(dossier(files=files), files)
    with hub("mdph_bench_pipeline") as h:
        app = create_app(h.settings())
        with app.app_context():
            demo = create_demo(app.extensions["mdph_bridge"].sessions(), h.var / "keys")
            app.extensions["mdph_bridge"].sessions.remove()
        app.extensions["mdph_bridge"].engine.dispose()
        engine = create_engine(h.database_url, connect_args={"application_name": "bench"})
        with engine.begin() as conn:
            conn.execute(text(BARE_SCHEMA))
        content_type = {"Content-Type": request["content_type"]}
        targets = {
            "bare": Target(
                "bare", BARE_PORT, "/bare", content_type, request["data"],
                "SELECT id, done_at FROM bare_jobs WHERE id = ANY(CAST(:ids AS uuid[]))",
            ),
            "hub": Target(
                "hub", HUB_PORT, "/api/v1/transfers",
                content_type | {"Authorization": f"Bearer {demo['59']['jetons']['caseworker']}"},
                request["data"],
                "SELECT id, ready_at FROM transfers WHERE id = ANY(CAST(:ids AS uuid[]))",
            ),
        }  # fmt: skip
        roots = {"bare": ROOT, "hub": ROOT}
        apps = {
            "bare": ("benchmarks.bare_pipeline:app", "benchmarks.bare_pipeline:celery", "bare"),
            "hub": ("mdph_bridge.wsgi:app", "workers.celery_app", "transfers,maintenance"),
        }
        if args.before:
            targets["before"] = targets["hub"]
            apps["before"], roots["before"] = apps["hub"], args.before.resolve()
        order = ("bare", "hub", "before") if args.now_first else ("bare", "before", "hub")
        sides = [name for name in order if name in apps]
        results: dict[tuple[str, int, int], Result] = {}
        probes: dict[str, list[float]] = {}  # the probe's CPU time
        for number, order in enumerate(round_orders(sides, args.rounds)):
            print(f"order{f' (round {number + 1})' if args.rounds > 1 else ''}: {', '.join(order)}")
            for name in order:
                settle(name, order, args.settle)
                cpu, wall = host_probe()
                probes.setdefault(name, []).append(cpu)
                print(f"{name:<6} host probe {cpu:5.1f} ms CPU, {wall:5.1f} ms wall (fixed work)")
                wsgi, celery_app, queues = apps[name]
                web = h.gunicorn(wsgi, targets[name].port, root=roots[name])
                worker = h.worker(celery_app, queues, root=roots[name])
                procs = {"web": web, "worker": worker, "redis": h.redis.proc}
                closed_loop(engine, targets[name], args.warm_up, 4)
                for level in levels:
                    spies = []
                    if args.profile and name == "hub" and level == levels[-1] and number == 0:
                        spies = [spy(args.profile / f"{role}.txt", proc.pid) for role, proc in
                                 (("web", web), ("worker", worker))]  # fmt: skip
                    meter = Meter(engine, procs)  # type: ignore[arg-type]
                    result = closed_loop(engine, targets[name], args.count, level)
                    result.cpu = meter.used()
                    results[name, level, number] = result
                    for proc in spies:
                        proc.send_signal(signal.SIGINT)
                        proc.wait()
                    print(line(f"{name:<6} closed loop, {level:>2} clients", result))
                h.stop()

        best = {n: max(r.throughput for (m, _, _), r in results.items() if m == n) for n in sides}
        ratio = {n: statistics.median(ratios(results, n, args.rounds)) for n in sides}
        rates = {n: best["hub"] / 2 for n in sides} | {"before": best.get("before", 0.0) / 2}
        print(f"\nopen loop at half the hub's best throughput: {rates['hub']:.0f} submissions/s")
        half: dict[str, Result] = {}
        for name in sides:
            settle(name, sides, args.settle)
            wsgi, celery_app, queues = apps[name]
            h.gunicorn(wsgi, targets[name].port, root=roots[name])
            h.worker(celery_app, queues, root=roots[name])
            closed_loop(engine, targets[name], args.warm_up, 4)  # as before the closed loops
            half[name] = open_loop(engine, targets[name], args.count, rates[name])
            print(line(f"{name:<6} open loop {rates[name]:.0f}/s", half[name]))
            if name != "bare":
                print(stages(engine, half[name]))
            h.stop()
        engine.dispose()

    p99 = percentile(half["hub"].latencies, 99) * 1000
    each = {n: ", ".join(f"{r:.2f}" for r in ratios(results, n, args.rounds)) for n in sides}
    within = f" (median of {args.rounds} rounds: {each['hub']})" if args.rounds > 1 else ""
    print("\ngoals (2 cores):")
    print(f"  hub/bare best throughput  {ratio['hub']:5.2f}  (goal >= 0.5){within}")
    print(f"  hub best throughput       {best['hub']:5.0f} /s  (goal >= 150 /s)")
    print(f"  hub p99 at half rate      {p99:5.0f} ms  (goal < 250 ms)")
    if "before" in best:
        before_p99 = percentile(half["before"].latencies, 99) * 1000
        rounds = f" (rounds: {each['before']})" if args.rounds > 1 else ""
        print(f"  before: hub/bare {ratio['before']:5.2f}{rounds}, best {best['before']:.0f} /s,"
              f" p99 at its half rate {before_p99:.0f} ms")  # fmt: skip
    spans = ", ".join(f"{n} {min(p):.1f}-{max(p):.1f}" for n, p in probes.items())
    print(f"  host probe's CPU before each side's closed loops: {spans} ms (spread: the host's)")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"postgres: {PG_URL}; each level {args.count} submissions; run id {uuid.uuid4().hex[:8]}")


if __name__ == "__main__":
    main()
