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
    new = redis.ConnectionPool(**settings)
    take = new.get_connection
    new.get_connection = refuse  # type: ignore[method-assign]
    with pytest.raises(redis.ConnectionError):
        scripts.eval(new, "return 2", ())
    new.get_connection = take  # type: ignore[method-assign]
    assert scripts.eval(new, "return 2", ()) == 2
    assert scripts._local.held.connection in new._in_use_connections
    old.disconnect()
    new.disconnect()


def refuse(*_: object, **__: object) -> redis.Connection:
    """A checkout while Redis refuses connections."""
    raise redis.ConnectionError("refused")


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


def test_threads_beyond_the_pool_s_connections_still_send_their_commands(
    redis_client: redis.Redis,
) -> None:
    """More long-lived threads than the pool has connections: the ones that find none free send
    on a connection of their own rather than failing."""
    settings = redis_client.connection_pool.connection_kwargs
    scripts = KeptConnection()
    pool = redis.ConnectionPool(**settings, max_connections=2)
    answers: list[object] = []
    ready, done = threading.Barrier(5), threading.Event()

    def keep() -> None:
        try:
            answers.append(scripts.command(pool, "PING"))
        finally:
            ready.wait(timeout=30)  # every thread alive, holding what it kept
            done.wait(timeout=30)

    threads = [threading.Thread(target=keep) for _ in range(4)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=30)
    done.set()
    for thread in threads:
        thread.join()
    assert answers == [b"PONG"] * 4
    pool.disconnect()
