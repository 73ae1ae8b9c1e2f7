"""What the service benchmarks share: a throwaway hub on the machine's PostgreSQL and Redis, with
gunicorn and Celery workers started as real processes, and small statistics helpers."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from scratch import scratch_dir
from sqlalchemy import create_engine, text

from mdph_bridge.domain.sealing import generate_staging_key
from mdph_bridge.domain.signing import generate_hub_key
from mdph_bridge.migrations import alembic_config

ROOT = Path(__file__).resolve().parent.parent
# The tests' wire-format builders and dedicated-server helpers.
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]
from servers import RedisServer  # noqa: E402
from support import free_port  # noqa: E402, F401 - re-exported to the benchmarks

PG_URL = os.environ.get("MDPH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
BIN = Path(sys.executable).parent


def machine() -> str:
    """One line describing where the figures come from."""
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem = int(info.readline().split()[1]) // (1024 * 1024)
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB, Python {platform.python_version()}"


def host_probe() -> tuple[float, float]:
    """Milliseconds of CPU and of wall time a fixed piece of work takes (medians of 5): the host's
    speed moves the first, other processes' load the second too; the code is the same each time."""
    cpu, wall = [], []
    for _ in range(5):
        start, started = time.thread_time(), time.perf_counter()
        digest = hashlib.sha256()
        for number in range(200_000):
            digest.update(number.to_bytes(4, "little") * 16)
        cpu.append(time.thread_time() - start)
        wall.append(time.perf_counter() - started)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    """p50 / p99 / max of durations in seconds, in milliseconds."""
    p50, p99 = statistics.median(values) * 1000, percentile(values, 99) * 1000
    return f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {max(values) * 1000:7.1f} ms"


@dataclass
class Hub:
    """A hub's settings, its database and the processes started for it."""

    name: str
    var: Path = field(default_factory=lambda: scratch_dir("mdph-bench-"))
    extra: dict[str, Any] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis: RedisServer = field(default_factory=RedisServer)  # its own, on a free port

    @property
    def database_url(self) -> str:
        """The hub's own database on the machine's PostgreSQL."""
        return f"{PG_URL}/{self.name}"

    def settings(self) -> dict[str, Any]:
        """Every MDPH_BRIDGE_* setting of this hub."""
        return {
            "VAR_DIR": str(self.var),
            "DATABASE_URL": self.database_url,
            "BROKER_URL": self.redis.url,
            "STORAGE_DIR": str(self.var / "blobs"),
            "SECRET_KEY": "bench-secret",
            "STAGING_KEYS": self._keys["staging"],
            "SIGNING_KEYS": self._keys["signing"],
            **self.extra,
        }

    def env(self) -> dict[str, str]:
        """The environment of the hub's processes."""
        return {**os.environ, **{f"MDPH_BRIDGE_{k}": str(v) for k, v in self.settings().items()}}

    def create(self) -> None:
        """Fresh database, migrated; empty broker database."""
        self._keys = {
            "staging": generate_staging_key("bench-staging"),
            "signing": generate_hub_key("bench-hub"),
        }
        admin = create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()
        command.upgrade(alembic_config(self.database_url), "head")
        self.redis.start()

    def spawn(self, args: list[str], log: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a process of the hub, its output in a log file under the hub's folder.

        With `cwd` other than the project root, the code is imported from there (an older checkout
        measured by the same harness).
        """
        env = self.env()
        if cwd is not None and cwd != ROOT:
            env["PYTHONPATH"] = str(cwd)
        with (self.var / log).open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own commands, fixed arguments
                args, env=env, cwd=cwd or self.var, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def gunicorn(
        self, app: str, port: int, workers: int = 2, root: Path = ROOT, sync: bool = False
    ) -> subprocess.Popen[bytes]:
        """Start gunicorn as deployed (`web_command`: threaded workers); wait until it answers.

        `sync` serves with plain sync workers instead, as this harness did until 2026-12-04, to
        compare with figures measured so.
        """
        bind = f"127.0.0.1:{port}"
        if sync:
            args = ["--bind", bind, "--workers", str(workers), "--timeout", "600", app]
        else:  # imported here: bench_transfer_cpu loads this module with an older checkout's
            # code, which may predate `web_command`, and starts no gunicorn
            from mdph_bridge.cli.service import web_command

            args = web_command(bind, workers, app)[1:]
        proc = self.spawn(
            [str(BIN / "gunicorn"), "--chdir", str(root), *args], f"gunicorn-{port}.log", cwd=root
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return proc
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError((self.var / f"gunicorn-{port}.log").read_text()) from None
                time.sleep(0.1)

    def worker(
        self, app: str, queues: str, concurrency: int = 2, root: Path = ROOT
    ) -> subprocess.Popen[bytes]:
        """Start a prefork Celery worker and wait until it is ready."""
        log = f"worker-{queues.replace(',', '-')}.log"
        proc = self.spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "-Q",
                queues,
                "--concurrency",
                str(concurrency),
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
                "-n",
                f"{queues.split(',')[0]}@%h",
            ],
            log,
            cwd=root,
        )
        time.sleep(0.5)
        deadline = time.monotonic() + 30
        while "ready" not in (self.var / log).read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.var / log).read_text())
            time.sleep(0.1)
        return proc

    def stop(self) -> None:
        """Stop every process of the hub (warm), by its own pid."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def drop(self) -> None:
        """Stop, then drop the database, the broker and the hub's folder (blobs, logs)."""
        self.stop()
        self.redis.remove()
        shutil.rmtree(self.var, ignore_errors=True)
        admin = create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def hub(name: str, **extra: Any) -> Iterator[Hub]:
    """A created hub (its database named after `name` and this process), dropped afterwards."""
    instance = Hub(f"{name}_{os.getpid()}", extra=extra)  # runs side by side never share one
    print(f"scratch: {instance.var} (removed at the end)")
    instance.create()
    try:
        yield instance
    finally:
        instance.drop()


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) each process has used so far, in seconds (absent ones left out)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


