"""Public documents that hold no data: the hub's signing keys and the dossier format."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import RAISE, Schema, fields, validate

from mdph_bridge.api.blueprint import BridgeBlueprint
from mdph_bridge.api.dossier_schema import dossier_json_schema
from mdph_bridge.domain.signing import ALGORITHM, HubSigner
from mdph_bridge.extensions import session
from mdph_bridge.services import audit
from schemas.api import HubKeysSchema

blp = BridgeBlueprint(
    "public",
    __name__,
    description="Documents publics : clés de la plateforme, format du dossier, point de contrôle.",
)
_JSON_SCHEMA_DOC = {
    "responses": {
        "200": {
            "description": "Le JSON Schema (2020-12) du dossier au format v1.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    "security": [],
}


@blp.route("/api/v1/keys", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, HubKeysSchema)
def hub_keys() -> Any:
    """Publish the hub's public signing keys, to verify manifests offline (public)."""
    signer: HubSigner = current_app.config["SIGNER"]
    keys = [
        {"id": k.key_id, "algorithme": ALGORITHM, "cle_publique": k.public} for k in signer.keys
    ]
    return {"cles": keys}


@blp.route("/api/dossier-v1.schema.json", methods=["GET"])
@blp.doc(**_JSON_SCHEMA_DOC)
def dossier_schema() -> Any:
    """Serve the JSON Schema of the dossier format v1 (public: it holds no data)."""
    return dossier_json_schema()


MAX_PROOF = 100_000  # leaf hashes in one answer (6.4 MB); beyond, the client keeps its checkpoint


class CheckpointQuerySchema(Schema):
    """The size of the checkpoint the caller already holds, to get the proof that extends it."""

    depuis = fields.Integer(load_default=None, validate=validate.Range(min=0))


class CheckpointSchema(Schema):
    """The latest signed checkpoint (signed-note text), its size, and the proof asked for."""

    point_de_controle = fields.String(allow_none=True, required=True)
    taille = fields.Integer(required=True)
    preuve = fields.List(fields.String(), allow_none=True, required=True)


@blp.route("/api/v1/audit/checkpoint", methods=["GET"])
@blp.doc(security=[])
@blp.arguments(CheckpointQuerySchema, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, CheckpointSchema)
def audit_checkpoint(depuis: int | None = None) -> Any:
    """Serve the audit log's latest signed checkpoint and, given an older size, the proof (public).

    The proof is the leaf hashes of the entries between: they reveal nothing of the entries.
    """
    db = session()
    latest = audit.latest_checkpoint(db)
    if latest is None:
        return {"point_de_controle": None, "taille": 0, "preuve": None}
    proof = None
    if depuis is not None and 0 <= latest.size - depuis <= MAX_PROOF:
        proof = audit.leaves(db, depuis, latest.size)
    return {"point_de_controle": latest.note, "taille": latest.size, "preuve": proof}
