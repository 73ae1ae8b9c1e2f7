"""`mdph-bridge serve` on a hostile network: slow clients, gunicorn's refusals, a clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from slow_clients import alive, descendants, raw_request, trickling
from support import free_port

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


@dataclass
class Served:
    """A running `mdph-bridge serve` in its own process group."""

    proc: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def log(self) -> str:
        return (self.folder / "serve.log").read_text(errors="replace")

    def get(self, path: str) -> int:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local server
            return response.status


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDPH_BRIDGE_")}
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [BIN / "mdph-bridge", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own group, as systemd starts a service
        )
    served = Served(proc, port, tmp_path)
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, served.log
        try:
            served.get("/healthz")
            break
        except OSError:
            assert time.monotonic() < deadline, served.log
            time.sleep(0.3)
    yield served
    if proc.poll() is None:  # the test failed before stopping it: leave nothing behind
        below = descendants(proc.pid)
        proc.terminate()
        try:
            proc.wait(timeout=35)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def all_started(served: Served) -> set[int]:
    """Wait until both workers are ready; every process below serve then."""
    # Celery's pool processes are there once the workers are ready.
    deadline = time.monotonic() + 60
    while served.log.count("ready.") < 2:
        assert time.monotonic() < deadline, served.log
        time.sleep(0.3)
    below = descendants(served.proc.pid)
    assert len(below) >= 7, below  # 2 workers with their pools, beat, gunicorn and its workers
    return below


def stopped_cleanly(served: Served, sig: signal.Signals, group: bool) -> None:
    """Send `sig` to serve (or its group): all stops within 30 s, warm, nothing left behind."""
    below = all_started(served)
    started = time.monotonic()
    if group:
        os.killpg(served.proc.pid, sig)
    else:
        served.proc.send_signal(sig)
    assert served.proc.wait(timeout=35) == 0, served.log[-3000:]
    assert time.monotonic() - started < 30
    left = {pid for pid in below if alive(pid)}
    assert not left, f"processes left behind: {left}"
    assert served.log.count("Warm shutdown") == 2, served.log[-3000:]
    assert served.log.rstrip().endswith("mdph_bridge : arrêté.")


def test_slow_clients_do_not_stop_the_pages_or_the_api(served: Served) -> None:
    # 64 heads and 4 uploads sent a byte a second: the event loop waits for the heads, and
    # threads are left for the others.
    body_head = (
        b"POST /api/v1/transfers HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
        b"boundary=b\r\nContent-Length: 100000\r\n\r\n"
    )
    with trickling(served.port, heads=64, bodies=4, body_head=body_head):
        time.sleep(2)  # all are connected and trickling
        for _ in range(5):
            assert served.get("/healthz") == 200
            assert served.get("/connexion") == 200


def test_gunicorn_refusals_are_french_pages(served: Served) -> None:
    long_line = raw_request(served.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    nul = raw_request(served.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n")
    for answer in (long_line, nul):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), answer
        assert b"charset=utf-8" in head
        text = body.decode()
        assert '<html lang="fr">' in text
        assert "La requête est mal formée ou trop longue" in text
        assert "Bad Request" not in text


def test_the_eleventh_wrong_token_is_refused_whichever_web_worker_answers(served: Served) -> None:
    answers = []
    for _ in range(13):  # a new connection each time: gunicorn's two workers share them
        request = urllib.request.Request(
            f"http://127.0.0.1:{served.port}/api/v1/transfers",
            headers={"Authorization": "Bearer mdphb_faux"},
        )
        try:
            urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - local server
        except urllib.error.HTTPError as exc:
            answers.append(exc.code)
    assert answers == [401] * 10 + [429] * 3


def test_files_in_var_are_the_owners_only(served: Served) -> None:
    var = served.folder / "var"
    paths = [var, *var.rglob("*")]
    assert len(paths) > 3
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    assert stat.S_IMODE((var / "mdph_bridge.sqlite3").stat().st_mode) == 0o600


def test_sigterm_to_the_group_stops_everything(served: Served) -> None:
    stopped_cleanly(served, signal.SIGTERM, group=True)


def test_sigint_to_serve_stops_everything(served: Served) -> None:
    stopped_cleanly(served, signal.SIGINT, group=False)


def test_serve_killed_by_sigkill_takes_every_child_with_it(served: Served) -> None:
    below = all_started(served)
    served.proc.kill()  # no chance to stop its children itself
    served.proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    try:
        while left := {pid for pid in below if alive(pid)}:
            assert time.monotonic() < deadline, f"processes left behind: {left}"
            time.sleep(0.3)
    finally:
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_port_in_use_is_the_last_line_in_french(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDPH_BRIDGE_")}
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [BIN / "mdph-bridge", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    last = (result.stdout + result.stderr).decode().strip().splitlines()[-1]
    assert f"le port {port} est déjà utilisé" in last
    assert "make serve PORT=" in last
