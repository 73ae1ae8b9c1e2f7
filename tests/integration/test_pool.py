"""A threaded web worker keeps a connection per thread instead of opening one per request."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from gunicorn.app.wsgiapp import WSGIApplication

from mdph_bridge import extensions, gunicorn_conf
from mdph_bridge.extensions import make_engine

pytestmark = pytest.mark.integration


def test_connections_returned_by_concurrent_requests_are_kept(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        # Eight requests at once in one worker, as wrk's or nginx's connections may all land there.
        at_once = [engine.connect() for _ in range(8)]
        first = {conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for conn in at_once}
        for conn in at_once:
            conn.close()
        again = [engine.connect() for _ in range(8)]
        second = {conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for conn in again}
        for conn in again:
            conn.close()
    finally:
        engine.dispose()

    assert second == first  # the same eight PostgreSQL backends, none closed and opened anew
    assert engine.pool.size() == gunicorn_conf.threads


def test_a_worker_started_with_other_threads_keeps_as_many_connections(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["gunicorn", "-c", "python:mdph_bridge.gunicorn_conf", "--threads", "3", "x:app"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(extensions, "POOL_SIZE", extensions.POOL_SIZE)  # restored afterwards
    cfg = WSGIApplication().cfg  # gunicorn's own reading of the file and the command line
    cfg.post_fork(None, SimpleNamespace(cfg=cfg))  # as gunicorn calls it in a new worker
    engine = make_engine(database_url)
    assert engine.pool.size() == 3
    engine.dispose()
