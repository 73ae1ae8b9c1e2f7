"""Operations metrics for Prometheus (`admin` tokens): states, oldest open transfers, queues.

Counts and ages only, never personal data. Task durations and failures are measured where tasks
run, and served by the worker (see workers/metrics.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from celery import Celery
from flask import Blueprint, Response
from kombu.exceptions import ChannelError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mdph_bridge.api.auth import requires
from mdph_bridge.domain.clock import STOPPED
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import backends, session
from mdph_bridge.models import Transfer, TransferAlert, utcnow
from mdph_bridge.services import audit

log = logging.getLogger(__name__)
blp = Blueprint("prometheus", __name__)
QUEUES = ("transfers", "transfers_large", "maintenance")


class HubCollector:
    """Read the figures from the database and the broker at scrape time."""

    def __init__(self, db: Session, celery: Celery, now: datetime) -> None:
        self.db, self.celery, self.now = db, celery, now

    def collect(self) -> Iterator[Metric]:
        """Yield the hub's gauges."""
        transfers = GaugeMetricFamily(
            "mdph_bridge_transfers", "Transferts par état", labels=["state"]
        )
        oldest = GaugeMetricFamily(
            "mdph_bridge_oldest_open_transfer_age_seconds",
            "Âge (depuis le dépôt) du plus ancien transfert ouvert, par état",
            labels=["state"],
        )
        longest = GaugeMetricFamily(
            "mdph_bridge_longest_time_in_state_seconds",
            "Plus long séjour en cours dans un état ouvert, par état",
            labels=["state"],
        )
        rows = {
            row.state: row
            for row in self.db.execute(
                select(
                    Transfer.state,
                    func.count().label("n"),
                    func.min(Transfer.submitted_at).label("submitted"),
                    func.min(Transfer.state_changed_at).label("changed"),
                ).group_by(Transfer.state)
            )
        }
        for state in State:
            row = rows.get(state.value)
            transfers.add_metric([state.value], row.n if row else 0)
            if state not in STOPPED:
                for family, column in ((oldest, "submitted"), (longest, "changed")):
                    since = getattr(row, column) if row else None
                    age = (self.now - since).total_seconds() if since else 0
                    family.add_metric([state.value], age)
        pending = self.db.scalar(
            select(func.count()).select_from(TransferAlert).where(TransferAlert.mailed_at.is_(None))
        )
        lag = audit.lag_seconds(self.db, self.now)
        self.db.commit()
        yield from (transfers, oldest, longest)
        yield GaugeMetricFamily(
            "mdph_bridge_audit_seal_lag_seconds",
            "Attente de la plus ancienne entrée d'audit pas encore scellée",
            lag,
        )
        yield GaugeMetricFamily(
            "mdph_bridge_alerts_pending", "Alertes de délai décidées, pas encore envoyées", pending
        )
        queues = GaugeMetricFamily(
            "mdph_bridge_queue_length", "Messages en attente dans la file", labels=["queue"]
        )
        for name, length in queue_lengths(self.celery).items():
            queues.add_metric([name], length)
        yield queues


def queue_lengths(celery: Celery) -> dict[str, int]:
    """Messages waiting in each queue; empty if the broker cannot be reached quickly."""
    try:
        with celery.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel: Any = conn.default_channel
            lengths = {}
            for name in QUEUES:
                try:
                    lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except ChannelError:  # Redis drops the key of an empty queue
                    lengths[name] = 0
            return lengths
    except Exception as exc:
        log.warning("queue lengths unavailable: %s", type(exc).__name__)
        return {}


@blp.get("/metrics")
@requires("admin")
def metrics() -> Response:
    """Expose the hub's operations metrics in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(session(), backends().celery, utcnow()))  # type: ignore[arg-type]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
