"""The Redis broker's channel: one client for every publish, a new one once kombu drops pools;
messages held by the worker until acked, put back in their queue when it stops."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import pytest
import redis
from flask import Flask
from kombu import Queue
from kombu.asynchronous import Hub
from support import silent_server

from mdph_bridge.broker import Channel
from mdph_bridge.services import queue
from mdph_bridge.services.queue import (
    LARGE_QUEUE,
    MAINTENANCE_QUEUE,
    PROCESS_TASK,
    QUEUE,
    wake_processing,
)

pytestmark = pytest.mark.integration


def test_a_channel_publishes_through_one_client_until_its_pool_changes(
    app: Flask, redis_client: redis.Redis
) -> None:
    celery = app.extensions["mdph_bridge"].celery
    with celery.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as again:
            assert first is again
        channel._disconnect_pools()  # what kombu does when the connection is lost
        with channel.conn_or_acquire() as fresh:
            assert fresh is not first
            assert fresh.ping()
    for _ in range(3):
        assert wake_processing(celery, uuid.uuid4(), 1)
    assert redis_client.llen(QUEUE) == 3


def test_a_wake_up_is_the_message_celery_s_send_task_writes(
    app: Flask, redis_client: redis.Redis
) -> None:
    """The wake-up is built once per process by Celery and kombu, then pushed with its own ids
    without `send_task`: decoded, every field is what a worker reads from `send_task`'s, ids apart,
    in every thread (its `reply_to`) and on both queues."""
    celery = app.extensions["mdph_bridge"].celery
    transfer_id = uuid.uuid4()
    redis_client.delete(QUEUE, LARGE_QUEUE)

    def both(queue_name: str, size: int) -> None:
        assert wake_processing(celery, transfer_id, size)
        celery.send_task(PROCESS_TASK, args=[str(transfer_id)], queue=queue_name, declare=[])

    for queue_name, size in ((QUEUE, 1), (LARGE_QUEUE, 10**12)):
        both(queue_name, size)
        thread = threading.Thread(target=both, args=(queue_name, size))
        thread.start()
        thread.join()
        messages = [decoded(m) for m in redis_client.lrange(queue_name, 0, -1)[::-1]]
        assert messages[0] == messages[1]
        assert messages[2] == messages[3]
        assert messages[0]["properties"]["reply_to"] != messages[2]["properties"]["reply_to"]
        assert messages[0]["body"][0] == [str(transfer_id)]
        assert messages[0]["properties"]["delivery_info"]["routing_key"] == queue_name


def test_a_broker_with_a_key_prefix_gets_its_wake_ups_the_kombu_way(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue key kombu would write otherwise (here under a global key prefix) is kombu's to
    write: the wake-up is not pushed as is, under the bare queue name."""
    celery = app.extensions["mdph_bridge"].celery
    options = {**celery.conf.broker_transport_options, "global_keyprefix": "autre:"}
    monkeypatch.setitem(celery.conf, "broker_transport_options", options)
    monkeypatch.delitem(queue._channels, celery, raising=False)  # a channel with the prefix
    redis_client.delete(QUEUE, f"autre:{QUEUE}")
    assert wake_processing(celery, uuid.uuid4(), 1)
    assert (redis_client.llen(f"autre:{QUEUE}"), redis_client.llen(QUEUE)) == (1, 0)
    redis_client.delete(f"autre:{QUEUE}")
    queue._channels.pop(celery)[1].close()


def decoded(raw: bytes) -> dict[str, Any]:
    """A queued message as a worker reads it (its body decoded), without its own ids."""
    message: dict[str, Any] = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    for name in ("id", "root_id"):
        assert message["headers"].pop(name) == message["properties"]["correlation_id"]
    for name in ("correlation_id", "delivery_tag"):
        assert uuid.UUID(message["properties"].pop(name))
    return message


