"""Pages for MDPH agents, in French: sign in, send, follow and receive transfers, supervise."""

from __future__ import annotations

from flask import Flask

from mdph_bridge.http.errors import set_error_pages
from mdph_bridge.web.agents import init_sessions
from mdph_bridge.web.display import install_filters


def register_web(app: Flask) -> None:
    """Register the pages, their session cookie, CSRF checks, error pages and template helpers."""
    from mdph_bridge.web.drafts import bp as brouillons
    from mdph_bridge.web.pages import bp as pages
    from mdph_bridge.web.pages import error_page
    from mdph_bridge.web.receiving import bp as recus
    from mdph_bridge.web.sending import bp as envois
    from mdph_bridge.web.signin import bp as compte
    from mdph_bridge.web.supervision import bp as supervision

    init_sessions(app)
    install_filters(app)
    blueprints = (pages, compte, envois, brouillons, recus, supervision)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    set_error_pages(app, error_page, (blueprint.name for blueprint in blueprints))
