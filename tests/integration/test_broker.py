"""The Redis broker's channel: one client for every publish, a new one once kombu drops pools."""

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
from support import evals_through_a_client, silent_server

from mdph_bridge.broker import Channel
from mdph_bridge.redis_scripts import KeptConnection
from mdph_bridge.services import queue
from mdph_bridge.services.queue import PROCESS_TASK, QUEUE, wake_processing

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
    """The wake-up is built by Celery and pushed by kombu's channel without `send_task`: a
    worker reads the same message, but for its own ids."""
    celery = app.extensions["mdph_bridge"].celery
    transfer_id = uuid.uuid4()
    redis_client.delete(QUEUE)
    assert wake_processing(celery, transfer_id, 1)
    celery.send_task(PROCESS_TASK, args=[str(transfer_id)], queue=QUEUE, declare=[])
    ours, celery_s = (json.loads(m) for m in redis_client.lrange(QUEUE, 0, -1)[::-1])
    for message in (ours, celery_s):
        for name in ("id", "root_id"):
            message["headers"].pop(name)
        for name in ("correlation_id", "delivery_tag"):
            message["properties"].pop(name)
    assert ours == celery_s
    assert json.loads(base64.b64decode(ours["body"]))[0] == [str(transfer_id)]


def test_a_delivery_is_recorded_until_acked_by_one_command_each_not_a_pipeline(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    celery = app.extensions["mdph_bridge"].celery
    wake_processing(celery, uuid.uuid4(), 1)
    wake_processing(celery, uuid.uuid4(), 1)
    with celery.connection_for_read() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as client:  # a script each time, no MULTI/EXEC pipeline
            monkeypatch.setattr(client, "pipeline", lambda *_, **__: pytest.fail("a pipeline"))
        first = channel.basic_get(QUEUE, no_ack=False)
        tag = first.delivery_tag
        assert redis_client.zscore(channel.unacked_index_key, tag) is not None
        assert json.loads(redis_client.hget(channel.unacked_key, tag))[0] == first._raw
        first.ack()
        assert redis_client.zcard(channel.unacked_index_key) == 0
        assert redis_client.hlen(channel.unacked_key) == 0
        # What is recorded is what kombu redelivers: the message goes back to its queue.
        second = channel.basic_get(QUEUE, no_ack=False)
        assert redis_client.llen(QUEUE) == 0
        monkeypatch.undo()
        channel.qos.restore_by_tag(second.delivery_tag)
        assert json.loads(redis_client.lpop(QUEUE))["properties"]["delivery_tag"]
        assert redis_client.hlen(channel.unacked_key) == 0


def test_deliveries_are_recorded_and_forgotten_on_a_kept_connection_not_through_a_client(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's record of each delivery and each ack is one script sent on the connection its
    channel keeps, not a client's command (a pool checkout, a poll and a retry wrapper each); a
    connection lost is opened again, and a pool kombu replaced gives a new connection."""
    celery = app.extensions["mdph_bridge"].celery
    for _ in range(3):
        wake_processing(celery, uuid.uuid4(), 1)
    through_a_client = evals_through_a_client(monkeypatch)
    with celery.connection_for_read() as connection:
        channel = connection.default_channel
        messages = [channel.basic_get(QUEUE, no_ack=False) for _ in range(3)]
        assert through_a_client == []
        assert redis_client.zcard(channel.unacked_index_key) == 3
        kept = channel.scripts._local.connection
        messages[0].ack()
        assert channel.scripts._local.connection is kept
        kept.send_command("CLIENT", "ID")
        redis_client.client_kill_filter(_id=kept.read_response())  # as a Redis restart would
        messages[1].ack()
        channel._disconnect_pools()  # what kombu does when the connection is lost
        messages[2].ack()
        assert channel.scripts._local.connection is not kept
    assert through_a_client == []
    assert redis_client.zcard(channel.unacked_index_key) == 0
    assert redis_client.hlen(channel.unacked_key) == 0


def test_a_failed_checkout_leaves_no_connection_kept_under_the_new_pool(
    redis_client: redis.Redis,
) -> None:
    """A thread whose checkout from a new pool failed (Redis refusing connections) takes one of
    that pool next time, not the connection it kept from the old one (or a parent's, forked)."""
    settings = redis_client.connection_pool.connection_kwargs
    scripts = KeptConnection()
    old = redis.ConnectionPool(**settings)
    assert scripts.eval(old, "return 1", ()) == 1
    new = redis.ConnectionPool(**settings, max_connections=1)
    held = new.get_connection()
    with pytest.raises(redis.ConnectionError):  # the pool has no connection to give
        scripts.eval(new, "return 2", ())
    new.release(held)
    assert scripts.eval(new, "return 2", ()) == 2
    assert scripts._local.connection in new._in_use_connections
    old.disconnect()
    new.disconnect()


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


def test_with_a_key_prefix_kombu_s_own_record_of_deliveries_is_kept(
    app: Flask, redis_client: redis.Redis
) -> None:
    celery = app.extensions["mdph_bridge"].celery
    options = celery.conf.broker_transport_options
    celery.conf.broker_transport_options = {**options, "global_keyprefix": "pfx:"}
    queue._channels.pop(celery, None)
    try:
        assert wake_processing(celery, uuid.uuid4(), 1)
        assert redis_client.llen("pfx:" + QUEUE) == 1
        with celery.connection_for_read() as connection:
            channel = connection.default_channel
            message = channel.basic_get(QUEUE, no_ack=False)
            tag = message.delivery_tag
            assert redis_client.zscore("pfx:" + channel.unacked_index_key, tag) is not None
            assert redis_client.hget("pfx:" + channel.unacked_key, tag) is not None
            message.ack()
            assert redis_client.zcard("pfx:" + channel.unacked_index_key) == 0
            assert redis_client.hlen("pfx:" + channel.unacked_key) == 0
    finally:
        celery.conf.broker_transport_options = options
        queue._channels.pop(celery, None)
        redis_client.delete("pfx:" + QUEUE)


def test_a_message_delivered_and_never_acked_comes_back_after_the_visibility_timeout(
    app: Flask, redis_client: redis.Redis
) -> None:
    celery = app.extensions["mdph_bridge"].celery
    assert wake_processing(celery, uuid.uuid4(), 1)
    with celery.connection_for_read() as connection:
        channel = connection.default_channel
        message = channel.basic_get(QUEUE, no_ack=False)
        assert redis_client.llen(QUEUE) == 0
        channel.qos.__dict__["visibility_timeout"] = -5  # as if it had passed already
        channel.qos.restore_visible(num=10, interval=1)
        back = json.loads(redis_client.lpop(QUEUE))
        assert back["headers"]["id"] == message.headers["id"]
        assert redis_client.hlen(channel.unacked_key) == 0


def test_a_channel_that_failed_is_replaced_after_the_pause(
    app: Flask, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    celery = app.extensions["mdph_bridge"].celery
    assert wake_processing(celery, uuid.uuid4(), 1)
    broken = queue._channels[celery][1]

    def closed(*_: object, **__: object) -> None:
        raise OSError("channel closed")

    monkeypatch.setattr(broken, "basic_publish", closed)
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
