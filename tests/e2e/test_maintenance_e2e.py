"""Audit, retention and roll-up tasks run by the real worker: the chain check names tampering."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from histories import add_transfer
from processes import Process
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import PARIS
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import MetricRollup, Transfer, utcnow

pytestmark = pytest.mark.e2e


def run_task(backends: Backends, log: Path, name: str) -> str:
    """Send a maintenance task by name, wait until the worker logs its success, return the log."""
    before = len(log.read_text())
    task_id = backends.celery.send_task(name).id
    deadline = time.monotonic() + 60
    while f"{name}[{task_id}] succeeded" not in (new := log.read_text()[before:]):
        assert time.monotonic() < deadline, new
        time.sleep(0.2)
    return new


def test_worker_checks_the_audit_chain_and_names_a_tampered_entry(
    backends: Backends,
    session: Session,
    demo: dict[str, Any],
    processes: dict[str, Process],
    e2e_settings: dict[str, Any],
) -> None:
    log = Path(e2e_settings["VAR_DIR"]) / "worker.log"
    entries = session.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
    session.commit()
    assert entries > 0  # the demo's tokens, issued and audited
    done = run_task(backends, log, "maintenance.verify_audit")
    assert f"audit chain intact: {entries} entries" in done
    run_task(backends, log, "maintenance.package_retention")
    run_task(backends, log, "maintenance.purge_audit")
    session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"))
    session.execute(text("UPDATE audit_entries SET departement = '80' WHERE seq = 3"))
    session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only"))
    session.commit()
    broken = run_task(backends, log, "maintenance.verify_audit")
    assert "audit chain broken at entry 3: entrée modifiée" in broken


def test_worker_folds_finished_transfers_into_the_metrics_roll_ups(
    backends: Backends,
    session: Session,
    demo: dict[str, Any],
    processes: dict[str, Process],
    e2e_settings: dict[str, Any],
) -> None:
    now = utcnow()
    done = add_transfer(
        session, "59", "62", now - timedelta(days=9), {State.COMPLETED: now}, state=State.COMPLETED
    )
    still_open = add_transfer(session, "59", "62", now - timedelta(days=2), state=State.READY)
    session.commit()

    log = Path(e2e_settings["VAR_DIR"]) / "worker.log"
    folded = run_task(backends, log, "maintenance.roll_up_metrics")

    assert "folded" in folded
    flags = dict(
        session.execute(
            select(Transfer.id, Transfer.rolled_up).where(Transfer.id.in_([done, still_open]))
        ).all()
    )
    assert flags == {done: True, still_open: False}
    rollup = session.get(
        MetricRollup, ("hub", "59", "62", now.astimezone(PARIS).strftime("%Y-%m"), "delai")
    )
    assert rollup is not None
    assert rollup.count >= 1
    session.commit()
