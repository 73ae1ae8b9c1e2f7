"""Wake the workers up; the database stays the source of truth, so a lost message only delays."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from typing import Any, NamedTuple

import orjson
from celery import Celery
from kombu.serialization import dumps
from sqlalchemy import event
from sqlalchemy.orm import Session

from mdph_bridge.broker import Channel as RedisChannel
from mdph_bridge.redis_scripts import KeptConnection

log = logging.getLogger(__name__)

PROCESS_TASK = "transfers.process"
QUEUE = "transfers"
# Big documents have their own queue and workers, so that they never hold up small transfers.
LARGE_QUEUE = "transfers_large"
# The sweeper, alerts, retention and audit tasks, out of the way of transfers.
MAINTENANCE_QUEUE = "maintenance"
QUEUES = (QUEUE, LARGE_QUEUE, MAINTENANCE_QUEUE)
# Where a session keeps its broker (set by the session factory) and the wake-ups it owes.
BROKER = "mdph_bridge.celery"
_PENDING = "mdph_bridge.wakeups"
# After a failed publish, requests skip the broker this long instead of each waiting for its
# connection retries: the sweeper wakes the transfers submitted meanwhile.
BROKER_PAUSE_SECONDS = 5.0


class _Template(NamedTuple):
    """A wake-up's message as Celery and kombu build it, without ids or arguments."""

    envelope: dict[str, Any]
    options: dict[str, Any]  # the body's third part: callbacks, errbacks, chain, chord


# Per Celery app (one per hub instance): until when publishing is skipped.
_paused_until: weakref.WeakKeyDictionary[Celery, float] = weakref.WeakKeyDictionary()
# Per Celery app: the process that opened it and the broker channel wake-ups are published on.
_channels: weakref.WeakKeyDictionary[Celery, tuple[int, Any, _Template | None]] = (
    weakref.WeakKeyDictionary()
)
_channels_lock = threading.Lock()
# The Redis connection each thread publishes its wake-ups on.
_kept = KeptConnection()


def queue_for(celery: Celery, size: int) -> str:
    """The queue of a transfer whose documents weigh `size` bytes."""
    return LARGE_QUEUE if size >= celery.conf["mdph_large_transfer_bytes"] else QUEUE


class _PausedError(Exception):
    """A wake-up failed a moment ago: this one skips the broker, its transfer is the sweeper's."""


def _paused(celery: Celery) -> bool:
    """Whether wake-ups skip the broker for now, after a failure."""
    return time.monotonic() < _paused_until.get(celery, 0.0)


def wake_processing(celery: Celery, transfer_id: uuid.UUID, size: int) -> bool:
    """Ask a worker to process the transfer; call only after the commit that made it visible.

    `size` is the total of its documents, which picks the queue.
    """
    try:
        _publish(celery, transfer_id, queue_for(celery, size))
    except _PausedError:
        log.info("broker recently down, transfer %s left to the sweeper", transfer_id)
        return False
    except Exception as exc:
        _paused_until[celery] = time.monotonic() + BROKER_PAUSE_SECONDS
        with _channels_lock:  # the next wake-up, after the pause, opens a fresh channel
            _channels.pop(celery, None)
        log.warning(
            "broker unavailable, transfer %s left to the sweeper (%s)",
            transfer_id,
            type(exc).__name__,
        )
        return False
    return True


def _channel(celery: Celery) -> tuple[Any, _Template | None]:
    """This process's channel to the broker, opened at its first wake-up (a fork opens its own),
    and on Redis the wake-up's message as Celery writes it for this process (`_template`).

    One attempt to connect (`max_retries` 0: kombu's connection tries twice, 2 s apart, by
    default): a broker that is down leaves the transfer to the sweeper at once. On Redis, the
    connection and each command wait `mdph_wake_up_timeout` seconds at most (redis-py waits
    forever by default), so a broker that accepts connections and never answers does too; the
    threads that waited for this lock meanwhile give up at once. On Redis, each thread then
    publishes on a connection of the channel's pool that it keeps (`KeptConnection`), which
    reconnects by itself.
    """
    with _channels_lock:
        if _paused(celery):  # a wake-up failed a moment ago, perhaps while this one waited here
            raise _PausedError
        opened = _channels.get(celery)
        if opened is None or opened[0] != os.getpid():
            seconds = celery.conf["mdph_wake_up_timeout"]
            options = {"socket_connect_timeout": seconds, "socket_timeout": seconds}
            try:
                connection = celery.connection_for_write(
                    transport_options={**options, "max_retries": 0}
                )
                channel = connection.default_channel
            except Exception:
                _paused_until[celery] = time.monotonic() + BROKER_PAUSE_SECONDS
                raise
            template = _template(celery, channel) if _pushed_as_is(celery, channel) else None
            opened = _channels[celery] = (os.getpid(), channel, template)
        return opened[1:]


