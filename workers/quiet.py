"""Celery's own INFO lines about each transfer's task ("received", "succeeded"), never made.

They repeat what the hub logs of each outcome. Celery's strategy and tracer check their logger's
level once, when built, so a transfer's task built with it above INFO makes no record at all: a
filter dropped them after their record was made, which still cost ~0.05 ms per transfer in the
worker's main process and as much in its children (docs/PERFORMANCE.md). The maintenance tasks
keep their lines, and every task its warnings and errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, Task
from celery.app.trace import build_tracer
from celery.worker.strategy import default

from mdph_bridge.services.queue import PROCESS_TASK


@contextmanager
def _info_off(logger: str) -> Iterator[None]:
    """One of Celery's loggers above INFO while a strategy or a tracer is built."""
    quiet = logging.getLogger(logger)
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        yield
    finally:
        quiet.setLevel(level)


def strategy(task: Task, celery: Celery, consumer: Any, **options: Any) -> Any:
    """Celery's strategy, without the "received" line (the transfer task's `Strategy`)."""
    with _info_off("celery.worker.strategy"):
        return default(task, celery, consumer, **options)


def rebuild_tracer(celery: Celery, hostname: str | None) -> None:
    """Build the transfer task's tracer again, as the pool's child built it, without the
    "succeeded" line (once the child has built every task's)."""
    task = celery.tasks[PROCESS_TASK]
    with _info_off("celery.app.trace"):
        task.__trace__ = build_tracer(PROCESS_TASK, task, celery.loader, hostname, app=celery)
