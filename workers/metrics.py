"""Task metrics for Prometheus, measured where tasks run and served by the worker itself.

With the prefork pool, set PROMETHEUS_MULTIPROC_DIR (an empty folder) in the worker's environment
so that every child's figures are added up; with the solo or threads pool it is not needed.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun, task_retry
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)

TASK_SECONDS = Histogram(
    "mdph_bridge_task_duration_seconds",
    "Durée d'exécution des tâches",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
)
TASK_FAILURES = Counter(
    "mdph_bridge_task_failures_total", "Tâches terminées par une erreur", ["task"]
)
TASK_RETRIES = Counter("mdph_bridge_task_retries_total", "Tâches replanifiées", ["task"])
_started: dict[str, float] = {}


@task_prerun.connect
def _started_task(task_id: str, **_: Any) -> None:
    _started[task_id] = time.monotonic()


@task_postrun.connect
def _finished_task(task_id: str, task: Any, **_: Any) -> None:
    start = _started.pop(task_id, None)
    if start is not None:
        TASK_SECONDS.labels(task.name).observe(time.monotonic() - start)


@task_failure.connect
def _failed_task(sender: Any, **_: Any) -> None:
    TASK_FAILURES.labels(sender.name).inc()


@task_retry.connect
def _retried_task(sender: Any, **_: Any) -> None:
    TASK_RETRIES.labels(sender.name).inc()


def serve(port: int, address: str) -> None:
    """Serve the task metrics over HTTP on `address:port` (keep it on an internal network)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=address, registry=registry)
