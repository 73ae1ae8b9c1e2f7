"""Supervisors: delay figures, transfers at risk, CSV exports; never any personal data."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, url_for

from mdph_bridge.api.auth import requires
from mdph_bridge.api.blueprint import BridgeBlueprint
from mdph_bridge.domain.roles import Role
from mdph_bridge.extensions import session
from mdph_bridge.http import presenters
from mdph_bridge.http.identity import current_principal
from mdph_bridge.models import utcnow
from mdph_bridge.services import metrics
from schemas.api import SupervisedTransferSchema

blp = BridgeBlueprint(
    "metrics",
    __name__,
    url_prefix="/api/v1/metrics",
    description="Superviseurs : délais, étapes et transferts à risque (sans donnée personnelle).",
)


def _departements() -> list[str]:
    """The départements the supervisor watches: transfers from or to them."""
    return [current_principal().departement]


@blp.route("", methods=["GET"])
@requires(Role.SUPERVISOR)
@blp.response(200)
def index() -> Any:
    """Every figure: states, delays (overall, per pair, per month), steps, alerts, history."""
    figures = metrics.dashboard(
        session(), _departements(), utcnow(), current_app.config["SLA_DAYS"]
    )
    for row in figures["alertes"]:
        row["lien"] = url_for("metrics.transfer", transfer_id=row["id"])
    return figures


@blp.route("/<section>.csv", methods=["GET"])
@requires(Role.SUPERVISOR)
def export(section: str) -> Any:
    """Export one section as CSV (`;`, decimal comma): etats, delais, …, clients_reception."""
    text = metrics.export(
        session(), _departements(), section, utcnow(), current_app.config["SLA_DAYS"]
    )
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="mdph-bridge-{section}.csv"'},
    )


@blp.route("/transfers/<uuid:transfer_id>", methods=["GET"])
@requires(Role.SUPERVISOR)
@blp.response(200, SupervisedTransferSchema)
def transfer(transfer_id: uuid.UUID) -> Any:
    """The timeline and clock of a transfer from or to the supervisor's département."""
    found = metrics.supervised_transfer(session(), _departements(), transfer_id)
    return presenters.supervised(found)
