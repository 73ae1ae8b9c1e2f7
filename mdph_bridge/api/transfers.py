"""Sending side: submit a transfer, follow its progress, cancel it."""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from flask import current_app, g, request
from marshmallow import RAISE

from mdph_bridge.api.auth import requires
from mdph_bridge.api.blueprint import BridgeBlueprint
from mdph_bridge.domain.roles import Role
from mdph_bridge.extensions import session
from mdph_bridge.http import presenters
from mdph_bridge.http.identity import current_principal
from mdph_bridge.http.uploads import new_intake, received
from mdph_bridge.services import receiving, sending
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.submission import correct, submit
from schemas.api import (
    OutboundPageSchema,
    OutboundQuerySchema,
    SignedManifestSchema,
    SignedReceiptSchema,
    TransferDetailSchema,
)

blp = BridgeBlueprint(
    "transfers",
    __name__,
    url_prefix="/api/v1/transfers",
    description="MDPH d'origine : envoyer un dossier et suivre son transfert.",
)

_MULTIPART_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["dossier"],
                    "properties": {
                        "dossier": {
                            "$ref": "#/components/schemas/DossierV1",
                            "description": "Le dossier au format v1 (JSON).",
                        },
                    },
                    "additionalProperties": {
                        "type": "string",
                        "format": "binary",
                        "description": (
                            "Une partie par pièce (PDF, JPEG ou PNG), "
                            "nommée comme son `nom_fichier`."
                        ),
                    },
                },
                "encoding": {"dossier": {"contentType": "application/json"}},
            }
        },
    },
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string", "maxLength": 128},
            "description": "La même clé renvoie le transfert déjà créé, sans en créer un autre.",
        }
    ],
}


_AS_DUMPED = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ServiceError.one(400, "Idempotency-Key", "requete.cle_idempotence")
    return key


@blp.route("", methods=["POST"])
@blp.doc(**_MULTIPART_DOC)
@requires(Role.CASEWORKER)
@blp.response(202, TransferDetailSchema)
def create() -> Any:
    """Submit a dossier and its documents; answered once the payload is sealed and recorded."""
    key = _idempotency_key()
    intake = new_intake()
    with received(intake, new_transfer=True) as upload:
        transfer, new = submit(session(), intake, current_principal(), upload.submission(key))
    g.audit_object_id = transfer.id
    answer = presenters.outbound_detail(transfer)
    headers = {"Location": answer["lien"]}
    if not new:  # a replay's transfer may have moved on: the schema writes what it has
        return answer, 202, headers
    # A new transfer's detail holds JSON values and the schema's keys only: written as Flask
    # writes the schema's dump of it, byte for byte, without the dump (~0.15 ms of CPU).
    text = orjson.dumps(answer, option=_AS_DUMPED)
    return current_app.response_class(text, 202, headers, mimetype="application/json")


@blp.route("/<uuid:transfer_id>/correction", methods=["POST"])
@blp.doc(**_MULTIPART_DOC)
@requires(Role.CASEWORKER)
@blp.response(202, TransferDetailSchema)
def correction(transfer_id: uuid.UUID) -> Any:
    """Send a corrected dossier for a rejected transfer; it is checked again under the same id."""
    sending.ensure_outbound(session(), current_principal(), transfer_id)
    intake = new_intake()
    with received(intake) as upload:
        transfer = correct(
            session(), intake, current_principal(), transfer_id, upload.submission(None)
        )
    return presenters.outbound_detail(transfer), 202


@blp.route("", methods=["GET"])
@requires(Role.CASEWORKER)
@blp.arguments(OutboundQuerySchema, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, OutboundPageSchema)
def index(etat: str | None = None, page: int = 1, par_page: int = 50) -> Any:
    """List the département's outbound transfers, newest first."""
    rows, total = sending.list_outbound(session(), current_principal(), etat, page, par_page)
    g.audit_object_ids = [t.id for t in rows]
    return {
        "transferts": [presenters.outbound(t) for t in rows],
        "total": total,
        "page": page,
        "par_page": par_page,
    }


@blp.route("/<uuid:transfer_id>", methods=["GET"])
@requires(Role.CASEWORKER)
@blp.response(200, TransferDetailSchema)
def detail(transfer_id: uuid.UUID) -> Any:
    """Show a transfer's state, timeline, due date and the problems to fix."""
    return presenters.outbound_detail(
        sending.get_outbound(session(), current_principal(), transfer_id)
    )


@blp.route("/<uuid:transfer_id>/cancel", methods=["POST"])
@requires(Role.CASEWORKER)
@blp.response(200, TransferDetailSchema)
def cancel(transfer_id: uuid.UUID) -> Any:
    """Cancel a transfer the destination has not downloaded yet."""
    return presenters.outbound_detail(sending.cancel(session(), current_principal(), transfer_id))


@blp.route("/<uuid:transfer_id>/manifest", methods=["GET"])
@requires(Role.CASEWORKER)
@blp.response(200, SignedManifestSchema)
def manifest(transfer_id: uuid.UUID) -> Any:
    """The signed manifest of what was sent: proof of the content, by hash."""
    return receiving.signed_manifest(session(), current_principal(), transfer_id)


@blp.route("/<uuid:transfer_id>/receipt", methods=["GET"])
@requires(Role.CASEWORKER)
@blp.response(200, SignedReceiptSchema)
def receipt(transfer_id: uuid.UUID) -> Any:
    """The receiver's signed receipt, with the public key to verify it offline."""
    return receiving.receipt_of(session(), current_principal(), transfer_id)
