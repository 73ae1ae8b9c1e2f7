"""Receiving side: poll, download the encrypted package, acknowledge, complete or return."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from flask import Response, current_app, g, request, send_file
from marshmallow import RAISE
from sqlalchemy import Row

from mdph_bridge.api.auth import requires
from mdph_bridge.api.blueprint import BridgeBlueprint
from mdph_bridge.domain.roles import RECEIVING, Role
from mdph_bridge.extensions import backends, session
from mdph_bridge.http import presenters
from mdph_bridge.http.identity import current_principal
from mdph_bridge.models.base import load_json
from mdph_bridge.services import receiving
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.watermarks import watermark_key
from schemas.api import (
    CompletionSchema,
    ErreurSchema,
    HarmonisationSchema,
    InboundPageSchema,
    InboundQuerySchema,
    InboundTransferSchema,
    ReceiptSchema,
    ReceptionFailureSchema,
    ReturnSchema,
    SignedManifestSchema,
)

blp = BridgeBlueprint(
    "inbound",
    __name__,
    url_prefix="/api/v1/inbound",
    description="MDPH d'accueil : recevoir les dossiers transférés.",
)
_PACKAGE_DOC = {
    "responses": {
        "200": {
            "description": "Le paquet chiffré au format age v1.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    }
}


# An instance, not the class: webargs would build the schema anew at every poll.
_QUERY = InboundQuerySchema()


def _watermark(principal: Principal) -> str:
    return watermark_key(principal.departement)


@blp.route("", methods=["GET"])
@requires(*RECEIVING, peek=_watermark)
@blp.arguments(_QUERY, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, InboundPageSchema)
def index(cursor: str | None = None, limit: int = 100) -> Any:
    """Poll for transfers ready for the département, in order; keep the returned cursor."""
    principal, peeked, watermarks = current_principal(), g.get("peeked"), backends().watermarks
    last = None  # read with the token's check when it was checked a moment ago
    if peeked is not None and watermarks is not None:
        last = watermarks.last(session(), principal.departement, peeked.value)
    links = presenters.written_links
    page = receiving.list_inbound(session(), principal, cursor, limit, last, links)
    g.audit_object_ids = page.ids  # read for the caller, even if the answer then fails
    text = page_json(page)
    return current_app.response_class(text, mimetype="application/json")


_WARNINGS = ErreurSchema(many=True)
_HARMONISATION = HarmonisationSchema()
_SORTED = orjson.OPT_SORT_KEYS


def page_json(page: receiving.InboundPage) -> bytes:
    """A page as Flask's JSON would write InboundPageSchema's dump of it.

    Written without the schema (its cost per transfer); only the stored lists go through their
    nested schemas. Tests check it equals the schema's dump, byte for byte.
    """
    if page.written:
        listed = presenters.written_inbound(page.transfers, _warnings, _harmonisation, _reason)
        head = b'{"cursor":%b,"transferts":[' % orjson.dumps(page.cursor)
        return b"".join((head, *listed, b"]}\n"))
    link = presenters.page_links()
    transfers = [_listed(row, presenters.listed_inbound(row, link)) for row in page.transfers]
    document = {"transferts": transfers, "cursor": page.cursor}
    return orjson.dumps(document, option=_SORTED | orjson.OPT_APPEND_NEWLINE)


def _listed(row: Row[Any], document: dict[str, Any]) -> dict[str, Any]:
    """A listed transfer as InboundTransferSchema dumps it: JSON values, declared keys only."""
    document["avertissements"] = _WARNINGS.dump(row.warnings) if row.warnings else []
    if row.harmonisation is not None:
        document["harmonisation"] = _HARMONISATION.dump(row.harmonisation)
    return document


def _warnings(stored: str) -> bytes:
    """Stored warnings as the schema dumps them, in JSON."""
    value = load_json(stored)
    return orjson.dumps(_WARNINGS.dump(value) if value else [], option=_SORTED)


def _harmonisation(stored: str) -> bytes:
    """A stored harmonisation report as the schema dumps it, in JSON."""
    value = load_json(stored)
    dumped = None if value is None else _HARMONISATION.dump(value)
    return orjson.dumps(dumped, option=_SORTED)


def _reason(stored: str) -> bytes:
    """A stored return reason in JSON, keys sorted."""
    return orjson.dumps(load_json(stored), option=_SORTED)


@blp.route("/<uuid:transfer_id>", methods=["GET"])
@requires(*RECEIVING)
@blp.response(200, InboundTransferSchema)
def detail(transfer_id: uuid.UUID) -> Any:
    """Show an inbound transfer's metadata and packages."""
    return presenters.inbound(receiving.get_inbound(session(), current_principal(), transfer_id))


