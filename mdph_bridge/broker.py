"""Kombu's Redis transport, publishing through one Redis client per channel, not one per message,
and keeping its record of unacknowledged messages by one command per delivery and per ack, sent on
a connection the channel keeps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from time import time
from typing import Any

from kombu.transport import redis, virtual
from kombu.utils.json import dumps

from mdph_bridge.redis_scripts import KeptConnection

# Celery's `broker_transport` for a Redis broker URL (kombu resolves "module:Class").
REDIS_TRANSPORT = f"{__name__}:Transport"
# What kombu's MULTI/EXEC pipelines do for a message delivered and for one acknowledged, as one
# command each: a script runs atomically, as the transaction does. Sent whole (EVAL): redis-py's
# EVALSHA wrapper costs the client more than the script's few bytes.
_REMEMBER = (
    "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])"
)
_FORGET = "redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('HDEL', KEYS[2], ARGV[1])"


class QoS(redis.QoS):
    """Kombu's record of the messages delivered and not yet acknowledged (redelivered after the
    visibility timeout), kept by one script per delivery and per ack instead of a MULTI/EXEC
    pipeline: ~0.04 ms less of the worker's main process each, and ~0.02 ms more sent on the
    channel's kept connection (docs/PERFORMANCE.md)."""

    def append(self, message: Any, delivery_tag: str) -> None:
        """Record a delivered message until it is acknowledged, as kombu does."""
        if self.channel.global_keyprefix:  # kombu's prefixing client leaves a script's keys
            super().append(message, delivery_tag)
            return
        delivery = message.delivery_info
        raw = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        keys = (self.unacked_index_key, self.unacked_key)
        self.channel.scripts.eval(self.channel.pool, _REMEMBER, keys, time(), delivery_tag, raw)
        virtual.QoS.append(self, message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        """Forget an acknowledged message, as kombu does."""
        if self.channel.global_keyprefix:
            super().ack(delivery_tag)
            return
        keys = (self.unacked_index_key, self.unacked_key)
        self.channel.scripts.eval(self.channel.pool, _FORGET, keys, delivery_tag)
        virtual.QoS.ack(self, delivery_tag)


class Channel(redis.Channel):
    """A Redis channel that builds its synchronous client once, with the QoS above, whose
    scripts go on a connection the channel keeps.

    Kombu builds a new redis-py client for each published message; building one (its table of
    reply callbacks) cost ~0.18 ms of CPU, a third of a submission's wake-up. The client is
    rebuilt when the channel's pool changes (kombu drops its pools on a disconnection); a
    redis-py client is thread-safe, its connections come from that pool.
    """

    QoS = QoS
    _sync_client: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.scripts = KeptConnection()  # the QoS's scripts, on the channel's pool
        super().__init__(*args, **kwargs)

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