def test_a_thread_s_wake_ups_reuse_its_connection_and_the_message_celery_built_once(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its first wake-up a thread takes no connection from the channel's pool (redis-py's
    client took one per command) and Celery builds no message: ~0.1 ms of CPU each per wake-up."""
    celery = app.extensions["mdph_bridge"].celery
    assert wake_processing(celery, uuid.uuid4(), 1)
    channel = queue._channels[celery][1]
    monkeypatch.setattr(channel.pool, "get_connection", lambda *_: pytest.fail("a checkout"))
    monkeypatch.setattr(celery.amqp, "create_task_message", lambda *_, **__: pytest.fail("built"))
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for transfer_id in ids:
        assert wake_processing(celery, uuid.UUID(transfer_id), 1)
    assert [body_id(m) for m in redis_client.lrange(QUEUE, 0, 2)] == ids[::-1]


def test_a_delivered_message_is_held_by_the_worker_alone_nothing_is_written_to_redis(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without kombu's ack emulation a delivery and its ack cost the worker no command: the
    message is held in memory until acked, the sweeper brings back a dead worker's transfer."""
    celery = app.extensions["mdph_bridge"].celery
    wake_processing(celery, uuid.uuid4(), 1)
    with celery.connection_for_read() as connection:
        channel = connection.default_channel
        message = channel.basic_get(QUEUE, no_ack=False)
        assert redis_client.keys() == []  # the queue emptied, no record of the delivery
        with channel.conn_or_acquire() as client:
            monkeypatch.setattr(client, "execute_command", lambda *_, **__: pytest.fail("sent"))
            monkeypatch.setattr(client, "pipeline", lambda *_, **__: pytest.fail("a pipeline"))
            message.ack()
    assert redis_client.keys() == []  # nothing to put back once acked


def test_messages_held_and_not_acked_go_back_to_their_queue_at_a_warm_shutdown(
    app: Flask, redis_client: redis.Redis
) -> None:
    """A worker stopping (its channel closed) puts back what it took and did not finish, and a
    message rejected with `requeue` goes back at once; an acked one is gone."""
    celery = app.extensions["mdph_bridge"].celery
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for transfer_id in ids:
        wake_processing(celery, uuid.UUID(transfer_id), 1)
    with celery.connection_for_read() as connection:
        channel = connection.default_channel
        done, rejected, _held = (channel.basic_get(QUEUE, no_ack=False) for _ in range(3))
        done.ack()
        rejected.reject(requeue=True)
        assert [body_id(m) for m in redis_client.lrange(QUEUE, 0, -1)] == [ids[1]]
    back = [body_id(m) for m in redis_client.lrange(QUEUE, 0, -1)]
    assert sorted(back) == sorted(ids[1:])


def body_id(raw: bytes) -> str:
    """The transfer id a queued wake-up carries."""
    return str(json.loads(base64.b64decode(json.loads(raw)["body"]))[0][0])


