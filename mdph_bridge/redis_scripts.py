"""Redis commands sent on a connection each thread keeps, not through redis-py's client per call."""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from typing import Any

from redis import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError


class KeptConnection:
    """Run commands on a connection each thread of the process keeps from a pool.

    redis-py's client checks a connection out of its pool for every command, polls it for stray
    data and wraps the call in its retry: as much CPU as the round trip itself, paid on every
    transfer by the worker's children (the inbound watermark) and the web (the wake-up's LPUSH),
    docs/PERFORMANCE.md. A connection found closed (Redis restarted) is opened again and the
    command sent once more, as redis-py's retry does (the callers' commands are idempotent, or a
    second wake-up is harmless); any other error, a timeout among them (redis-py then drops the
    connection, so nothing is left half read), is the caller's. A new pool, or a forked process,
    takes a new connection. Each thread keeps one connection of its pool until it is given
    another pool, or until it ends, when the connection goes back to its pool; a thread that finds
    every connection of the pool kept by others sends its command on a connection of its own.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def eval(self, pool: ConnectionPool, script: str, keys: tuple[str, ...], *args: Any) -> Any:
        """Run `script` with `keys` and `args`; its answer, or Redis's error raised."""
        return self.command(pool, "EVAL", script, len(keys), *keys, *args)

    def command(self, pool: ConnectionPool, *args: Any) -> Any:
        """Send the command `args`; its answer, or Redis's error raised."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is None or held.pool is not pool or held.pid != os.getpid():
            try:
                taken = pool.get_connection()
            except MaxConnectionsError:  # more threads than the pool has connections
                return _once(pool, args)
            held = self._local.held = _Held(taken, pool)  # kept once taken: a failure keeps none
        connection = held.connection
        try:
            connection.send_command(*args)
            return connection.read_response()
        except RedisConnectionError:
            connection.disconnect()  # sending again connects again
            connection.send_command(*args)
            return connection.read_response()


def _once(pool: ConnectionPool, args: tuple[Any, ...]) -> Any:
    """Send one command on a connection made for it, with the pool's settings, then closed."""
    connection = pool.connection_class(**pool.connection_kwargs)
    try:
        connection.send_command(*args)
        return connection.read_response()
    finally:
        connection.disconnect()


class _Held:
    """A connection a thread took from its pool: back to the pool when the thread ends (its
    `threading.local` values are then dropped), so threads that come and go do not drain it."""

    __slots__ = ("connection", "pid", "pool")

    def __init__(self, connection: Any, pool: ConnectionPool) -> None:
        self.connection, self.pool, self.pid = connection, pool, os.getpid()

    def __del__(self) -> None:
        if self.pid == os.getpid():  # a forked child's copy is not its pool's to take back
            with suppress(Exception):  # at interpreter exit, the pool may be half torn down
                self.pool.release(self.connection)
