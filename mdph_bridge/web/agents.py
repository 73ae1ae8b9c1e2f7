"""Who is signed in: the session cookie, the account behind it, and the role check of pages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import (
    Flask,
    Request,
    Response,
    abort,
    current_app,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_wtf.csrf import CSRFError, CSRFProtect, validate_csrf
from wtforms import ValidationError

from mdph_bridge.extensions import session as db_session
from mdph_bridge.http.identity import run_audited
from mdph_bridge.models import Account, utcnow
from mdph_bridge.services.accounts import principal_of, signed_in_account

csrf = CSRFProtect()


class _SessionInterface(SecureCookieSessionInterface):
    """Signed cookie session, marked Secure whenever the request came over TLS.

    A request without the cookie (every API call) and a session left untouched skip what only a
    cookie needs: Flask built the signing serializer and read seven cookie settings for them.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """An empty session when there is no cookie to read, as Flask's would be; a request
        without a `Cookie` header (an API call) gets it without its cookies parsed."""
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Nothing to set, delete or vary on for a session never read nor changed and empty."""
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)


def init_sessions(app: Flask) -> None:
    """Set the session cookie (HttpOnly, SameSite=Lax, Secure over TLS) and the CSRF checks."""
    app.config.update(
        SESSION_COOKIE_NAME="mdph_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["SESSION_HOURS"]),
        # Pages call `check_csrf` themselves: the JSON API authenticates by bearer token.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # a form lives as long as the session that served it
    )
    app.session_interface = _SessionInterface()
    csrf.init_app(app)


def check_csrf(token: str | None = None) -> None:
    """Refuse a form without this session's CSRF token (`token` when the view parsed the body)."""
    if token is None:
        csrf.protect()
        return
    try:
        validate_csrf(token)
    except ValidationError as exc:
        raise CSRFError(exc.args[0]) from exc


def open_session(account: Account) -> None:
    """Start a fresh session for a signed-in account (nothing kept from before sign-in)."""
    session.clear()
    session.permanent = True
    session["compte"] = str(account.id)
    session["depuis"] = utcnow().isoformat()
    session["departement"] = account.codes[0] if account.codes else ""


def current_account() -> Account | None:
    """The account of the session, if it is still valid (not disabled, not signed out)."""
    if "compte_courant" in g:
        return g.compte_courant
    account = None
    try:
        account_id = uuid.UUID(session.get("compte", ""))
        since = datetime.fromisoformat(session.get("depuis", ""))
    except ValueError:
        pass
    else:
        # The session ends SESSION_HOURS after sign-in, however active it has been.
        if since >= utcnow() - timedelta(hours=current_app.config["SESSION_HOURS"]):
            account = signed_in_account(db_session(), account_id, since)
    if account is None and "compte" in session:
        session.clear()
    g.compte_courant = account
    return account


def wants_sign_in(req: Request) -> Any:
    """Send an anonymous visitor to the sign-in page, coming back here afterwards."""
    if req.method == "GET":
        session["apres_connexion"] = req.full_path.rstrip("?")
    return redirect(url_for("compte.connexion"))


def agent_page(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the page run only for a signed-in agent of one of `roles`, acting for its département."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if account is None:
                return wants_sign_in(request)
            departement = session.get("departement", "")
            if departement not in account.codes:
                departement = account.codes[0]
                session["departement"] = departement
            principal = principal_of(account, departement)

            def checked() -> Any:
                if account.role not in roles:
                    abort(403)
                g.principal = principal
                return view(*args, **kwargs)

            return run_audited(principal, checked)

        return wrapper

    return decorator
