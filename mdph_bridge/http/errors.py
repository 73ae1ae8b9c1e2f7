"""One set of error answers for API and pages: `erreurs` in JSON for machines, a French page else.

Every failure is a list of `{"chemin", "code", "message"}`; the pages render the same list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from mdph_bridge.extensions import session
from mdph_bridge.http.uploads import MAX_PARTS, MiB
from mdph_bridge.services.errors import ServiceError
from schemas.errors import error, flatten

log = logging.getLogger(__name__)

_BY_STATUS = {
    403: "auth.role",
    404: "http.introuvable",
    405: "http.methode",
    408: "requete.delai_depasse",
    503: "service.indisponible",
}
# Addresses that belong to machines (JSON errors), not to people (error pages).
MACHINE_PATHS = ("/api/", "/metrics", "/healthz", "/readyz")
ERROR_PAGES = "mdph_bridge_error_pages"

Problems = list[dict[str, str]]
PageRenderer = Callable[[int, Problems, dict[str, str]], Any]


def too_large() -> dict[str, str]:
    """The problem of a request over the size limit, with the limits it broke."""
    max_mb = current_app.config["MAX_TRANSFER_BYTES"] // MiB
    return error("", "requete.trop_grande", max=max_mb, parties=MAX_PARTS)


@dataclass(frozen=True)
class ErrorPages:
    """How the pages show errors to people, and which blueprints are pages."""

    render: PageRenderer
    blueprints: frozenset[str]

    def wanted(self) -> bool:
        """Tell whether a person asked: a page's route, or an unknown address outside machines'."""
        if request.url_rule is None:
            return not request.path.startswith(MACHINE_PATHS)
        return request.blueprint in self.blueprints


def answer(status: int, erreurs: Problems, headers: dict[str, str] | None = None) -> Any:
    """Answer with the problems: a French error page to people, `erreurs` JSON to machines."""
    pages: ErrorPages | None = current_app.extensions.get(ERROR_PAGES)
    if pages is not None and pages.wanted():
        return pages.render(status, erreurs, headers or {})
    return {"erreurs": erreurs}, status, headers or {}


def _http_error(exc: HTTPException) -> Any:
    """Translate HTTP errors, including webargs validation errors, to the `erreurs` shape."""
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    if isinstance(exc, InternalServerError):
        log.error("unhandled error: %s", type(exc.original_exception).__name__)
        return answer(500, [error("", "erreur.interne")])
    if "messages" in data:
        # webargs keys messages by location ("json", "query"); the field path is what matters.
        return answer(
            status, [e for messages in data["messages"].values() for e in flatten(messages)]
        )
    if status == 413:
        return answer(413, [too_large()])
    if status >= 500:
        log.error("error %s: %s", status, type(exc).__name__)
    problem = error(
        "", _BY_STATUS.get(status, "erreur.interne" if status >= 500 else "http.erreur")
    )
    return answer(status, [problem])


def _service_error(exc: ServiceError) -> Any:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    return answer(exc.status, exc.erreurs, headers | exc.headers)


def _csrf_error(_exc: CSRFError) -> Any:
    return answer(400, [error("", "compte.formulaire_expire")])


def _database_down(exc: OperationalError) -> Any:
    log.error("database unavailable: %s", type(exc.orig).__name__)
    # Forget the lost connection's transaction, or the session's next use fails with it.
    session().rollback()
    return answer(503, [error("", "service.indisponible")], {"Retry-After": "30"})


def register_error_answers(app: Flask) -> None:
    """Answer every failure of the app, API or page, in the hub's error shape."""
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(OperationalError, _database_down)


def set_error_pages(app: Flask, render: PageRenderer, blueprints: Iterable[str]) -> None:
    """Let the pages show errors to people as a French page; machines keep the JSON."""
    app.extensions[ERROR_PAGES] = ErrorPages(render, frozenset(blueprints))
