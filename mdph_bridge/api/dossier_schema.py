"""Publish the dossier format v1 as JSON Schema, generated from the marshmallow schemas."""

from __future__ import annotations

import json
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from schemas.dossier import DossierSchema

SCHEMA_ID = "https://mdph-bridge.invalid/schemas/dossier-v1.schema.json"


def dossier_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (2020-12) of a dossier: its structure; the hub adds business rules."""
    spec = APISpec("mdph_bridge", "1", "3.1.0", plugins=[MarshmallowPlugin()])
    spec.components.schema("Dossier", schema=DossierSchema)
    components = spec.to_dict()["components"]["schemas"]
    definitions = json.loads(json.dumps(components).replace("#/components/schemas/", "#/$defs/"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Dossier MDPH transférable, format v1 et v1.1",
        "description": (
            "Structure du dossier. Les règles qui lient plusieurs champs (clé du NIR, durées "
            "légales, cumuls…) sont vérifiées par la plateforme : `mdph-bridge dossier check`."
        ),
        "$ref": "#/$defs/Dossier",
        "$defs": definitions,
    }


def dossier_json_schema_text() -> str:
    """Render the JSON Schema as the file published in docs/."""
    return json.dumps(dossier_json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