def _stream(transfer_id: uuid.UUID, medical: bool) -> Response:
    fetch = request.method == "GET"
    blob = receiving.open_package(session(), current_principal(), transfer_id, medical, fetch)
    response = send_file(
        backends().storage.open(blob.key),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=blob.filename,
        etag=blob.sha256,
        conditional=True,
    )
    response.headers["X-Content-SHA256"] = blob.sha256
    return response


@blp.route("/<uuid:transfer_id>/package", methods=["GET"])
@blp.doc(**_PACKAGE_DOC)
@requires(*RECEIVING)
def package(transfer_id: uuid.UUID) -> Response:
    """Download the administrative package (encrypted to the département's receiver keys)."""
    return _stream(transfer_id, medical=False)


@blp.route("/<uuid:transfer_id>/medical-package", methods=["GET"])
@blp.doc(**_PACKAGE_DOC)
@requires(Role.DOCTOR)
def medical_package(transfer_id: uuid.UUID) -> Response:
    """Download the medical package (encrypted to the département's doctor keys only)."""
    return _stream(transfer_id, medical=True)


@blp.route("/<uuid:transfer_id>/receipt", methods=["POST"])
@requires(*RECEIVING)
@blp.arguments(ReceiptSchema)
@blp.response(200, InboundTransferSchema)
def receipt(body: dict[str, Any], transfer_id: uuid.UUID) -> Any:
    """Acknowledge receipt with a receipt of the manifest signed by the département's key."""
    transfer = receiving.acknowledge(session(), current_principal(), transfer_id, body)
    return presenters.inbound(transfer)


@blp.route("/<uuid:transfer_id>/reception-failure", methods=["POST"])
@requires(*RECEIVING)
@blp.arguments(ReceptionFailureSchema)
@blp.response(200, InboundTransferSchema)
def reception_failure(body: dict[str, str], transfer_id: uuid.UUID) -> Any:
    """Report that the client set the transfer aside (failed checks): the sender sees why."""
    transfer = receiving.report_failure(session(), current_principal(), transfer_id, body["code"])
    return presenters.inbound(transfer)


@blp.route("/<uuid:transfer_id>/manifest", methods=["GET"])
@requires(*RECEIVING)
@blp.response(200, SignedManifestSchema)
def manifest(transfer_id: uuid.UUID) -> Any:
    """The signed manifest of the packages: hashes to check, and what the receipt must quote."""
    return receiving.signed_manifest(session(), current_principal(), transfer_id)


@blp.route("/<uuid:transfer_id>/complete", methods=["POST"])
@requires(*RECEIVING)
@blp.arguments(CompletionSchema)
@blp.response(200, InboundTransferSchema)
def complete(body: dict[str, str], transfer_id: uuid.UUID) -> Any:
    """Record that the file was integrated, under the receiving MDPH's own file number."""
    numero = body["numero_dossier_destination"]
    return presenters.inbound(
        receiving.complete(session(), current_principal(), transfer_id, numero)
    )


@blp.route("/<uuid:transfer_id>/return", methods=["POST"])
@requires(*RECEIVING)
@blp.arguments(ReturnSchema)
@blp.response(200, InboundTransferSchema)
def return_(body: dict[str, str], transfer_id: uuid.UUID) -> Any:
    """Send the transfer back to its origin, with the reason it will see."""
    return presenters.inbound(
        receiving.return_to_sender(session(), current_principal(), transfer_id, body)
    )