def test_the_worker_s_loop_adds_the_broker_s_socket_to_its_readers_once_not_every_turn(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kombu re-added its socket on every turn of the worker's loop (two `epoll_ctl` each); it is
    added once, and messages are still delivered, on the first connection and a new one."""
    celery = app.extensions["mdph_bridge"].celery
    loop, delivered, added = Hub(), [], []
    add = loop.add

    def watched(fd: int, *args: Any, **kw: Any) -> None:
        added.append(fd)
        add(fd, *args, **kw)

    monkeypatch.setattr(loop, "add", watched)

    def on_message(body: object, message: Any) -> None:
        delivered.append(body)
        message.ack()

    with celery.connection_for_read() as connection:
        connection.transport.register_with_event_loop(connection.connection, loop)
        consumer = connection.Consumer([Queue(QUEUE)], callbacks=[on_message], accept=["json"])
        consumer.consume()
        turns = loop.create_loop()
        for expected in (3, 6):
            for _ in range(3):
                wake_processing(celery, uuid.uuid4(), 1)
            for _ in range(200):
                next(turns)
                if len(delivered) == expected:
                    break
            assert len(delivered) == expected
            assert len(added) == 1
            connection.default_channel.client.connection.disconnect()  # as a Redis restart would
            added.clear()
        loop.close()


def test_a_worker_s_brpop_names_one_list_per_queue_and_still_receives_its_messages(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kombu's default priority steps named four lists per queue in every BRPOP (eight keys for
    the small worker's two queues, packed once per message); the hub sends no priorities."""
    celery = app.extensions["mdph_bridge"].celery
    loop, delivered, commands = Hub(), [], []

    def on_message(body: object, message: Any) -> None:
        delivered.append(body)
        message.ack()

    with celery.connection_for_read() as connection:
        connection.transport.register_with_event_loop(connection.connection, loop)
        client = connection.default_channel.client
        queues = [Queue(QUEUE), Queue(MAINTENANCE_QUEUE)]
        consumer = connection.Consumer(queues, callbacks=[on_message], accept=["json"])
        consumer.consume()
        turns = loop.create_loop()
        next(turns)  # the first BRPOP sent, on the connection it opened
        send = client.connection.send_command

        def watched(*args: Any, **kw: Any) -> None:
            commands.append(args)
            send(*args, **kw)

        monkeypatch.setattr(client.connection, "send_command", watched)
        for _ in range(2):
            wake_processing(celery, uuid.uuid4(), 1)
        for _ in range(200):
            next(turns)
            if len(delivered) == 2:
                break
        loop.close()
    assert len(delivered) == 2
    brpops = [args for args in commands if args[0] == "BRPOP"]
    assert brpops
    assert all(sorted(args[1:-1]) == sorted([QUEUE, MAINTENANCE_QUEUE]) for args in brpops)


def test_every_thread_of_a_web_process_publishes_on_the_one_channel_without_refusal(
    app: Flask, redis_client: redis.Redis
) -> None:
    """More threads than kombu's default pool of 10 publish at once: none is taken for a broker
    outage (which would leave its transfer to the sweeper and pause the wake-ups)."""
    celery = app.extensions["mdph_bridge"].celery
    queue._channels.pop(celery, None)
    start = threading.Barrier(16)
    woken: list[bool] = []

    def publish() -> None:
        start.wait()
        woken.extend(wake_processing(celery, uuid.uuid4(), 1) for _ in range(50))

    threads = [threading.Thread(target=publish) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert woken == [True] * 800
    messages = [json.loads(m) for m in redis_client.lrange(QUEUE, 0, -1)]
    assert len({m["headers"]["id"] for m in messages}) == 800


def test_a_channel_that_failed_is_replaced_after_the_pause(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    celery = app.extensions["mdph_bridge"].celery
    assert wake_processing(celery, uuid.uuid4(), 1)
    broken = queue._channels[celery][1]

    def closed(*_: object, **__: object) -> None:
        raise redis.ConnectionError("connection closed")

    with monkeypatch.context() as lost:  # every connection lost, reconnecting included
        lost.setattr(redis.connection.AbstractConnection, "send_command", closed)
        assert not wake_processing(celery, uuid.uuid4(), 1)  # left to the sweeper
    queue._paused_until.pop(celery)  # the pause is over
    assert wake_processing(celery, uuid.uuid4(), 1)
    assert queue._channels[celery][1] is not broken
    assert redis_client.llen(QUEUE) == 2


def test_a_broker_that_never_answers_holds_one_wake_up_not_every_thread_in_turn(
    app: Flask,
) -> None:
    """While one thread's connection waits for a broker that accepts it and never answers, the
    others wait for the channel's lock; when it gives up (its timeout), they give up at once
    instead of each trying in turn: every transfer is left to the sweeper, one connection made."""
    celery = app.extensions["mdph_bridge"].celery
    queue._channels.pop(celery, None)
    start = threading.Barrier(8)
    woken: list[bool] = []

    def publish() -> None:
        start.wait()
        woken.append(wake_processing(celery, uuid.uuid4(), 1))

    threads = [threading.Thread(target=publish) for _ in range(8)]
    with silent_server() as (port, accepted):
        celery.conf.broker_url = f"redis://127.0.0.1:{port}/0"
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)  # a bound for a hung test, not a measure
        assert woken == [False] * 8
        assert len(accepted) == 1
    for thread in threads:
        thread.join()
