"""JSON API: sending side, receiving side; errors always in the `erreurs` shape."""

from __future__ import annotations

from flask import Flask

from mdph_bridge.api.blueprint import BridgeApi
from mdph_bridge.api.headers import add_security_headers
from mdph_bridge.api.health import blp as health
from schemas.dossier import DossierSchema


def register_api(app: Flask) -> None:
    """Register the API blueprints and the OpenAPI document (/api/openapi.json)."""
    from mdph_bridge.api.inbound import blp as inbound
    from mdph_bridge.api.metrics import blp as metrics
    from mdph_bridge.api.prometheus import blp as prometheus
    from mdph_bridge.api.public import blp as public
    from mdph_bridge.api.transfers import blp as transfers

    app.config.update(
        API_TITLE="mdph_bridge",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = BridgeApi(
        app,
        spec_kwargs={
            "info": {"description": "Transfert de dossiers MDPH entre départements."},
            "components": {
                "securitySchemes": {"jeton": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"jeton": []}],
        },
    )
    api.spec.components.schema("DossierV1", schema=DossierSchema)
    add_security_headers(app)
    app.register_blueprint(health)
    app.register_blueprint(prometheus)
    api.register_blueprint(transfers)
    api.register_blueprint(inbound)
    api.register_blueprint(metrics)
    api.register_blueprint(public)
