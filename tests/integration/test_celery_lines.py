"""Celery's own INFO lines about a transfer's task are never made; the maintenance tasks' are."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from celery.app.trace import build_tracer
from flask import Flask

import workers.tasks  # noqa: F401 - registers the tasks on the app's Celery
from mdph_bridge.services.queue import PROCESS_TASK, QUEUE, wake_processing
from workers import quiet

pytestmark = pytest.mark.integration


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the loggers whose INFO records were made, Celery's loggers at INFO as the
    worker's `--loglevel INFO` sets them."""
    made: list[str] = []
    make = logging.Logger.makeRecord

    def watched(logger: logging.Logger, name: str, level: int, *args: Any, **kw: Any) -> Any:
        if level == logging.INFO:
            made.append(name)
        return make(logger, name, level, *args, **kw)

    celery_logger = logging.getLogger("celery")
    level = celery_logger.level
    celery_logger.setLevel(logging.INFO)
    monkeypatch.setattr(logging.Logger, "makeRecord", watched)
    yield made
    celery_logger.setLevel(level)


def test_a_transfer_s_delivery_makes_no_received_record(app: Flask, records: list[str]) -> None:
    """Celery's strategy for the transfer task is built without its INFO line: a record made
    only to be dropped cost the worker's main process ~0.05 ms per transfer."""
    celery = app.extensions["mdph_bridge"].celery
    consumer = mock.MagicMock(event_dispatcher=None, disable_rate_limits=True)
    consumer.controller.state.revoked = set()
    handle = celery.tasks[PROCESS_TASK].start_strategy(celery, consumer)
    wake_processing(celery, uuid.uuid4(), 1)
    with celery.connection_for_read() as connection:
        message = connection.default_channel.basic_get(QUEUE, no_ack=False)
        handle(message, None, message.ack, message.reject, [])
        message.ack()
    assert consumer.on_task_request.call_count == 1  # the task goes to the pool as before
    assert "celery.worker.strategy" not in records


def test_a_transfer_s_task_run_makes_no_succeeded_record_and_a_maintenance_task_s_does(
    app: Flask, records: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's child builds every task's tracer, then the transfer task's again without its
    INFO line (~0.06 ms per transfer); a maintenance task's still says it succeeded."""
    celery = app.extensions["mdph_bridge"].celery
    transfer, maintenance = celery.tasks[PROCESS_TASK], celery.tasks["maintenance.requeue_stale"]
    for task in (transfer, maintenance):  # as the pool's child does
        task.__trace__ = build_tracer(task.name, task, celery.loader, "worker@test", app=celery)
    quiet.rebuild_tracer(celery, "worker@test")
    monkeypatch.setattr(transfer, "run", lambda *_: None)
    monkeypatch.setattr(maintenance, "run", lambda: 0)
    transfer.__trace__(str(uuid.uuid4()), [str(uuid.uuid4())], {}, {})
    assert "celery.app.trace" not in records
    maintenance.__trace__(str(uuid.uuid4()), [], {}, {})
    assert records == ["celery.app.trace"]
