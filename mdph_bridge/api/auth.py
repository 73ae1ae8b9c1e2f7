"""Bearer-token authentication, role checks, failed-attempt limits and the audit of API calls."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, make_response, request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from mdph_bridge.extensions import session
from mdph_bridge.services.audit import record
from mdph_bridge.services.auth import Principal, authenticate
from mdph_bridge.services.errors import ServiceError

log = logging.getLogger(__name__)
# What an endpoint's last part says it touches; anything else is the transfer itself.
# What a route reads or writes, by the last part of its endpoint (API and pages); else a transfer.
OBJECT_TYPES = {
    "package": "package",
    "medical_package": "package",
    "manifest": "manifest",
    "receipt": "receipt",
    "paquet": "package",
    "paquet_medical": "package",
    "accuse": "receipt",
    # Figures over many transfers, read by supervisors and operators.
    "metrics.index": "metrics",
    "metrics.export": "metrics",
    "prometheus.metrics": "metrics",
    "supervision.index": "metrics",
    "supervision.export": "metrics",
}


@dataclass(frozen=True)
class FailureLimit:
    """How many failed authentications a client may make, counted in Redis (memory if embedded).

    If the counter's store is unreachable the limit is not applied (and a warning is logged):
    tokens are still checked, and a Redis outage must not stop the MDPHs' work.
    """

    limiter: MovingWindowRateLimiter
    item: RateLimitItem

    def wait_for(self, client: str) -> int:
        """Return the seconds `client` must wait before trying again, 0 if it may try now."""
        try:
            if self.limiter.test(self.item, "auth-echec", client):
                return 0
            stats = self.limiter.get_window_stats(self.item, "auth-echec", client)
        except (RedisError, StorageError) as exc:
            log.warning("failed-authentication limit not checked: %s", type(exc).__name__)
            return 0
        return max(1, int(stats.reset_time - time.time()))

    def count(self, client: str) -> None:
        """Count one failed authentication of `client`."""
        try:
            self.limiter.hit(self.item, "auth-echec", client)
        except (RedisError, StorageError) as exc:
            log.warning("failed authentication not counted: %s", type(exc).__name__)


def init_failure_limit(app: Flask) -> None:
    """Attach the failed-authentication limiter to the app (no connection is opened yet)."""
    limiter = MovingWindowRateLimiter(storage_from_string(app.config["RATELIMIT_STORAGE_URL"]))
    app.extensions["mdph_bridge_auth_limit"] = FailureLimit(
        limiter, parse(app.config["AUTH_FAILURE_LIMIT"])
    )


def failure_limit() -> FailureLimit:
    """The app's limit of failed authentications per client (tokens and page sign-ins)."""
    return current_app.extensions["mdph_bridge_auth_limit"]


def client_key() -> str:
    """Key the client by a keyed hash of its address: no address is written to Redis."""
    address = (request.remote_addr or "inconnu").encode()
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, address, hashlib.sha256).hexdigest()[:32]


def current_principal() -> Principal:
    """Return the caller authenticated by `requires`."""
    return g.principal


def _authenticate() -> Principal:
    limit = failure_limit()
    client = client_key()
    if wait := limit.wait_for(client):
        refusal = ServiceError.one(429, "", "auth.trop_d_echecs", secondes=wait)
        refusal.headers["Retry-After"] = str(wait)
        raise refusal
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ServiceError.one(401, "", "auth.jeton_absent")
    principal = authenticate(session(), value.strip(), user_agent=request.headers.get("User-Agent"))
    # End the read transaction now (it may record the last use): on SQLite it holds the database
    # lock, and the view may stream a long upload before its own transaction.
    session().commit()
    if principal is None:
        limit.count(client)  # only a wrong token counts, not a missing one
        log.warning("authentication failed on %s", request.endpoint)
        raise ServiceError.one(401, "", "auth.jeton_invalide")
    return principal


def audit_call(principal: Principal, status: int) -> None:
    """Record the call (API or page) with its outcome, in its own short transaction."""
    db = session()
    db.rollback()  # whatever the view left open; its own work is already committed
    endpoint = request.endpoint or ""
    object_type = OBJECT_TYPES.get(endpoint) or OBJECT_TYPES.get(
        endpoint.rpartition(".")[2], "transfer"
    )
    # Views name what they created or listed in `g`; taken here so nothing outlives the request.
    created, listed = g.pop("audit_object_id", None), g.pop("audit_object_ids", None)
    object_id = (request.view_args or {}).get("transfer_id") or created
    # A HEAD only asks whether a package is there: say so, it is not a download.
    action = f"{endpoint}:head" if request.method == "HEAD" else endpoint
    # A list reads every transfer it shows: one entry each, so each transfer's readers are known.
    for oid in listed or [object_id]:
        record(db, principal.audit_actor, action, object_type, oid, str(status))
    db.commit()


def run_audited(principal: Principal, view: Callable[[], Any]) -> Any:
    """Run a view for an authenticated caller and audit it with its outcome, refusals included."""
    status = 500
    try:
        response = make_response(view())
        status = response.status_code
    except ServiceError as exc:
        status = exc.status
        raise
    except HTTPException as exc:
        status = exc.code or 500
        raise
    finally:
        audit_call(principal, status)
    return response


def requires(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the view run only for a valid token of one of `roles`; audit every authenticated call."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = _authenticate()

            def checked() -> Any:
                if principal.role not in roles:
                    raise ServiceError.one(403, "", "auth.role")
                g.principal = principal
                return view(*args, **kwargs)

            return run_audited(principal, checked)

        return wrapper

    return decorator
