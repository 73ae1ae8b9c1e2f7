"""Caseworker pages: send a dossier, list what was sent, follow and correct one transfer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from mdph_bridge.domain.codes import is_departement_code
from mdph_bridge.domain.roles import Role
from mdph_bridge.domain.states import CANCELLABLE, State
from mdph_bridge.extensions import session
from mdph_bridge.http import presenters
from mdph_bridge.http.errors import too_large
from mdph_bridge.http.identity import current_principal
from mdph_bridge.http.uploads import MiB, new_intake, received
from mdph_bridge.models import Transfer
from mdph_bridge.services import sending
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.submission import Created, Intake, Submission, correct, submit
from mdph_bridge.web.agents import agent_page, check_csrf
from mdph_bridge.web.display import place_errors
from mdph_bridge.web.pages import install

bp = Blueprint("envois", __name__, url_prefix="/envois")
install(bp)
PER_PAGE = 50
DOCUMENTS_FIELD = "pieces"


def _limits() -> dict[str, int]:
    cfg = current_app.config
    return {"fichier": cfg["MAX_FILE_BYTES"] // MiB, "total": cfg["MAX_TRANSFER_BYTES"] // MiB}


@bp.get("")
@agent_page(Role.CASEWORKER)
def index() -> Any:
    """List the département's transfers: those needing action first, with filters."""
    etat = request.args.get("etat", "")
    etat = etat if etat in {s.value for s in State} else ""
    destination = request.args.get("destination", "")
    destination = destination if is_departement_code(destination) else ""
    page = request.args.get("page", "1")
    page_number = int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1
    rows, total = sending.list_outbound(
        session(),
        current_principal(),
        etat or None,
        page_number,
        PER_PAGE,
        dest=destination or None,
        action_first=True,
    )
    g.audit_object_ids = [t.id for t in rows]
    return render_template(
        "envois.html",
        transferts=rows,
        total=total,
        page=page_number,
        pages=max(1, -(-total // PER_PAGE)),
        etat=etat,
        destination=destination,
        a_traiter={s.value for s in sending.NEEDS_ACTION},
    )


def _upload(
    action: Callable[[Intake, Submission], Transfer | Created], new_transfer: bool = False
) -> tuple[Transfer | Created | None, dict[str, list[dict[str, str]]]]:
    """Run a submission from a page's form; return the transfer, or the problems by place."""
    intake = new_intake()
    raw: bytes | None = None
    try:
        with received(intake, DOCUMENTS_FIELD, new_transfer) as upload:
            check_csrf(upload.form.get("csrf_token", ""))
            key = upload.form.get("cle_envoi", "")
            submission = upload.submission(key if _is_uuid(key) else None)
            raw = submission.dossier
            return action(intake, submission), {}
    except ServiceError as exc:
        return None, place_errors(exc.erreurs, raw)
    except RequestEntityTooLarge:
        return None, {"dossier": [], "pieces": [], "general": [too_large()]}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@bp.route("/nouveau", methods=["GET", "POST"])
@agent_page(Role.CASEWORKER)
def nouveau_envoi() -> Any:
    """Send a dossier file and its documents; every problem is shown next to what it concerns."""
    if request.method == "GET":
        return render_template(
            "envoi_nouveau.html", erreurs=None, cle=uuid.uuid4(), limites=_limits()
        )

    def send(intake: Intake, submission: Submission) -> Transfer | Created:
        transfer, _ = submit(session(), intake, current_principal(), submission)
        g.audit_object_id = transfer.id
        return transfer

    transfer, erreurs = _upload(send, new_transfer=True)
    if transfer is None:
        return render_template(
            "envoi_nouveau.html", erreurs=erreurs, cle=uuid.uuid4(), limites=_limits()
        ), 422
    flash("Dossier envoyé : la plateforme le vérifie, puis le chiffre pour la MDPH d'accueil.")
    return _to_transfer(transfer)


def _to_transfer(transfer: Transfer | Created) -> Any:
    """Go to the transfer's page; the page's script, which sent the form, navigates itself."""
    location = url_for("envois.transfert", transfer_id=transfer.id)
    if request.headers.get("X-Televersement"):
        return "", 201, {"Location": location}
    return redirect(location, 303)


def _detail(transfer: Transfer, erreurs: dict[str, list[dict[str, str]]] | None = None) -> Any:
    return render_template(
        "envoi.html",
        t=transfer,
        d=presenters.outbound_detail(transfer),
        erreurs=erreurs,
        annulable=State(transfer.state) in CANCELLABLE,
        limites=_limits(),
    )


@bp.get("/<uuid:transfer_id>")
@agent_page(Role.CASEWORKER)
def transfert(transfer_id: uuid.UUID) -> Any:
    """Show a sent transfer: timeline, problems to fix, harmonisation summary, next step."""
    return _detail(sending.get_outbound(session(), current_principal(), transfer_id))


@bp.post("/<uuid:transfer_id>/correction")
@agent_page(Role.CASEWORKER)
def correction(transfer_id: uuid.UUID) -> Any:
    """Send the corrected dossier (and documents) of a rejected transfer, under the same id."""
    sending.ensure_outbound(session(), current_principal(), transfer_id)

    def fix(intake: Intake, submission: Submission) -> Transfer:
        return correct(session(), intake, current_principal(), transfer_id, submission)

    transfer, erreurs = _upload(fix)
    if transfer is None:
        current = sending.get_outbound(session(), current_principal(), transfer_id)
        return _detail(current, erreurs), 422
    flash("Version corrigée envoyée : la plateforme la vérifie à nouveau.")
    return _to_transfer(transfer)


@bp.post("/<uuid:transfer_id>/annulation")
@agent_page(Role.CASEWORKER)
def annulation(transfer_id: uuid.UUID) -> Any:
    """Cancel a transfer the destination has not downloaded yet."""
    sending.cancel(session(), current_principal(), transfer_id)
    flash("Transfert annulé.")
    return redirect(url_for("envois.transfert", transfer_id=transfer_id), 303)
