"""Bearer-token authentication and role checks of API calls; each call is audited."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request

from mdph_bridge.extensions import session
from mdph_bridge.http.identity import (
    audit_refusal,
    client_key,
    failure_limit,
    request_id,
    run_audited,
)
from mdph_bridge.services.auth import Principal, authenticate, found_valid, recently_checked
from mdph_bridge.services.errors import ServiceError

log = logging.getLogger(__name__)
_BODILESS = frozenset({"GET", "HEAD"})


def _authenticate(peek: Callable[[Principal], str] | None) -> Principal:
    limit = failure_limit()
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip() if scheme.lower() == "bearer" else ""
    agent = request.headers.get("User-Agent")
    seconds = current_app.config["TOKEN_CACHE_SECONDS"]
    known = recently_checked(session(), value, seconds, agent) if value else None
    if known is not None or (value and found_valid(session(), value)):
        # Not a guess: the limit does not stop a token this process found valid, so a client
        # sharing its address with a guesser keeps working (docs/SECURITY.md §2).
        if known is not None and peek is not None:
            g.peeked = limit.read(peek(known))
    elif wait := limit.wait_for(client_key()):
        refusal = ServiceError.one(429, "", "auth.trop_d_echecs", secondes=wait)
        refusal.headers["Retry-After"] = str(wait)
        raise refusal
    if not value:
        raise ServiceError.one(401, "", "auth.jeton_absent")
    principal = known or authenticate(
        session(),
        value,
        user_agent=agent,
        keep_reading=request.method in _BODILESS,  # no upload to stream before the view reads
    )
    if principal is None:
        client = client_key()
        limit.count(client)  # only a wrong token counts, not a missing one
        log.warning(
            "authentication failed on %s request=%s client=%s",
            request.endpoint,
            request_id(),
            client,
        )
        raise ServiceError.one(401, "", "auth.jeton_invalide")
    return principal


def requires(
    *roles: str, peek: Callable[[Principal], str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the view run only for a valid token of one of `roles`; audit every authenticated call.

    `peek` names a Redis key the view wants: for a token checked a moment ago (no database read,
    no failure limit) it is read into `g.peeked` (`identity.Peek`).
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                principal = _authenticate(peek)
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
