"""Kombu's Redis transport, publishing through one Redis client per channel, not one per message,
and keeping its record of unacknowledged messages by one command per delivery and per ack, sent on
a connection the channel keeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import time
from typing import Any

from kombu.transport import redis, virtual
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
        self.channel.run_script(
            _REMEMBER, self.unacked_index_key, self.unacked_key, time(), delivery_tag, raw
        )
        virtual.QoS.append(self, message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        """Forget an acknowledged message, as kombu does."""
        if self.channel.global_keyprefix:
            super().ack(delivery_tag)
            return
        self.channel.run_script(_FORGET, self.unacked_index_key, self.unacked_key, delivery_tag)
        virtual.QoS.ack(self, delivery_tag)


class Channel(redis.Channel):
    """A Redis channel that builds its synchronous client once, with the QoS above.

    Kombu builds a new redis-py client for each published message; building one (its table of
    reply callbacks) cost ~0.18 ms of CPU, a third of a submission's wake-up. The client is
    rebuilt when the channel's pool changes (kombu drops its pools on a disconnection); a
    redis-py client is thread-safe, its connections come from that pool.
    """

    QoS = QoS
    _sync_client: Any = None
    _script_connection: Any = None  # the connection `run_script` keeps, from `_script_pool`
    _script_pool: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._script_lock = threading.Lock()
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

    def run_script(self, script: str, *keys_then_args: Any) -> Any:
        """Run a two-key script on a connection this channel keeps, not through a client: redis-py's
        client checks a connection out of its pool for each command, polls it for stray data and
        wraps the call in its retry, which cost as much CPU as the round trip itself.

        A connection lost (Redis restarted) is opened again and the script sent once more, as the
        client's retry would; the scripts are idempotent. A new pool (kombu's, after a
        disconnection) gets a new connection; the old pool's are closed by kombu.
        """
        with self._script_lock:
            connection = self._script_connection
            if connection is None or self._script_pool is not self.pool:
                self._script_pool = self.pool
                connection = self._script_connection = self._script_pool.get_connection()
            try:
                connection.send_command("EVAL", script, 2, *keys_then_args)
                return connection.read_response()
            except (RedisConnectionError, RedisTimeoutError):
                connection.disconnect()  # sending again connects again
                connection.send_command("EVAL", script, 2, *keys_then_args)
                return connection.read_response()


class Transport(redis.Transport):
    """Kombu's Redis transport with the channel above."""

    Channel = Channel
