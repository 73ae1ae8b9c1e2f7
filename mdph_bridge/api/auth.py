"""Bearer-token authentication and role checks of API calls; each call is audited."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from mdph_bridge.extensions import session
from mdph_bridge.http.identity import (
    audit_refusal,
    client_key,
    failure_limit,
    request_id,
    run_audited,
)
from mdph_bridge.services.auth import Principal, authenticate
from mdph_bridge.services.errors import ServiceError

log = logging.getLogger(__name__)
_BODILESS = frozenset({"GET", "HEAD"})


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
    principal = authenticate(
        session(),
        value.strip(),
        user_agent=request.headers.get("User-Agent"),
        keep_reading=request.method in _BODILESS,  # no upload to stream before the view reads
    )
    if principal is None:
        limit.count(client)  # only a wrong token counts, not a missing one
        log.warning(
            "authentication failed on %s request=%s client=%s",
            request.endpoint,
            request_id(),
            client,
        )
        raise ServiceError.one(401, "", "auth.jeton_invalide")
    return principal


def requires(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the view run only for a valid token of one of `roles`; audit every authenticated call."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                principal = _authenticate()
            except ServiceError as exc:
                audit_refusal(exc.status)
                raise

            def checked() -> Any:
                if principal.role not in roles:
                    raise ServiceError.one(403, "", "auth.role")
                g.principal = principal
                return view(*args, **kwargs)

            return run_audited(principal, checked)

        return wrapper

    return decorator
