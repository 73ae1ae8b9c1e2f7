"""Inbound polling by the receiving MDPH with 10,000 transfers waiting for it.

Run from the project root (PostgreSQL of the machine, a Redis of its own):
    .venv/bin/python benchmarks/bench_inbound.py [--pending 10000] [--clients 8] [--seconds 10]
        [--before DIR [--before-sync]] [--rounds N]

10,000 `ready` transfers addressed to 62 are inserted in one statement, then gunicorn, started as
`mdph-bridge serve` and the image start it (2 threaded workers, `mdph_bridge.gunicorn_conf`),
answers `GET /api/v1/inbound` with 62's receiver token, from `--clients` concurrent connections
for `--seconds` each:
- first page: no cursor, 100 transfers per page (the default), what a new receiver asks first;
- caught up: the cursor after the last transfer, the steady-state poll that finds nothing new;
- one receiver walks the whole list, 500 per page, as after an outage (pages/s, total time).

The load comes from `wrk` (C, one kept-alive connection per client, a Lua script for the token)
when it is installed, else from Python threads that burn far more of the same two cores. CPU per
request is what the gunicorn workers, the hub's PostgreSQL connections (listed again every 50 ms:
the workers' threads open them as the load needs them) and the hub's Redis used (from /proc),
divided by the requests answered; the autovacuum workers' CPU on the database is given apart, and
so are the load generator's CPU and how busy the machine's cores were (the other processes of a
shared machine take the rest). `--before DIR` also serves the same database from another checkout
of the project (e.g. `git worktree add DIR main`) on a second port, measured in the same run, the
two taking turns to go first (`--before-sync`: with sync workers, as this benchmark served both
until 2026-12-04); `--rounds N` measures both polls N times, the side that goes first changing at
each round too (the audit table grows with every first page, and the machine's load moves: one
round favours one side).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from arguments import parse
from harness import (
    ROOT,
    CpuMeter,
    Hub,
    children,
    free_port,
    hub,
    machine,
    machine_jiffies,
    summary_ms,
)
from sqlalchemy import insert, update

from mdph_bridge import create_app
from mdph_bridge.models import Departement, Transfer, utcnow
from mdph_bridge.services.admin import create_demo
from mdph_bridge.services.clock import transfer_deadlines
from mdph_bridge.services.receiving import encode_cursor

WRK = shutil.which("wrk")


@dataclass(frozen=True)
class Target:
    """One hub serving the benchmark's database: its name, port and gunicorn master's pid."""

    name: str
    port: int
    pid: int


@dataclass(frozen=True)
class Load:
    """What a load run measured: requests answered, requests/s, and latency figures."""

    requests: int
    rate: float
    latency: str


def get(port: int, path: str, token: str) -> tuple[float, dict[str, object]]:
    """One GET; return how long it took and the decoded answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    took = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
    return took, json.loads(body)


def threads(port: int, path: str, token: str, clients: int, seconds: float) -> Load:
    """`clients` Python threads asking `path` in a loop (when wrk is not installed)."""
    durations: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop_at:
            took, _ = get(port, path, token)
            with lock:
                durations.append(took)

    started = time.monotonic()
    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rate = len(durations) / (time.monotonic() - started)
    return Load(len(durations), rate, summary_ms(durations))


def _wrk_ms(output: str, label: str) -> float:
    """A latency percentile of wrk's `--latency` report, in milliseconds."""
    found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(output)
    return float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]


