"""Operations metrics for Prometheus (`admin` tokens): counts and ages, never personal data.

Task durations and failures are measured where tasks run, and served by the worker (see
workers/metrics.py).
"""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from mdph_bridge.api.auth import requires
from mdph_bridge.domain.roles import Role
from mdph_bridge.extensions import backends, session
from mdph_bridge.models import utcnow
from mdph_bridge.services.operations import exposition

blp = Blueprint("prometheus", __name__)


@blp.get("/metrics")
@requires(Role.ADMIN)
def metrics() -> Response:
    """Expose the hub's operations metrics in the Prometheus text format."""
    text = exposition(session(), backends().celery, utcnow())
    return Response(text, mimetype=CONTENT_TYPE_LATEST)