class CpuMeter:
    """CPU seconds used by groups of processes while it runs, those started meanwhile included.

    The groups are listed again every `every` seconds, since a threaded web worker opens its
    PostgreSQL connections lazily, under load: a process counts from its CPU when first listed
    (from zero if it started after the meter) to its last reading, so one that ends during the
    run loses at most its last interval (`ended` counts them).
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]], every: float = 0.05) -> None:
        self.groups, self.every = groups, every
        self.first: dict[str, dict[int, float]] = {name: {} for name in groups}
        self.last: dict[str, dict[int, float]] = {name: {} for name in groups}
        self.listed: dict[str, set[int]] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _read(self, start: bool = False) -> None:
        for name, pids in self.groups.items():
            now = cpu_seconds(pids())
            for pid, used in now.items():
                self.first[name].setdefault(pid, used if start else 0.0)
            self.last[name].update(now)
            self.listed[name] = set(now)

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self._read()

    def __enter__(self) -> CpuMeter:
        self._read(start=True)
        self._started = {name: set(pids) for name, pids in self.listed.items()}
        self._sampler.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._sampler.join()
        self._read()

    def used(self) -> dict[str, float]:
        """CPU seconds each group used during the run."""
        return {
            name: sum(t - self.first[name][pid] for pid, t in last.items())
            for name, last in self.last.items()
        }

    def opened(self, name: str) -> int:
        """Processes of a group that started during the run."""
        return len(self.first[name].keys() - self._started[name])

    def ended(self, name: str) -> int:
        """Processes of a group that ended during the run (their last interval not counted)."""
        return len(self.last[name].keys() - self.listed[name])


def machine_jiffies() -> dict[str, int]:
    """The machine's CPU time so far, in clock ticks: busy, idle (iowait included) and stolen."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return {
        "busy": user + nice + system + irq + softirq,
        "idle": idle + iowait,
        "steal": steal,
    }


def children(pid: int) -> list[int]:
    """A process and its direct children (gunicorn's and Celery's workers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(p) for p in path.read_text().split())] if path.exists() else [pid]


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process and its children, the largest one, in MiB."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    peaks = []
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except FileNotFoundError:
            continue
    return max(peaks, default=0.0)
