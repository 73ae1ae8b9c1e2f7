"""API tokens: issue them once, keep only their hash, and resolve a bearer token to a principal."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.roles import ROLES
from mdph_bridge.models import ApiToken, Departement, utcnow
from mdph_bridge.services.audit import CLI, Actor, record

TOKEN_PREFIX = "mdphb_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for
LAST_USE_PRECISION = timedelta(minutes=1)  # at most one write per token per minute
# Built once, as every call checks a token: a statement's cache key costs CPU at each build.
_TOKEN = select(ApiToken).where(ApiToken.token_hash == bindparam("hash"))
# The receiving client's User-Agent; only this exact shape is kept, so no free text is stored.
CLIENT_AGENT = re.compile(r"mdph-reception/([0-9][0-9A-Za-z.+-]{0,39})")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's (or a signed-in account's) id, département and role."""

    token_id: uuid.UUID  # the API token's id, or the account's when `agent` is true
    departement: str
    role: str
    agent: bool = False  # a person signed in to the pages, not an information system's token

    @property
    def actor(self) -> str:
        """Name the caller in events and logs without personal data: département/role/id."""
        who = f"compte-{self.token_id}" if self.agent else str(self.token_id)
        return f"{self.departement}/{self.role}/{who}"

    @property
    def audit_actor(self) -> Actor:
        """The caller as the audit log names it: by token or account id, never by name."""
        who = f"compte-{self.token_id}" if self.agent else str(self.token_id)
        return Actor(who, self.role, self.departement)


@dataclass(frozen=True)
class _Checked:
    """A token found valid, as this process last read it (monotonic time of the reading)."""

    principal: Principal
    read_at: float
    expires_at: datetime | None
    last_used_at: datetime | None
    client_version: str | None


# Per database (engine): token hash -> its last check. Only valid tokens are kept.
_checked: weakref.WeakKeyDictionary[Engine, dict[str, _Checked]] = weakref.WeakKeyDictionary()
_checked_lock = threading.Lock()


def forget_tokens(session: Session) -> None:
    """Drop this process's checked tokens of the session's database (after a revocation)."""
    with _checked_lock:
        _checked.pop(session.get_bind().engine, None)


def recently_checked(
    session: Session,
    value: str,
    seconds: float,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> Principal | None:
    """The token's principal if this process found it valid less than `seconds` ago.

    None when it must be read again: unknown here, too old, expired, or its last use or client
    version is due to be written.
    """
    now = now or utcnow()
    with _checked_lock:
        checked = _checked.get(session.get_bind().engine, {}).get(hash_token(value))
    if checked is None or time.monotonic() - checked.read_at >= seconds:
        return None
    version = client_version(user_agent)
    if (
        (checked.expires_at is not None and now >= checked.expires_at)
        or checked.last_used_at is None
        or not timedelta(0) <= now - checked.last_used_at < LAST_USE_PRECISION
        or (version and version != checked.client_version)
    ):
        return None
    return checked.principal


def found_valid(session: Session, value: str, now: datetime | None = None) -> bool:
    """Whether this process found the token valid, not invalid since, and it has not expired.

    Such a token is not a guess: the failed-authentication limit does not stop it (api.auth).
    """
    now = now or utcnow()
    with _checked_lock:
        checked = _checked.get(session.get_bind().engine, {}).get(hash_token(value))
    return checked is not None and (checked.expires_at is None or now < checked.expires_at)


def _remember(session: Session, hashed: str, token: ApiToken, principal: Principal) -> None:
    checked = _Checked(
        principal, time.monotonic(), token.expires_at, token.last_used_at, token.client_version
    )
    with _checked_lock:
        _checked.setdefault(session.get_bind().engine, {})[hashed] = checked


def hash_token(token: str) -> str:
    """Hash a token; tokens are 256-bit random so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    departement: str,
    role: str,
    label: str,
    expires_at: datetime | None = None,
    actor: Actor = CLI,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret value, which is shown once and never stored."""
    if role not in ROLES:
        raise ValueError(f"Rôle inconnu {role!r} : attendu {', '.join(ROLES)}.")
    if session.get(Departement, departement) is None:
        raise ValueError(f"Département non raccordé : {departement!r}.")
    if expires_at is not None and expires_at <= utcnow():
        raise ValueError("La date d'expiration du jeton doit être dans le futur.")
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=uuid.uuid4(),
        departement_code=departement,
        role=role,
        label=label,
        token_hash=hash_token(value),
        expires_at=expires_at,
    )
    session.add(token)
    record(session, actor, "token.issue", "token", token.id)
    session.commit()
    return token, value


def list_tokens(session: Session, departement: str, actor: Actor = CLI) -> list[ApiToken]:
    """Every token of a département, oldest first; the reading is audited."""
    query = select(ApiToken).where(ApiToken.departement_code == departement)
    tokens = list(session.scalars(query.order_by(ApiToken.created_at)))
    record(session, actor, "token.list", "departement", departement)
    session.commit()
    return tokens


def revoke_token(session: Session, token_id: uuid.UUID, actor: Actor = CLI) -> bool:
    """Revoke a token; return False if it does not exist."""
    token = session.get(ApiToken, token_id)
    if token is None:
        return False
    token.revoked_at = token.revoked_at or utcnow()
    record(session, actor, "token.revoke", "token", token_id)
    session.commit()
    forget_tokens(session)
    return True


def client_version(user_agent: str | None) -> str | None:
    """The receiving client's version named by a User-Agent, or None for any other caller."""
    match = CLIENT_AGENT.fullmatch((user_agent or "").split(" ", 1)[0])
    return match.group(1) if match else None


def authenticate(
    session: Session,
    value: str,
    now: datetime | None = None,
    user_agent: str | None = None,
    keep_reading: bool = False,
) -> Principal | None:
    """Resolve a bearer token to its principal, or None if unknown, revoked or expired.

    The transaction ends here (it may record the last use): on SQLite it holds the database lock,
    and the caller may stream a long upload before its own transaction. A caller with no body to
    read may ask `keep_reading`: if the check wrote nothing, its view reads on in the same
    transaction (one commit fewer for a poll). A valid token is remembered for
    `recently_checked` and `found_valid`, an invalid one forgotten.
    """
    now = now or utcnow()
    hashed = hash_token(value)
    token = session.scalar(_TOKEN, {"hash": hashed})
    principal = None
    # The lookup is by a hash the caller cannot steer; compare again in constant time anyway.
    if token is not None and hmac.compare_digest(token.token_hash, hashed) and token.is_usable(now):
        if token.last_used_at is None or now - token.last_used_at >= LAST_USE_PRECISION:
            token.last_used_at = now
        version = client_version(user_agent)
        if version and token.client_version != version:
            token.client_version = version
        principal = Principal(token.id, token.departement_code, token.role)
    if not (keep_reading and principal and not session.dirty):
        session.commit()
    if token is not None and principal is not None:
        _remember(session, hashed, token, principal)
    else:  # revoked or expired: from now on it meets the failure limit again
        with _checked_lock:
            _checked.get(session.get_bind().engine, {}).pop(hashed, None)
    return principal
