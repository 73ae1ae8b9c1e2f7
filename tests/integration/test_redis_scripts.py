"""Redis scripts sent on a connection each thread keeps."""

from __future__ import annotations

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
    assert scripts._local.connection in new._in_use_connections
    old.disconnect()
    new.disconnect()
