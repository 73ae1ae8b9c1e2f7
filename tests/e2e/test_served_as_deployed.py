"""The e2e suite's web is gunicorn as deployed, whose worker keeps connections alive as nginx's
upstream keepalive (and the pipeline benchmark's clients) expect."""

from __future__ import annotations

import http.client
import socket
import time
from urllib.parse import urlsplit

import pytest
from slow_clients import raw_request

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
