"""Who is calling (API token or signed-in agent), failed-attempt limits, the audit of each call."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, current_app, g, make_response, request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from mdph_bridge.extensions import session
from mdph_bridge.services.audit import ANONYMOUS, Actor, Call, record_call, recorded_with_changes
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.limit_store import DATABASE, DatabaseStorage

log = logging.getLogger(__name__)
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
class Peek:
    """A Redis value read for a view as its token is checked; None if the key is missing."""

    value: str | None


@dataclass(frozen=True)
class FailureLimit:
    """How many failed authentications a client may make, counted in Redis (else the database).

    If the counter's store is unreachable the limit is not applied (and a warning is logged):
    tokens are still checked, and a Redis outage must not stop the MDPHs' work.
    """

    limiter: RateLimiter
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

    def read(self, key: str) -> Peek | None:
        """GET `key` from the limit's Redis for a view; no Peek without Redis or if it failed."""
        storage = self.limiter.storage
        if not isinstance(storage, RedisStorage):
            return None
        try:
            value = cast(Redis, storage.get_connection()).get(key)
        except RedisError as exc:
            log.warning("Redis value not read: %s", type(exc).__name__)
            return None
        return Peek(value.decode() if isinstance(value, bytes) else value)

    def count(self, client: str) -> None:
        """Count one failed authentication of `client`."""
        try:
            self.limiter.hit(self.item, "auth-echec", client)
        except (RedisError, StorageError) as exc:
            log.warning("failed authentication not counted: %s", type(exc).__name__)


def init_failure_limit(app: Flask) -> None:
    """Attach the failed-authentication limiter to the app (no connection is opened yet)."""
    url = app.config["RATELIMIT_STORAGE_URL"]
    limiter: RateLimiter
    if url == DATABASE:
        limiter = FixedWindowRateLimiter(DatabaseStorage(app.extensions["mdph_bridge"].engine))
    else:
        limiter = MovingWindowRateLimiter(storage_from_string(url))
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


_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def request_id() -> str:
    """Name this request in the logs: the proxy's id (nginx's $request_id) if behind a trusted
    proxy, else a fresh one; it links a log line to the proxy's log without naming the client."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-Id", "")
        trusted = current_app.config["TRUSTED_PROXIES"] and _REQUEST_ID.fullmatch(given)
        g.request_id = given if trusted else uuid.uuid4().hex
    return g.request_id


def current_principal() -> Principal:
    """Return the caller of this request (set once its token or session was checked)."""
    return g.principal


def _call(actor: Actor) -> Call:
    """What the current request's audit entries say, but their outcome."""
    endpoint = request.endpoint or ""
    object_type = OBJECT_TYPES.get(endpoint) or OBJECT_TYPES.get(
        endpoint.rpartition(".")[2], "transfer"
    )
    # A HEAD only asks whether a package is there: say so, it is not a download.
    action = f"{endpoint}:head" if request.method == "HEAD" else endpoint
    return Call(actor, action, object_type, (request.view_args or {}).get("transfer_id"))


def audit_call(call: Call, status: int) -> None:
    """Record a call no committed change carried: with what it read, or alone if refused."""
    # Views name what they created or listed in `g`; taken here so nothing outlives the request.
    created, listed = g.pop("audit_object_id", None), g.pop("audit_object_ids", None)
    if call.recorded or (status < 400 and (call.listed or listed == [])):
        # Recorded by a change's commit, or by the statement that read the list; or an empty
        # list, which shows nothing, so reveals no personal data (the caught-up poll).
        return
    # A list reads every transfer it shows: one entry each, so each transfer's readers are known.
    record_call(
        session(),
        call,
        str(status),
        listed or [call.object_id or created],
        client=client_key() if status >= 400 else None,
        keep_work=status < 400 and not call.wrote,
    )


def run_audited(principal: Principal, view: Callable[[], Any]) -> Any:
    """Run a view for an authenticated caller and audit it with its outcome, refusals included.

    A change the view commits carries the call's entry in the same commit; otherwise the entry
    is added to the transaction the view read in, or written alone for a refusal.
    """
    status = 500
    call = _call(principal.audit_actor)
    try:
        with recorded_with_changes(session(), call):
            response = make_response(view())
        status = response.status_code
    except ServiceError as exc:
        status = exc.status
        raise
    except HTTPException as exc:
        status = exc.code or 500
        raise
    except OperationalError:
        status = 503  # the database went away: answered by http.errors
        raise
    finally:
        audit_call(call, status)
    return response


def audit_refusal(status: int) -> None:
    """Record a refused authentication (401, 429) under the client's keyed hash."""
    call = _call(ANONYMOUS)
    record_call(
        session(), call, str(status), [call.object_id], client=client_key(), keep_work=False
    )
