"""What every page shares: static assets, home, security headers, error pages, CSRF check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, make_response, redirect, render_template, request, url_for

from mdph_bridge.domain.roles import RECEIVING, Role
from mdph_bridge.web.agents import check_csrf, current_account, wants_sign_in

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


def error_page(status: int, erreurs: list[dict[str, str]], headers: dict[str, str]) -> Response:
    """Render an error page that says what went wrong, with the navigation still there."""
    title = TITLES.get(status, "Erreur")
    page = render_template("erreur.html", titre=title, erreurs=erreurs)
    # Also for addresses no page blueprint serves: the page still gets the pages' headers.
    return _page_headers(make_response(page, status, headers))


def install(blueprint: Blueprint) -> None:
    """Give a blueprint of pages the shared headers and CSRF check."""
    blueprint.after_request(_page_headers)
    blueprint.before_request(_csrf_first)


install(bp)


@bp.get("/")
def accueil() -> Any:
    """Send agents to their main page; other roles (hub admins) get a short explanation."""
    account = current_account()
    if account is None:
        return wants_sign_in(request)
    if account.role == Role.CASEWORKER:
        return redirect(url_for("envois.index"))
    if account.role in RECEIVING:
        return redirect(url_for("recus.index"))
    if account.role == Role.SUPERVISOR:
        return redirect(url_for("supervision.index"))
    return render_template("accueil.html")
