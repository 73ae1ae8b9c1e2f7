"""Inbound polling by the receiving MDPH with 10,000 transfers waiting for it.

Run from the project root (PostgreSQL of the machine, a Redis of its own):
    .venv/bin/python benchmarks/bench_inbound.py [--pending 10000] [--clients 8] [--seconds 10]

10,000 `ready` transfers addressed to 62 are inserted in one statement, then gunicorn (2 sync
workers, as `mdph-bridge serve`) answers `GET /api/v1/inbound` with 62's receiver token, from
`--clients` concurrent clients for `--seconds` each:
- first page: no cursor, 100 transfers per page (the default), what a new receiver asks first;
- caught up: the cursor after the last transfer, the steady-state poll that finds nothing new;
- one receiver walks the whole list, 500 per page, as after an outage (pages/s, total time).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
import uuid
from pathlib import Path

import psycopg
from arguments import parse
from harness import free_port, hub, machine, summary_ms
from sqlalchemy import insert, update

from mdph_bridge import create_app
from mdph_bridge.models import Departement, Transfer, utcnow
from mdph_bridge.services.admin import create_demo
from mdph_bridge.services.clock import transfer_deadlines
from mdph_bridge.services.receiving import encode_cursor

PORT = free_port()


def get(path: str, token: str) -> tuple[float, dict[str, object]]:
    """One GET; return how long it took and the decoded answer."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    took = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
    return took, json.loads(body)


def hammer(path: str, token: str, clients: int, seconds: float) -> tuple[float, list[float]]:
    """`clients` threads asking `path` in a loop; return requests/s and every duration."""
    durations: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop_at:
            took, _ = get(path, token)
            with lock:
                durations.append(took)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(durations) / (time.monotonic() - started), durations


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (those gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / os.sysconf("SC_CLK_TCK")


def serving_pids(gunicorn: int, database_url: str) -> list[int]:
    """The gunicorn workers and the PostgreSQL backends serving the hub's database."""
    workers = Path(f"/proc/{gunicorn}/task/{gunicorn}/children").read_text().split()
    raw = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(raw) as conn:
        backends = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(pid) for pid in workers] + [row[0] for row in backends]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parse(parser, {"pending": 300, "clients": 2, "seconds": 0.5})
    print(f"machine: {machine()}")
    print(
        f"command: .venv/bin/python benchmarks/bench_inbound.py --pending {args.pending} "
        f"--clients {args.clients} --seconds {args.seconds:g}"
    )
    with hub("mdph_bench_inbound") as h:
        app = create_app(h.settings())
        with app.app_context():
            demo = create_demo(app.extensions["mdph_bridge"].sessions(), h.var / "keys")
            seed(app, args.pending)
            app.extensions["mdph_bridge"].sessions.remove()
        app.extensions["mdph_bridge"].engine.dispose()
        token = demo["62"]["jetons"]["receiver"]
        server = h.gunicorn("mdph_bridge.wsgi:app", PORT)
        hammer("/api/v1/inbound", token, 2, 1)  # warm up
        pids = serving_pids(server.pid, h.database_url)

        print(f"{args.pending} pending for 62; {args.clients} clients, {args.seconds:g} s each")
        print("CPU per request: gunicorn workers + PostgreSQL backends, whatever else runs")
        for label, path in (
            ("first page (100)", "/api/v1/inbound"),
            ("caught up (0 new)", f"/api/v1/inbound?cursor={encode_cursor(args.pending)}"),
        ):
            used = cpu_seconds(pids)
            rate, durations = hammer(path, token, args.clients, args.seconds)
            cpu_ms = (cpu_seconds(pids) - used) * 1000 / len(durations)
            print(
                f"{label:<20} {rate:7.1f} req/s   {summary_ms(durations)}   CPU {cpu_ms:5.2f} ms"
                f"/request (2 free cores: ~{2000 / cpu_ms:.0f} req/s)"
            )

        cursor, pages, seen = None, 0, 0
        started = time.perf_counter()
        while True:
            query = "?limit=500" + (f"&cursor={cursor}" if cursor else "")
            _, page = get(f"/api/v1/inbound{query}", token)
            transfers = page["transferts"]
            if not transfers:
                break
            pages, seen, cursor = pages + 1, seen + len(transfers), page["cursor"]  # type: ignore[arg-type]
        took = time.perf_counter() - started
        print(f"walk all, 500/page    {pages} pages, {seen} transfers in {took:.2f} s "
              f"({seen / took:.0f} transfers/s)")  # fmt: skip


if __name__ == "__main__":
    main()
