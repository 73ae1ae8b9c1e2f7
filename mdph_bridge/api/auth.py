"""Bearer-token authentication and role checks for API views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from mdph_bridge.extensions import session
from mdph_bridge.services.auth import Principal, authenticate
from mdph_bridge.services.errors import ServiceError


def current_principal() -> Principal:
    """Return the caller authenticated by `requires`."""
    return g.principal


def requires(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the view run only for a valid token of one of `roles`."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise ServiceError.one(401, "", "auth.jeton_absent")
            principal = authenticate(session(), value.strip())
            # End the read transaction now: on SQLite it holds the database lock, and the view
            # may stream a long upload before its own transaction.
            session().commit()
            if principal is None:
                raise ServiceError.one(401, "", "auth.jeton_invalide")
            if principal.role not in roles:
                raise ServiceError.one(403, "", "auth.role")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator
