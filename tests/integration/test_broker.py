"""The Redis broker's channel: one client for every publish, a new one once kombu drops pools."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import redis
from flask import Flask

from mdph_bridge.broker import Channel
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
