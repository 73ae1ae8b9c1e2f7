"""Kombu's Redis transport, publishing through one Redis client per channel, not one per message,
and adding its sockets to the worker's event loop once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis

# Celery's `broker_transport` for a Redis broker URL (kombu resolves "module:Class").
REDIS_TRANSPORT = f"{__name__}:Transport"


class Channel(redis.Channel):
    """A Redis channel that builds its synchronous client once.

    Kombu builds a new redis-py client for each published message (beat's, a worker's own
    retries; the web's wake-ups go on kept connections, services/queue.py); building one (its
    table of reply callbacks) cost ~0.18 ms of CPU. The client is
    rebuilt when the channel's pool changes (kombu drops its pools on a disconnection); a
    redis-py client is thread-safe, its connections come from that pool.
    """

    _sync_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """The client given, or this channel's own."""
        if client:
            yield client
            return
        own = self._sync_client
        if own is None or own.connection_pool is not self.pool:
            own = self._sync_client = self._create_client()
        yield own


class Transport(redis.Transport):
    """Kombu's Redis transport with the channel above, whose sockets the worker's event loop adds
    to its readers once, not again on every turn of the loop."""

    Channel = Channel

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        """Register as kombu does, then replace the callback it runs on every turn of the loop.

        Kombu's re-adds each of its sockets to the loop's readers on every turn: an `epoll_ctl`
        that fails (already there), then another that modifies, ~4 turns per transfer, ~0.1 ms of
        the worker's main process each (docs/PERFORMANCE.md). Kombu registers a socket in `epoll`
        itself whenever it (re)connects it, and every path that drops a reader drops it from the
        loop's readers too, so a socket already read with kombu's callback needs nothing more.
        """
        before = set(loop.on_tick)
        super().register_with_event_loop(connection, loop)
        loop.on_tick.difference_update(set(loop.on_tick) - before)  # kombu's on_poll_start
        cycle: Any = self.cycle  # kombu's MultiChannelPoller
        readers, on_readable = loop.readers, self.on_readable

        def on_poll_start() -> None:
            cycle.on_poll_start()
            for fd in cycle.fds:
                if readers.get(fd) != (on_readable, (fd,)):
                    loop.add_reader(fd, on_readable, fd)

        loop.on_tick.add(on_poll_start)
