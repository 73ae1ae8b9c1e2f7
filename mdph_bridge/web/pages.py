"""What every page shares: static assets, home, security headers, error pages, CSRF check."""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, NotFound

from mdph_bridge.api.uploads import MAX_PARTS, MiB
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.web.agents import check_csrf, current_account, wants_sign_in
from schemas.errors import error

log = logging.getLogger(__name__)
bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/web",
)

# Pages run no inline script or style: everything comes from this origin's static files.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
# Views that read the CSRF token from a body they parse themselves (uploads sealed as they stream).
CSRF_IN_VIEW = {
    "envois.nouveau_envoi",
    "envois.correction",
    "brouillons.importer",
    "brouillons.pieces",
}
TITLES = {
    400: "Formulaire refusé",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action non autorisée",
    409: "Action impossible",
    413: "Envoi trop volumineux",
    503: "Service momentanément indisponible",
}
# Addresses that belong to machines (JSON errors), not to people (error pages).
MACHINE_PATHS = ("/api/", "/metrics", "/healthz", "/readyz")


def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = PAGE_CSP
    # Same-origin referrers let the CSRF check compare origins over TLS; nothing leaves the site.
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint == "web.static":
        response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _csrf_first() -> None:
    if request.method == "POST" and request.endpoint not in CSRF_IN_VIEW:
        check_csrf()


def error_page(status: int, erreurs: list[dict[str, str]]) -> Any:
    """Render an error page that says what went wrong, with the navigation still there."""
    title = TITLES.get(status, "Erreur")
    return render_template("erreur.html", titre=title, erreurs=erreurs), status


def _service_error(exc: ServiceError) -> Any:
    return error_page(exc.status, exc.erreurs)


def _csrf_error(_exc: CSRFError) -> Any:
    return error_page(400, [error("", "compte.formulaire_expire")])


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if status == 413:
        max_mb = current_app.config["MAX_TRANSFER_BYTES"] // MiB
        return error_page(413, [error("", "requete.trop_grande", max=max_mb, parties=MAX_PARTS)])
    if status >= 500:
        log.error("page error %s: %s", status, type(exc).__name__)
    code = {403: "auth.role", 404: "http.introuvable", 405: "http.methode"}.get(status)
    return error_page(
        status, [error("", code or ("erreur.interne" if status >= 500 else "http.erreur"))]
    )


def _database_down(exc: OperationalError) -> Any:
    log.error("database unavailable on a page: %s", type(exc.orig).__name__)
    page, status = error_page(503, [error("", "service.indisponible")])
    return page, status, {"Retry-After": "30"}


def unknown_address(exc: NotFound) -> Any:
    """An address no route matches: a French page for people, the API's JSON for machines."""
    if request.path.startswith(MACHINE_PATHS):
        return {"erreurs": [error("", "http.introuvable")]}, 404
    response = make_response(error_page(404, [error("", "http.introuvable")]))
    return _page_headers(response)


def install(blueprint: Blueprint) -> None:
    """Give a blueprint of pages the shared headers, CSRF check and French error pages."""
    blueprint.after_request(_page_headers)
    blueprint.before_request(_csrf_first)
    blueprint.register_error_handler(ServiceError, _service_error)
    blueprint.register_error_handler(CSRFError, _csrf_error)
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.register_error_handler(OperationalError, _database_down)


install(bp)


@bp.get("/")
def accueil() -> Any:
    """Send agents to their main page; other roles (hub admins) get a short explanation."""
    account = current_account()
    if account is None:
        return wants_sign_in(request)
    if account.role == "caseworker":
        return redirect(url_for("envois.index"))
    if account.role in ("receiver", "doctor"):
        return redirect(url_for("recus.index"))
    if account.role == "supervisor":
        return redirect(url_for("supervision.index"))
    return render_template("accueil.html")
