"""A hub of its own for a test module: dedicated servers, the web side in process, Celery around."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from processes import FAST_RECOVERY, Process
from servers import PostgresServer, RedisServer
from sqlalchemy import create_engine, text
from support import hub_settings

from mdph_bridge import create_app
from mdph_bridge.migrations import alembic_config
from mdph_bridge.services.queue import LARGE_QUEUE, MAINTENANCE_QUEUE, QUEUE

QUEUES = ",".join((QUEUE, LARGE_QUEUE, MAINTENANCE_QUEUE))
WORKER_ARGS = ["worker", "--pool=solo", "--without-mingle", "--without-gossip", "--loglevel=INFO"]


class Cluster:
    """Dedicated servers, the hub in process, and the worker and beat processes around them."""

    def __init__(self, root: Path, extra: dict[str, Any] | None = None) -> None:
        self.postgres = PostgresServer()
        self.redis = RedisServer()
        self.postgres.init()
        self.postgres.start()
        self.redis.start()
        admin = create_engine(self.postgres.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE mdph_hub"))
        admin.dispose()
        database_url = self.postgres.url.rsplit("/", 1)[0] + "/mdph_hub"
        command.upgrade(alembic_config(database_url), "head")
        self.settings = hub_settings(root, database_url, self.redis.url) | FAST_RECOVERY
        # Blobs a crash left behind are swept within seconds, as the assertions wait for.
        self.settings["ORPHAN_AGE_SECONDS"] = 3
        self.settings |= extra or {}
        self.hub = create_app(self.settings)
        env = {**os.environ, **{f"MDPH_BRIDGE_{k}": str(v) for k, v in self.settings.items()}}
        self.env = env
        self.root = root
        self.workers = [self.new_worker("worker")]
        self.beat = Process(["beat", "--loglevel=INFO"], env, root, root / "beat.log")

    @property
    def worker(self) -> Process:
        """The first worker."""
        return self.workers[0]

    def new_worker(self, name: str, queues: str = QUEUES) -> Process:
        """A worker process (not started) with the cluster's settings, on `queues`."""
        args = [*WORKER_ARGS, "-Q", queues, "-n", f"{name}@%h"]
        return Process(args, self.env, self.root, self.log(name))

    def log(self, name: str) -> Path:
        """Where a process of the cluster writes its output."""
        return self.root / f"{name}.log"

    def start(self, process: Process) -> None:
        """Start a worker and wait until it answers a ping."""
        process.start()
        deadline = time.monotonic() + 60
        celery = self.hub.extensions["celery"]
        lost = celery.connection_for_write().connection_errors
        while time.monotonic() < deadline:
            assert process.proc is not None
            assert process.proc.poll() is None, process.log.read_text()[-3000:]
            name = process.args[process.args.index("-n") + 1].split("@")[0]
            try:
                replies = celery.control.ping(timeout=0.5)
            except lost:
                # A pooled connection a Redis restart closed (nothing else in this process uses
                # the pool to revive it): kombu drops it on this error, the next ping gets one.
                continue
            if any(name in reply_name for r in replies for reply_name in r):
                return
        pytest.fail(f"worker did not answer: {process.log.read_text()[-3000:]}")

    def close(self) -> None:
        """Stop every process and server."""
        self.stop_processes()
        self.hub.extensions["mdph_bridge"].engine.dispose()
        self.redis.remove()
        self.postgres.remove()

    def stop_processes(self) -> None:
        """Stop the workers and the beat (woken first if a test froze them)."""
        for process in [*self.workers, self.beat]:
            if process.proc is not None and process.proc.poll() is None:
                os.kill(process.proc.pid, signal.SIGCONT)
            process.stop()
