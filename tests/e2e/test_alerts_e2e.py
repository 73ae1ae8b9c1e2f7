"""Deadline alerts through the real worker and a real SMTP server: once, even after a restart."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from histories import add_transfer
from processes import Process
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import State
from mdph_bridge.models import utcnow

pytestmark = pytest.mark.e2e
TASK = "maintenance.deadline_alerts"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def inbox(e2e_settings: dict[str, Any]) -> Iterator[Inbox]:
    """The SMTP server the worker is configured to use."""
    handler = Inbox()
    controller = Controller(
        handler, hostname="127.0.0.1", port=urlsplit(e2e_settings["SMTP_URL"]).port
    )
    controller.start()
    yield handler
    controller.stop()


def runs(worker: Process) -> int:
    return len(re.findall(rf"Task {TASK}\[[^\]]+\] succeeded", worker.log.read_text()))


def run_alerts(hub: Flask, worker: Process, times: int) -> None:
    """Have the worker run the alert task `times` times and wait until it has."""
    before = runs(worker)
    for _ in range(times):
        hub.extensions["celery"].send_task(TASK, queue="maintenance")
    deadline = time.monotonic() + 60
    while runs(worker) < before + times:
        assert time.monotonic() < deadline, "the worker did not run the alert task"
        time.sleep(0.05)


def worker_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_an_alert_is_mailed_once_across_beats_and_a_worker_restart(
    hub: Flask,
    processes: dict[str, Process],
    restart_worker: Any,
    demo: dict[str, Any],
    session: Session,
    inbox: Inbox,
    e2e_settings: dict[str, Any],
) -> None:
    now = utcnow()
    transfer_id = add_transfer(
        session, "59", "62", now - timedelta(days=11), {State.READY: now - timedelta(days=10)}
    )
    session.commit()
    worker = processes["worker"]

    run_alerts(hub, worker, 2)
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["To"] == "accueil@mdph62.example"
    assert str(transfer_id) in inbox.messages[0].get_content()
    port = e2e_settings["WORKER_METRICS_PORT"]
    assert re.search(
        rf'mdph_bridge_task_duration_seconds_count\{{task="{TASK}"\}} [1-9]', worker_metrics(port)
    )

    worker.kill()
    restart_worker()
    run_alerts(hub, worker, 2)
    assert len(inbox.messages) == 1
