"""The e2e suite's web is gunicorn as deployed, whose worker keeps connections alive as nginx's
upstream keepalive (and the pipeline benchmark's clients) expect."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from slow_clients import raw_request
from support import free_port

from mdph_bridge.cli.service import web_command

pytestmark = pytest.mark.e2e


def _port(served: str) -> int:
    port = urlsplit(served).port
    assert port is not None
    return port


def test_the_served_web_refuses_in_french_as_deployed(served: str) -> None:
    answer = raw_request(_port(served), b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert "La requête est mal formée ou trop longue" in body.decode()


def test_one_connection_carries_many_requests(served: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", _port(served), timeout=10)
    try:
        conn.connect()
        first = conn.sock
        for path in ("/healthz", "/connexion", "/healthz", "/api/v1/transfers", "/healthz"):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.getheader("Connection") != "close", path
            assert conn.sock is first, f"{path}: the server closed the connection"
    finally:
        conn.close()


def test_a_kept_connections_next_head_may_arrive_in_pieces(served: str) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", _port(served)), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for pieces in ([request], [request[:5], request[5:20], request[20:]], [request]):
            for piece in pieces:
                sock.sendall(piece)
                time.sleep(0.2)  # each piece its own segment: the event loop sees a partial head
            response = http.client.HTTPResponse(sock)
            response.begin()
            assert response.status == 200
            assert b"en_service" in response.read()
            assert not response.will_close


# gunicorn as deployed, its read timeout shortened to a second, serving `reading_app`.
_SHORT_READ_TIMEOUT = (
    "import sys; from mdph_bridge import gunicorn_worker; "
    "gunicorn_worker.READ_TIMEOUT_SECONDS = 1.0; "
    "from gunicorn.app.wsgiapp import run; sys.argv[0] = 'gunicorn'; run()"
)


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[int]:
    """The deployed worker with a 1 s read timeout; its port."""
    port = free_port()
    _, *args = web_command(f"127.0.0.1:{port}", workers=1, app="reading_app:app", threads=2)
    here = Path(__file__).parent
    with (tmp_path / "gunicorn.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SHORT_READ_TIMEOUT, *args, "--chdir", str(here)],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_body_that_stalls_longer_than_the_read_timeout_ends_the_request(impatient: int) -> None:
    """The thread stops waiting; the request ends with a 408 in French, not as a shorter body
    handed to the app, and its connection is closed (the rest may still come)."""
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    with socket.create_connection(("127.0.0.1", impatient), timeout=10) as sock:
        sock.sendall(head + b"a" * 10)  # then silence: the thread must not wait for the rest

        response = http.client.HTTPResponse(sock)
        response.begin()  # TimeoutError if the thread still waits after 10 s

        assert response.status == 408
        assert "n'est pas arrivé à temps" in response.read().decode()
        assert response.getheader("Connection") == "close"
        assert sock.recv(1) == b""  # closed by the server
