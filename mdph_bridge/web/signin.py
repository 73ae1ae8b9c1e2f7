"""Sign in, sign out, and choose the département to act for."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from mdph_bridge.api.auth import client_key, failure_limit, request_id
from mdph_bridge.extensions import session as db_session
from mdph_bridge.models import Account
from mdph_bridge.services.accounts import Lockout, SignInError, sign_in, sign_out
from mdph_bridge.services.alerts import settings_from
from mdph_bridge.services.lock_notice import notify_lock
from mdph_bridge.web.agents import current_account, open_session
from mdph_bridge.web.pages import install
from schemas.errors import error

log = logging.getLogger(__name__)
bp = Blueprint("compte", __name__)
install(bp)


def _lockout() -> Lockout:
    from datetime import timedelta

    cfg = current_app.config
    return Lockout(cfg["SIGN_IN_MAX_FAILURES"], timedelta(minutes=cfg["SIGN_IN_LOCK_MINUTES"]))


def _tell_lock(account: Account) -> None:
    """E-mail the account's départements and the operators: the page does not tell the lock."""
    notify_lock(settings_from(current_app.config), account)


@bp.route("/connexion", methods=["GET", "POST"])
def connexion() -> Any:
    """Sign in with a login and password; repeated failures lock the account for a while."""
    if request.method == "GET":
        if current_account() is not None:
            return redirect(url_for("web.accueil"))
        return render_template("connexion.html", erreurs=[], identifiant="")
    login = request.form.get("identifiant", "")[:64]
    password = request.form.get("mot_de_passe", "")[:1024]
    # The same per-client limit as wrong API tokens: trying many accounts from one place is slowed
    # down, not only trying one account many times (its lock-out).
    limit, client = failure_limit(), client_key()
    if wait := limit.wait_for(client):
        erreurs = [error("", "compte.trop_d_essais", secondes=wait)]
        page = render_template("connexion.html", erreurs=erreurs, identifiant=login)
        return page, 429, {"Retry-After": str(wait)}
    try:
        account = sign_in(db_session(), login, password, _lockout(), _tell_lock)
    except SignInError as exc:
        limit.count(client)
        log.warning("sign-in refused request=%s client=%s", request_id(), client)
        erreurs = [error("", exc.code)]
        return render_template("connexion.html", erreurs=erreurs, identifiant=login), 401
    after = session.get("apres_connexion") or ""
    open_session(account)
    # Only a path of this site (never `//host`): no open redirect.
    if not after.startswith("/") or after.startswith("//"):
        after = url_for("web.accueil")
    return redirect(after, 303)


@bp.post("/deconnexion")
def deconnexion() -> Any:
    """Sign out: end every open session of the account."""
    account = current_account()
    if account is not None:
        sign_out(db_session(), account.id)
    session.clear()
    return render_template("deconnexion.html")


@bp.post("/departement")
def departement() -> Any:
    """Act for another of the account's départements."""
    account = current_account()
    if account is None:
        return redirect(url_for("compte.connexion"))
    code = request.form.get("departement", "")
    if code in account.codes:
        session["departement"] = code
    return redirect(url_for("web.accueil"), 303)
