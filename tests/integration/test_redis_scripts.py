"""Redis scripts sent on a connection each thread keeps."""

from __future__ import annotations

import threading

import pytest
import redis

from mdph_bridge.redis_scripts import KeptConnection

pytestmark = pytest.mark.integration


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
    assert scripts._local.held.connection in new._in_use_connections
    old.disconnect()
    new.disconnect()


def test_a_thread_that_ends_gives_its_connection_back(redis_client: redis.Redis) -> None:
    """Threads that come and go (a server starting one per request) do not drain the pool: each
    one's kept connection goes back to it when the thread ends."""
    settings = redis_client.connection_pool.connection_kwargs
    scripts = KeptConnection()
    pool = redis.ConnectionPool(**settings, max_connections=2)
    answers: list[object] = []
    for _ in range(5):
        thread = threading.Thread(target=lambda: answers.append(scripts.command(pool, "PING")))
        thread.start()
        thread.join()
    assert answers == [b"PONG"] * 5
    assert not pool._in_use_connections
    assert len(pool._available_connections) == 1
    pool.disconnect()
