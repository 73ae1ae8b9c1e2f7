"""Supervisor pages: the delay dashboard, its CSV exports and a transfer's timeline."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, current_app, render_template
from markupsafe import Markup

from mdph_bridge.domain.roles import Role
from mdph_bridge.extensions import session
from mdph_bridge.http import presenters
from mdph_bridge.http.identity import current_principal
from mdph_bridge.models import utcnow
from mdph_bridge.services import metrics
from mdph_bridge.web import charts
from mdph_bridge.web.agents import agent_page
from mdph_bridge.web.pages import install

bp = Blueprint("supervision", __name__, url_prefix="/tableau-de-bord")
install(bp)
# The CSV exports offered on the page, with what each holds (the API offers the same sections).
EXPORTS = {
    "etats": "Transferts par état",
    "delais": "Délais des transferts terminés",
    "histogramme": "Transferts terminés par jour de délai",
    "paires": "Délais par paire de départements",
    "mois": "Délais par mois",
    "etapes": "Durée de chaque étape",
    "alertes": "Transferts à risque et en retard",
    "echecs_reception": "Échecs de réception en attente",
    "clients_reception": "Logiciel de réception utilisé par chaque MDPH",
    "continuite": "Continuité des droits par paire et par mois",
    "historique": "Délais avant la plateforme (historique importé)",
}


def _departements() -> list[str]:
    """The département the supervisor acts for (as an API token is scoped to one)."""
    return [current_principal().departement]


@bp.get("")
@agent_page(Role.SUPERVISOR)
def index() -> Any:
    """Show the figures of the département: headline, charts with their tables, alerts."""
    figures = metrics.dashboard(
        session(), _departements(), utcnow(), current_app.config["SLA_DAYS"]
    )
    # The charts are built by our code from figures only, every text in them escaped.
    drawn = {name: Markup(svg) for name, svg in charts.dashboard_charts(figures).items()}  # noqa: S704
    return render_template("tableau_de_bord.html", f=figures, graphiques=drawn, exports=EXPORTS)


@bp.get("/<section>.csv")
@agent_page(Role.SUPERVISOR)
def export(section: str) -> Any:
    """Download one section of the figures as CSV, as the API exports it."""
    text = metrics.export(
        session(), _departements(), section, utcnow(), current_app.config["SLA_DAYS"]
    )
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="mdph-bridge-{section}.csv"'},
    )


@bp.get("/transferts/<uuid:transfer_id>")
@agent_page(Role.SUPERVISOR)
def transfert(transfer_id: uuid.UUID) -> Any:
    """Show a transfer's clock and timeline, without its file number or any personal data."""
    found = metrics.supervised_transfer(session(), _departements(), transfer_id)
    return render_template("supervision_transfert.html", t=presenters.supervised(found))
