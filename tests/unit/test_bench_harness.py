"""The benchmarks' harness measures what is deployed, and all the CPU the hub's processes use."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import harness
import scratch

from mdph_bridge.cli.service import web_command

pytestmark = pytest.mark.unit


class _Started:
    pid = 1


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The commands the harness starts, none of them run; every server answers at once."""
    commands: list[list[str]] = []

    def spawn(_hub: Any, args: list[str], _log: str, cwd: Path | None = None) -> _Started:
        commands.append(args)
        return _Started()

    @contextmanager
    def answered(*_args: Any, **_kwargs: Any) -> Iterator[None]:
        yield

    monkeypatch.setattr(harness.Hub, "spawn", spawn)
    monkeypatch.setattr(harness.urllib.request, "urlopen", answered)
    return commands


def test_the_harness_serves_gunicorn_as_mdph_bridge_serve_does(
    spawned: list[list[str]], tmp_path: Path
) -> None:
    harness.Hub("bench", var=tmp_path, redis=None).gunicorn(
        "benchmarks.bare_pipeline:app", 8123, root=tmp_path
    )

    deployed = web_command("127.0.0.1:8123", 2, "benchmarks.bare_pipeline:app")
    assert spawned == [[str(harness.BIN / "gunicorn"), "--chdir", str(tmp_path), *deployed[1:]]]
    assert "python:mdph_bridge.gunicorn_conf" in deployed


def test_sync_workers_only_when_asked(spawned: list[list[str]], tmp_path: Path) -> None:
    harness.Hub("bench", var=tmp_path, redis=None).gunicorn(
        "app:app", 8123, root=tmp_path, sync=True
    )

    assert "--config" not in spawned[0]
    assert "app:app" in spawned[0]


def _burner() -> subprocess.Popen[bytes]:
    """A process that uses CPU until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _until(used: Any, seconds: float) -> None:
    """Wait until `used()` reaches `seconds` of CPU (a minute at most)."""
    deadline = time.monotonic() + 60
    while used() < seconds:
        assert time.monotonic() < deadline, "the process was never read"
        time.sleep(0.01)


def test_a_process_started_during_the_run_is_counted_from_zero() -> None:
    listed: list[int] = []  # what a query of pg_stat_activity would list at each reading
    late = None
    try:
        with harness.CpuMeter({"backends": lambda: list(listed)}, every=0.01) as meter:
            late = _burner()  # a connection a worker's thread opens under load
            listed.append(late.pid)
            _until(lambda: harness.cpu_seconds([late.pid]).get(late.pid, 0.0), 0.1)
    finally:
        if late is not None:
            late.kill()
            late.wait()

    assert meter.used()["backends"] >= 0.1
    assert meter.opened("backends") == 1


def test_a_process_that_ends_during_the_run_is_counted_until_its_last_reading() -> None:
    early = _burner()
    listed = [early.pid]
    try:
        with harness.CpuMeter({"backends": lambda: list(listed)}, every=0.01) as meter:
            _until(lambda: meter.last["backends"].get(early.pid, 0.0), 0.1)
            early.kill()  # a connection the pool closes during the run
            early.wait()
    finally:
        early.kill()
        early.wait()

    assert meter.used()["backends"] >= 0.1
    assert meter.ended("backends") == 1
    assert meter.opened("backends") == 0


def test_a_hubs_files_live_beside_the_repository_not_under_tmp() -> None:
    root = Path(harness.ROOT)
    assert os.environ.get("MDPH_BENCH_SCRATCH") or root / ".bench" == scratch.SCRATCH
    assert ".bench/" in (root / ".gitignore").read_text().splitlines()

    hub = harness.Hub("bench", redis=None)
    try:
        assert hub.var.parent == scratch.SCRATCH
    finally:
        hub.var.rmdir()