def wrk(port: int, path: str, token: str, clients: int, seconds: float) -> Load:
    """wrk with `clients` connections on two threads; every answer must be a 200."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        script.flush()
        command = [WRK or "wrk", "-t", str(min(2, clients)), "-c", str(clients)]
        command += ["-d", f"{max(1, round(seconds))}s", "--latency", "-s", script.name]
        output = subprocess.run(  # noqa: S603 - wrk, fixed arguments
            [*command, f"http://127.0.0.1:{port}{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if "Non-2xx" in output or (found := re.search(r"(\d+) requests in", output)) is None:
        raise RuntimeError(output)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    latency = f"p50 {_wrk_ms(output, '50%'):7.1f} ms  p99 {_wrk_ms(output, '99%'):7.1f} ms"
    return Load(int(found[1]), rate, latency)


# The database's backends but the meter's own: the hub's connections, and apart the autovacuum
# workers that the audit entries' inserts call for now and then.
BACKENDS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND (backend_type = 'client backend') = %s"
)


def hub_meter(target: Target, redis_pid: int, conn: psycopg.Connection[tuple[int]]) -> CpuMeter:
    """The target's gunicorn workers, the PostgreSQL backends of the database, the hub's Redis."""
    return CpuMeter(
        {
            "web": lambda: children(target.pid)[1:],
            "PostgreSQL": lambda: [pid for (pid,) in conn.execute(BACKENDS, (True,))],
            "Redis": lambda: [redis_pid],
            "autovacuum": lambda: [pid for (pid,) in conn.execute(BACKENDS, (False,))],
        }
    )


def clients_per_worker(target: Target) -> str:
    """How the load's connections are spread over the target's workers (e.g. 4/4), from /proc."""
    port = f":{target.port:04X}"
    served = set()  # sockets of established connections on the target's port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[1].endswith(port) and fields[3] == "01":
                served.add(f"socket:[{fields[9]}]")
    counts = []
    for pid in children(target.pid)[1:]:
        fds = Path(f"/proc/{pid}/fd")
        counts.append(sum(1 for fd in fds.iterdir() if _link(fd) in served))
    return "/".join(str(n) for n in sorted(counts, reverse=True))


def _link(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:  # closed meanwhile
        return ""


def seed(app: object, pending: int) -> None:
    """Insert `pending` ready transfers from 59 to 62 in one statement."""
    now = utcnow()
    deadline = transfer_deadlines(app.config["CLOCK_RULES"], "59", "62", now)  # type: ignore[attr-defined]
    rows = [
        {
            "id": uuid.uuid4(),
            "origin_code": "59",
            "dest_code": "62",
            "state": "ready",
            "numero_dossier_origine": f"59-2026-{n:06d}",
            "motif": "demenagement",
            "submitted_at": now,
            "warn_at": deadline.warn_at,
            "due_at": deadline.due_at,
            "state_changed_at": now,
            "attempts": 1,
            "staging_key_id": "bench-staging",
            "inbound_seq": n,
            "ready_at": now,
            "package_key": f"packages/{n}/dossier.age",
            "package_size": 4096,
            "package_sha256": "0" * 64,
            "package_key_ids": ["bench-key"],
            "manifest": {},
            "problems": [],
            "warnings": [],
        }
        for n in range(1, pending + 1)
    ]
    session = app.extensions["mdph_bridge"].sessions()  # type: ignore[attr-defined]
    session.execute(insert(Transfer), rows)
    session.execute(update(Departement).where(Departement.code == "62").values(inbound_seq=pending))
    session.commit()


def seeded(h: Hub, pending: int) -> str:
    """Create the demo départements and `pending` transfers ready for 62; 62's receiver token."""
    app = create_app(h.settings())
    with app.app_context():
        demo = create_demo(app.extensions["mdph_bridge"].sessions(), h.var / "keys")
        seed(app, pending)
        app.extensions["mdph_bridge"].sessions.remove()
    app.extensions["mdph_bridge"].engine.dispose()
    token: str = demo["62"]["jetons"]["receiver"]
    return token


