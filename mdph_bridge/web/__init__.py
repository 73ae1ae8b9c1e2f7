"""Pages for MDPH agents, in French: sign in, send, follow and receive transfers, supervise."""

from __future__ import annotations

from flask import Flask

from mdph_bridge.web.agents import init_sessions
from mdph_bridge.web.display import install_filters


def register_web(app: Flask) -> None:
    """Register the pages, their session cookie, CSRF checks and template helpers."""
    from mdph_bridge.web.drafts import bp as brouillons
    from mdph_bridge.web.pages import bp as pages
    from mdph_bridge.web.pages import unknown_address
    from mdph_bridge.web.receiving import bp as recus
    from mdph_bridge.web.sending import bp as envois
    from mdph_bridge.web.signin import bp as compte
    from mdph_bridge.web.supervision import bp as supervision

    init_sessions(app)
    install_filters(app)
    for blueprint in (pages, compte, envois, brouillons, recus, supervision):
        app.register_blueprint(blueprint)
    app.register_error_handler(404, unknown_address)
