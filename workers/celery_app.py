"""Celery entry point: `celery -A workers.celery_app worker` / `beat`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from celery.signals import beat_init, worker_init, worker_process_init, worker_process_shutdown
from dotenv import load_dotenv

from mdph_bridge import create_app
from mdph_bridge.extensions import Backends, warm_up
from mdph_bridge.services.queue import PROCESS_TASK

os.umask(0o077)  # the files and folders the workers create are their owner's only


class _NotPerTransfer(logging.Filter):
    """Drop Celery's own INFO lines about a transfer's task ("received", "succeeded") where they are
    still made: `workers.quiet` builds the transfer task's strategy and, in a prefork pool's
    children, its tracer without them; the solo pool (the end-to-end tests) traces with the
    consumer's tracer. The maintenance tasks' lines, and every warning and error, are logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        about = record.args if isinstance(record.args, Mapping) else {}
        return record.levelno >= logging.WARNING or about.get("name") != PROCESS_TASK


for logger in ("celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(logger).addFilter(_NotPerTransfer())
load_dotenv(".env")  # the working directory's, as for the CLI
flask_app = create_app()
app = flask_app.extensions["celery"]

import workers.tasks  # noqa: E402, F401 - registers the tasks on `app`
from workers import metrics, quiet, sequencer  # noqa: E402 - metrics measures the tasks


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """Never share the parent's database connections with forked children (celery#3238); warm up."""
    backends: Backends = flask_app.extensions["mdph_bridge"]
    backends.engine.dispose(close=False)
    warm_up()


@worker_process_init.connect
def _quiet_tracer(sender: str | None, **_: Any) -> None:
    """The transfer task's tracer without Celery's "succeeded" line (`quiet`)."""
    quiet.rebuild_tracer(app, sender)


@worker_init.connect
def _serve_metrics(**_: Any) -> None:
    """Serve task durations and failures for Prometheus if a port is configured."""
    port = flask_app.config["WORKER_METRICS_PORT"]
    if port:
        metrics.serve(port, flask_app.config["WORKER_METRICS_ADDRESS"])


@worker_process_shutdown.connect
def _forget_child(pid: int, **_: Any) -> None:
    """Drop a finished child's live gauges in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


@beat_init.connect
def _start_sequencer(**_: Any) -> None:
    """Seal the audit log from the beat process, the one scheduler of the hub."""
    sequencer.start(flask_app)
