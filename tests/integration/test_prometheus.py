"""The operations metrics endpoint: admin tokens only, figures right, no personal data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from histories import add_transfer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session
from support import bearer

from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import utcnow
from mdph_bridge.services.audit import seal_all
from mdph_bridge.services.auth import issue_token
from mdph_bridge.services.queue import QUEUE

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_operators_read_states_ages_and_queues(
    app: Flask,
    client: FlaskClient,
    session: Session,
    demo: dict[str, Any],
    backends: Backends,
    redis_client: redis.Redis,
) -> None:
    now = utcnow()
    add_transfer(
        session, "59", "62", now - timedelta(days=9), {State.READY: now - timedelta(days=8)}
    )
    add_transfer(
        session, "62", "59", now - timedelta(days=3), {State.READY: now - timedelta(days=2)}
    )
    add_transfer(session, "59", "62", now - timedelta(days=1))
    session.commit()
    backends.celery.send_task(
        "transfers.process", args=["00000000-0000-0000-0000-000000000000"], queue=QUEUE
    )
    _, admin = issue_token(session, "59", "admin", "prometheus")

    for token in (demo["59"]["jetons"]["supervisor"], demo["62"]["jetons"]["caseworker"]):
        assert client.get("/metrics", headers=bearer(token)).status_code == 403
    response = client.get("/metrics", headers=bearer(admin))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    got = samples(text)
    assert got[("mdph_bridge_transfers", (("state", "ready"),))] == 2
    assert got[("mdph_bridge_transfers", (("state", "received"),))] == 1
    assert got[("mdph_bridge_transfers", (("state", "completed"),))] == 0
    age = got[("mdph_bridge_oldest_open_transfer_age_seconds", (("state", "ready"),))]
    assert 9 * 86400 <= age < 9 * 86400 + 600
    in_state = got[("mdph_bridge_longest_time_in_state_seconds", (("state", "ready"),))]
    assert 8 * 86400 <= in_state < 8 * 86400 + 600
    assert got[("mdph_bridge_queue_length", (("queue", QUEUE),))] == 1
    assert got[("mdph_bridge_queue_length", (("queue", "maintenance"),))] == 0
    assert got[("mdph_bridge_alerts_pending", ())] == 0
    assert got[("mdph_bridge_audit_seal_lag_seconds", ())] > 0  # the demo's entries wait
    seal_all(session, app.config["SIGNER"])
    sealed = samples(client.get("/metrics", headers=bearer(admin)).get_data(as_text=True))
    assert sealed[("mdph_bridge_audit_seal_lag_seconds", ())] == 0
    assert "59-2026-0001" not in text  # file numbers never appear, only counts