def measure(target: Target, path: str, args: argparse.Namespace, token: str, h: Hub) -> str:
    """Load one target with one request; return its figures line."""
    load = wrk if WRK else threads
    load(target.port, path, token, 2, 1)  # warm up: connections, caches, the watermark
    raw = h.database_url.replace("postgresql+psycopg://", "postgresql://")
    split: list[str] = []  # the clients' connections per worker, midway
    # Autocommit: in a transaction, pg_stat_activity would show the same backends at every read.
    with (
        psycopg.connect(raw, autocommit=True) as conn,
        hub_meter(target, h.redis.proc.pid, conn) as meter,  # type: ignore[union-attr]
    ):
        cores, generator = machine_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
        spread = threading.Timer(args.seconds / 2, lambda: split.append(clients_per_worker(target)))
        spread.start()
        result = load(target.port, path, token, args.clients, args.seconds)
        spread.join()
        ended = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, waited for: counted here
        cores = {k: v - cores[k] for k, v in machine_jiffies().items()}
    ms = {part: used * 1000 / result.requests for part, used in meter.used().items()}
    vacuum_ms = ms.pop("autovacuum")
    cpu_ms = sum(ms.values())
    load_ms = (ended.ru_utime + ended.ru_stime - generator.ru_utime - generator.ru_stime) * 1000
    load_ms /= result.requests
    total = sum(cores.values())
    hub_share = cpu_ms * result.requests / 1000 / (total / os.sysconf("SC_CLK_TCK"))
    busy, idle, steal = (100 * cores[k] / total for k in ("busy", "idle", "steal"))
    parts = ", ".join(f"{part} {value:.2f}" for part, value in ms.items())
    connections = f"opened {meter.opened('PostgreSQL')}, closed {meter.ended('PostgreSQL')}"
    return (
        f"{result.rate:7.1f} req/s   {result.latency}   CPU {cpu_ms:5.2f} ms/request"
        f" ({parts}; 2 free cores: ~{2000 / cpu_ms:.0f} req/s; autovacuum {vacuum_ms:.2f})\n"
        f"{'':25}load generator {load_ms:.2f} ms/request; cores busy {busy:.0f} % (the hub"
        f" {100 * hub_share:.0f} %), idle {idle:.0f} %, stolen {steal:.0f} %; clients per worker"
        f" {''.join(split)}; PostgreSQL connections {connections}"
    )


def walk(target: Target, token: str) -> str:
    """One receiver reads the whole list, 500 per page; return its figures."""
    cursor, pages, seen = None, 0, 0
    started = time.perf_counter()
    while True:
        query = "?limit=500" + (f"&cursor={cursor}" if cursor else "")
        _, page = get(target.port, f"/api/v1/inbound{query}", token)
        transfers = page["transferts"]
        if not transfers:
            break
        pages, seen, cursor = pages + 1, seen + len(transfers), page["cursor"]  # type: ignore[arg-type]
    took = time.perf_counter() - started
    return f"{pages} pages, {seen} transfers in {took:.2f} s ({seen / took:.0f} transfers/s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--before", type=Path, help="another checkout, measured beside this one")
    parser.add_argument("--rounds", type=int, default=1, help="measure both polls this many times")
    parser.add_argument(
        "--before-sync", action="store_true", help="serve --before with sync workers, as until now"
    )
    args = parse(parser, {"pending": 300, "clients": 2, "seconds": 1})
    print(f"machine: {machine()}")
    before = f" --before {args.before}" if args.before else ""
    before += " --before-sync" if args.before_sync else ""
    before += f" --rounds {args.rounds}" if args.rounds != 1 else ""
    print(
        f"command: .venv/bin/python benchmarks/bench_inbound.py --pending {args.pending} "
        f"--clients {args.clients} --seconds {args.seconds:g}{before}"
    )
    with hub("mdph_bench_inbound") as h:
        token = seeded(h, args.pending)
        roots = {"new": ROOT, **({"before": args.before.resolve()} if args.before else {})}
        targets = []
        for name, root in roots.items():
            port = free_port()
            sync = name == "before" and args.before_sync
            server = h.gunicorn("mdph_bridge.wsgi:app", port, root=root, sync=sync)
            targets.append(Target(name, port, server.pid))

        generator = "wrk" if WRK else "Python threads (wrk not installed)"
        print(f"{args.pending} pending for 62; {args.clients} clients, {args.seconds:g} s each")
        print(f"load: {generator}; CPU per request: gunicorn workers + PostgreSQL + Redis")
        scenarios = (
            ("first page (100)", "/api/v1/inbound"),
            ("caught up (0 new)", f"/api/v1/inbound?cursor={encode_cursor(args.pending)}"),
        )
        for round_ in range(args.rounds):
            for turn, (label, path) in enumerate(scenarios):
                first = (turn + round_) % 2 == 0  # each goes first in turn
                for target in targets if first else targets[::-1]:
                    print(f"{target.name:<7}{label:<18} {measure(target, path, args, token, h)}")
        for target in targets:
            print(f"{target.name:<7}walk all, 500/page {walk(target, token)}")


if __name__ == "__main__":
    main()
