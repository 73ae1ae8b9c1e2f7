"""Receiver pages: inbound transfers; download or open, acknowledge, complete or return one."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from marshmallow import ValidationError

from mdph_bridge.domain.roles import RECEIVING, Role
from mdph_bridge.domain.states import State, can_move
from mdph_bridge.extensions import backends, session
from mdph_bridge.http import presenters
from mdph_bridge.http.identity import current_principal
from mdph_bridge.models import Transfer, utcnow
from mdph_bridge.services import receiving
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.web.agents import agent_page
from mdph_bridge.web.bundle import opening_script
from mdph_bridge.web.pages import install
from schemas.api import CompletionSchema, ReceiptSchema, ReturnSchema
from schemas.errors import flatten

bp = Blueprint("recus", __name__, url_prefix="/recus")
install(bp)
DONE_SHOWN_FOR = timedelta(days=30)


@bp.get("")
@agent_page(*RECEIVING)
def index() -> Any:
    """List the transfers addressed to the département: late, at risk and new ones first."""
    rows = receiving.worklist(session(), current_principal(), DONE_SHOWN_FOR)
    g.audit_object_ids = [t.id for t in rows]
    now = utcnow()
    urgencies = {t.id: receiving.urgency(t, now) for t in rows}
    return render_template("recus.html", transferts=rows, urgences=urgencies)


def _detail(transfer: Transfer, erreurs: dict[str, list[dict[str, str]]] | None = None) -> Any:
    state = State(transfer.state)
    return render_template(
        "recu.html",
        t=transfer,
        d=presenters.inbound(transfer),
        evenements=presenters.timeline(transfer),
        erreurs=erreurs or {},
        peut_accuser=can_move(state, State.ACKNOWLEDGED),
        accuse_apres_ouverture=state == State.READY,
        peut_integrer=can_move(state, State.COMPLETED),
        peut_renvoyer=can_move(state, State.RETURNED),
        medecin=current_principal().role == Role.DOCTOR,
        accuse_agent=receiving.acknowledged_by_agent(transfer),
        ouverture=opening_script(),
    )


@bp.get("/<uuid:transfer_id>")
@agent_page(*RECEIVING)
def transfert(transfer_id: uuid.UUID) -> Any:
    """Show an inbound transfer: origin, dates, harmonisation summary, package, next steps."""
    return _detail(receiving.get_inbound(session(), current_principal(), transfer_id))


def _package(transfer_id: uuid.UUID, medical: bool) -> Response:
    blob = receiving.open_package(session(), current_principal(), transfer_id, medical, True)
    return send_file(
        backends().storage.open(blob.key),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=blob.filename,
        etag=blob.sha256,
    )


@bp.get("/<uuid:transfer_id>/paquet")
@agent_page(*RECEIVING)
def paquet(transfer_id: uuid.UUID) -> Response:
    """Download the administrative package (encrypted); the first download is recorded."""
    return _package(transfer_id, medical=False)


@bp.get("/<uuid:transfer_id>/paquet-medical")
@agent_page(Role.DOCTOR)
def paquet_medical(transfer_id: uuid.UUID) -> Response:
    """Download the medical package (encrypted to the département's doctors only)."""
    return _package(transfer_id, medical=True)


@bp.post("/<uuid:transfer_id>/accuse")
@agent_page(*RECEIVING)
def accuse(transfer_id: uuid.UUID) -> Any:
    """Confirm receipt as the signed-in agent (the receiving client signs with the key instead)."""
    receiving.acknowledge_by_agent(session(), current_principal(), transfer_id)
    flash("Réception confirmée.")
    return redirect(url_for("recus.transfert", transfer_id=transfer_id), 303)


@bp.get("/<uuid:transfer_id>/manifeste")
@agent_page(*RECEIVING)
def manifeste(transfer_id: uuid.UUID) -> Response:
    """The signed manifest, for the page that checks and opens the package in the browser."""
    return jsonify(receiving.signed_manifest(session(), current_principal(), transfer_id))


@bp.post("/<uuid:transfer_id>/recu-signe")
@agent_page(*RECEIVING)
def recu_signe(transfer_id: uuid.UUID) -> Any:
    """Record the receipt the page signed with the département's key (JSON in, JSON out)."""
    try:
        receiving.get_inbound(session(), current_principal(), transfer_id)  # 404 before 422
        body = ReceiptSchema().load(request.get_json(silent=True) or {})
        receiving.acknowledge(session(), current_principal(), transfer_id, body)
    except ValidationError as exc:
        return {"erreurs": flatten(exc.messages)}, 422
    except ServiceError as exc:
        return {"erreurs": exc.erreurs}, exc.status
    flash("Accusé de réception signé par la clé de votre MDPH envoyé à la MDPH d'origine.")
    return {"adresse": url_for("recus.transfert", transfer_id=transfer_id)}


def _form(schema: Any, fields: tuple[str, ...]) -> tuple[dict[str, Any] | None, list[Any]]:
    """Validate the form with the API's schema: the same rules, the same French messages."""
    try:
        return schema.load({f: request.form[f] for f in fields if f in request.form}), []
    except ValidationError as exc:
        return None, flatten(exc.messages)


@bp.post("/<uuid:transfer_id>/integration")
@agent_page(*RECEIVING)
def integration(transfer_id: uuid.UUID) -> Any:
    """Record that the file was integrated, under the MDPH's own file number."""
    body, problems = _form(CompletionSchema(), ("numero_dossier_destination",))
    if body is None:
        transfer = receiving.get_inbound(session(), current_principal(), transfer_id)
        return _detail(transfer, {"integration": problems}), 422
    numero = body["numero_dossier_destination"]
    receiving.complete(session(), current_principal(), transfer_id, numero)
    flash("Transfert marqué comme intégré.")
    return redirect(url_for("recus.transfert", transfer_id=transfer_id), 303)


@bp.post("/<uuid:transfer_id>/renvoi")
@agent_page(*RECEIVING)
def renvoi(transfer_id: uuid.UUID) -> Any:
    """Send the transfer back to its origin with a reason it will see."""
    body, problems = _form(ReturnSchema(), ("motif", "commentaire"))
    if body is None:
        transfer = receiving.get_inbound(session(), current_principal(), transfer_id)
        return _detail(transfer, {"renvoi": problems}), 422
    receiving.return_to_sender(session(), current_principal(), transfer_id, body)
    flash("Transfert renvoyé à la MDPH d'origine.")
    return redirect(url_for("recus.transfert", transfer_id=transfer_id), 303)
