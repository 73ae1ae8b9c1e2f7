"""mdph_bridge: the hub that moves an MDPH beneficiary file from one département to another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app; settings come from the environment, overridden by `config`."""
    # Imported here so that `schemas` and `domain` can import this package without Flask set-up.
    from mdph_bridge import extensions
    from mdph_bridge.api import register_api
    from mdph_bridge.config import load_config, validate_config
    from mdph_bridge.http.app import BridgeFlask
    from mdph_bridge.http.errors import register_error_answers
    from mdph_bridge.http.identity import init_failure_limit
    from mdph_bridge.web import register_web

    app = BridgeFlask(__name__)
    app.config.update(load_config())
    if config:
        app.config.update(config)
    validate_config(app.config)
    if proxies := app.config["TRUSTED_PROXIES"]:
        # Behind a TLS-terminating proxy: the client's address (failed-login limit), https (HSTS,
        # Secure cookie) and host (CSRF origin check) as the proxy saw them; only that many hops.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    extensions.init_app(app)
    init_failure_limit(app)
    register_error_answers(app)
    register_api(app)
    register_web(app)
    return app
