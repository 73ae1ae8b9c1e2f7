"""Public documents that hold no data: the hub's signing keys and the dossier format."""

from __future__ import annotations

from typing import Any

from flask import current_app

from mdph_bridge.api.blueprint import BridgeBlueprint
from mdph_bridge.api.dossier_schema import dossier_json_schema
from mdph_bridge.domain.signing import ALGORITHM, HubSigner
from schemas.api import HubKeysSchema

blp = BridgeBlueprint(
    "public", __name__, description="Documents publics : clés de la plateforme, format du dossier."
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
