"""The Redis broker's channel: one client for every publish, a new one once kombu drops pools."""

from __future__ import annotations

import uuid

import pytest
import redis
from flask import Flask

from mdph_bridge.broker import Channel
from mdph_bridge.services.queue import QUEUE, wake_processing

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