def _publish(celery: Celery, transfer_id: uuid.UUID, queue: str) -> None:
    """Push the task's message, as `celery.send_task` writes it, onto the queue's list.

    The message goes to the queue by its name (the default exchange), which needs no
    declaration: the workers declare what they read. On Redis, the LPUSH goes on a connection the
    thread keeps (`KeptConnection`); other brokers (the embedded default's files) take kombu's way.
    """
    task_id, args = str(uuid.uuid4()), [str(transfer_id)]
    channel, template = _channel(celery)
    if template is None:
        channel.basic_publish(_message(celery, channel, task_id, args), "", queue)
        return
    envelope = template.envelope
    message = {
        **envelope,
        "body": orjson.dumps([args, {}, template.options]),
        "headers": {
            **envelope["headers"],
            "id": task_id,
            "root_id": task_id,
            "argsrepr": repr(args),
        },
        "properties": {
            **envelope["properties"],
            "correlation_id": task_id,
            "reply_to": celery.thread_oid,
            "delivery_info": {},
        },
    }
    channel._inplace_augment_message(message, "", queue)  # kombu's body encoding, delivery tag
    _kept.command(channel.pool, "LPUSH", queue, orjson.dumps(message))


def _message(celery: Celery, channel: Any, task_id: str, args: list[str]) -> dict[str, Any]:
    """The task's message in kombu's envelope, as Celery and kombu build it for `send_task`.

    `send_task` did the same around ~0.2 ms of CPU more per call (a producer from its pool, its
    routing, the arguments' safe repr, its retry wrapper).
    """
    message = celery.amqp.create_task_message(
        task_id,
        PROCESS_TASK,
        args,
        {},
        reply_to=celery.thread_oid,
        argsrepr=repr(args),
        kwargsrepr="{}",
        ignore_result=None,
    )
    content_type, encoding, body = dumps(  # type: ignore[no-untyped-call]
        message.body, celery.conf.task_serializer
    )
    properties = {**message.properties, "delivery_mode": 2}  # persistent, as kombu's default
    envelope: dict[str, Any] = channel.prepare_message(
        body, 0, content_type, encoding, message.headers, properties
    )
    return envelope


def _pushed_as_is(celery: Celery, channel: Any) -> bool:
    """Whether `_publish` may push the message itself: kombu's Redis `_put` would push the same
    (JSON, no key prefix, no queue expiry); any other case takes kombu's way."""
    return (
        isinstance(channel, RedisChannel)
        and celery.conf.task_serializer == "json"
        and not channel.global_keyprefix
        and not channel._expires
    )


def _template(celery: Celery, channel: Any) -> _Template:
    """What Celery writes the same in every wake-up of this process (~0.1 ms of CPU less per
    wake-up than building the message each time): only ids, arguments and `reply_to` change."""
    envelope = _message(celery, channel, "", [])
    return _Template(envelope, orjson.loads(envelope["body"])[2])


def wake_after_commit(session: Session, transfer_id: uuid.UUID, size: int) -> None:
    """Wake a worker for the transfer once `session` commits; forget it if it rolls back."""
    session.info.setdefault(_PENDING, {})[transfer_id] = size


# Registered once for every session: a listener added to each request's session cost ~20 µs of
# CPU per submission; a session that owes no wake-up costs these a dictionary lookup.


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    """Send the wake-ups the committed transaction owes: the transfers are visible now."""
    for transfer_id, size in session.info.pop(_PENDING, {}).items():
        wake_processing(session.info[BROKER], transfer_id, size)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    """A rolled-back change made nothing visible: nobody is woken for it."""
    session.info.pop(_PENDING, None)
