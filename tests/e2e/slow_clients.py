"""Hostile clients for the front-door tests: heads and bodies sent a few bytes at a time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _connect(port: int, wrap: Callable[[socket.socket], socket.socket]) -> socket.socket:
    sock = wrap(socket.create_connection(("127.0.0.1", port), timeout=10))
    sock.settimeout(10)
    return sock


@contextmanager
def trickling(
    port: int,
    heads: int,
    bodies: int = 0,
    body_head: bytes = b"",
    wrap: Callable[[socket.socket], socket.socket] = lambda s: s,
    seconds: float = 60,
) -> Iterator[list[socket.socket]]:
    """Open `heads` connections that send a request head one byte a second, and `bodies` that
    send a complete head (`body_head`) then a body one byte a second; stop them on exit."""
    opened: list[socket.socket] = []
    for _ in range(heads):
        sock = _connect(port, wrap)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        opened.append(sock)
    for _ in range(bodies):
        sock = _connect(port, wrap)
        sock.sendall(body_head)
        opened.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        deadline = time.monotonic() + seconds
        while not stop.wait(1) and time.monotonic() < deadline:
            for sock in opened:
                try:
                    sock.sendall(b"X")
                except OSError:
                    continue  # dropped by the server: what it should do to a slow client

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield opened
    finally:
        stop.set()
        thread.join(timeout=5)
        for sock in opened:
            sock.close()


def raw_request(port: int, request: bytes) -> bytes:
    """Send bytes as they are and return the whole answer (the server closes the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
