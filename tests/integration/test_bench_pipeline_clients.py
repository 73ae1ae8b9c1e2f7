"""The pipeline benchmark's clients keep their connections alive, reopen one the server closed."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_pipeline import Connections, Target

pytestmark = pytest.mark.integration


class _Submissions(BaseHTTPRequestHandler):
    """Answers each submission; closes the connection without saying so after the `closing`-th."""

    protocol_version = "HTTP/1.1"
    answered = 0
    closing = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).answered += 1
        body = b'{"id": "%d"}' % self.answered
        self.send_response(202)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        # As gunicorn ends an idle kept-alive connection: no `Connection: close` was announced.
        self.close_connection = self.answered == self.closing

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    _Submissions.answered, _Submissions.closing = 0, 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Submissions)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _connections(httpd: ThreadingHTTPServer) -> Connections:
    port = httpd.server_address[1]
    assert isinstance(port, int)
    return Connections(Target("hub", port, "/api/v1/transfers", {}, b"dossier", ""))


def test_one_client_sends_every_submission_on_one_connection(server: ThreadingHTTPServer) -> None:
    connections = _connections(server)

    ids = [connections.post()[0] for _ in range(5)]
    connections.close()

    assert ids == ["1", "2", "3", "4", "5"]
    assert connections.opened == 1


def test_a_connection_the_server_closed_is_reopened(server: ThreadingHTTPServer) -> None:
    _Submissions.closing = 2
    connections = _connections(server)

    ids = [connections.post()[0] for _ in range(4)]
    connections.close()

    assert ids == ["1", "2", "3", "4"]  # the third sent again, once, on a new connection
    assert connections.opened == 2
