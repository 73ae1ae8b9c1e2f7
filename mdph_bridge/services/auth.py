"""API tokens: issue them once, keep only their hash, and resolve a bearer token to a principal."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.models import ApiToken, utcnow
from mdph_bridge.services.audit import CLI, Actor, record

ROLES = ("caseworker", "receiver", "doctor", "supervisor", "admin")
TOKEN_PREFIX = "mdphb_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for
LAST_USE_PRECISION = timedelta(minutes=1)  # at most one write per token per minute
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


def revoke_token(session: Session, token_id: uuid.UUID, actor: Actor = CLI) -> bool:
    """Revoke a token; return False if it does not exist."""
    token = session.get(ApiToken, token_id)
    if token is None:
        return False
    token.revoked_at = token.revoked_at or utcnow()
    record(session, actor, "token.revoke", "token", token_id)
    session.commit()
    return True


def client_version(user_agent: str | None) -> str | None:
    """The receiving client's version named by a User-Agent, or None for any other caller."""
    match = CLIENT_AGENT.fullmatch((user_agent or "").split(" ", 1)[0])
    return match.group(1) if match else None


def authenticate(
    session: Session, value: str, now: datetime | None = None, user_agent: str | None = None
) -> Principal | None:
    """Resolve a bearer token to its principal, or None if unknown, revoked or expired."""
    now = now or utcnow()
    hashed = hash_token(value)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hashed))
    # The lookup is by a hash the caller cannot steer; compare again in constant time anyway.
    if token is None or not hmac.compare_digest(token.token_hash, hashed):
        return None
    if not token.is_usable(now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USE_PRECISION:
        token.last_used_at = now
    version = client_version(user_agent)
    if version and token.client_version != version:
        token.client_version = version
    return Principal(token.id, token.departement_code, token.role)
