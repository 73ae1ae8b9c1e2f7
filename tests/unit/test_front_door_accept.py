"""gunicorn's workers share one listening socket: one holding fewer connections accepts first."""

from __future__ import annotations

import errno
import selectors
import socket
import threading
from collections import deque
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from mdph_bridge import gunicorn_worker
from mdph_bridge.gunicorn_worker import (
    ACCEPT_YIELD_SECONDS,
    HELD,
    SLOTS,
    UNUSED,
    FrontDoorWorker,
    take_slot,
)


class Listener:
    """A listening socket's stand-in: readable while a connection waits, as the real one."""

    def __init__(self) -> None:
        self._pending, self._signal = socket.socketpair()
        self._pending.setblocking(False)
        self.accepted: list[socket.socket] = []

    def fileno(self) -> int:
        return self._pending.fileno()

    def connect(self) -> None:
        self._signal.send(b"c")

    def accept(self) -> tuple[socket.socket, tuple[str, int]]:
        try:
            self._pending.recv(1)
        except BlockingIOError:
            raise OSError(errno.EAGAIN, "nothing to accept") from None
        ours, theirs = socket.socketpair()
        self.accepted += (ours, theirs)
        return ours, ("127.0.0.1", 40000)

    def close(self) -> None:
        for end in (self._pending, self._signal, *self.accepted):
            end.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.close()


@pytest.fixture(autouse=True)
def held() -> Iterator[None]:
    """The shared counts as this process had them before the test."""
    before = HELD.tolist()
    yield
    for slot, count in enumerate(before):
        HELD[slot] = count


def workers(*holding: int) -> list[FrontDoorWorker]:
    """Workers' accepting parts with their slots, holding so many connections each (no fork)."""
    made: list[FrontDoorWorker] = []
    for count in holding:
        front = FrontDoorWorker.__new__(FrontDoorWorker)
        take_slot(front, made)
        front.cfg, front.nr_conns = Config(), count
        front._heads, front._lock = {}, threading.RLock()
        front.poller = selectors.DefaultSelector()
        front._publish()
        made.append(front)
    return made


def accept(front: FrontDoorWorker, listener: Listener) -> None:
    front.accept(("127.0.0.1", 8000), listener)  # type: ignore[arg-type]


def test_the_worker_holding_fewer_connections_takes_the_new_one(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy, idle = workers(3, 0)
    # Both are woken by the connection; the idle one's process accepts while the busy one waits.
    monkeypatch.setattr(gunicorn_worker.time, "sleep", lambda _: accept(idle, listener))
    listener.connect()

    accept(busy, listener)

    assert (busy.nr_conns, idle.nr_conns) == (3, 1)
    assert [HELD[busy.slot], HELD[idle.slot]] == [3, 1]  # type: ignore[index]


def test_workers_holding_as_many_accept_at_once(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = workers(2, 2)
    waits: list[float] = []
    monkeypatch.setattr(gunicorn_worker.time, "sleep", waits.append)
    listener.connect()

    accept(first, listener)

    assert first.nr_conns == 3
    assert waits == []


def test_a_worker_ahead_accepts_itself_when_the_other_does_not(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy, _stuck = workers(3, 0)
    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(gunicorn_worker.time, "monotonic", lambda: clock.now)
    monkeypatch.setattr(
        gunicorn_worker.time, "sleep", lambda s: setattr(clock, "now", clock.now + s)
    )
    listener.connect()

    accept(busy, listener)

    assert busy.nr_conns == 4
    assert ACCEPT_YIELD_SECONDS <= clock.now - 100.0 < 2 * ACCEPT_YIELD_SECONDS


def test_a_new_worker_takes_the_slot_of_one_gone_and_starts_at_zero() -> None:
    first, second = workers(5, 7)
    replacement = SimpleNamespace()

    take_slot(replacement, [second])  # the first one died: the master forks another

    assert (first.slot, second.slot, replacement.slot) == (0, 1, 0)
    assert HELD[0] == 0
    assert HELD[1] == 7
    assert all(HELD[slot] == UNUSED for slot in range(2, SLOTS))


def test_each_turn_of_the_loop_publishes_what_the_worker_holds() -> None:
    (front,) = workers(4)
    front._keep = deque()  # type: ignore[assignment]
    front.nr_conns = 1  # three kept-alive connections ended since the last accept

    front.murder_keepalived()

    assert HELD[front.slot] == 1  # type: ignore[index]
