"""API tokens: issue them once, keep only their hash, and resolve a bearer token to a principal."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.models import ApiToken, utcnow

ROLES = ("caseworker", "receiver", "doctor", "supervisor", "admin")
TOKEN_PREFIX = "mdphb_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for


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


def hash_token(token: str) -> str:
    """Hash a token; tokens are 256-bit random so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, departement: str, role: str, label: str) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret value, which is shown once and never stored."""
    if role not in ROLES:
        raise ValueError(f"Rôle inconnu {role!r} : attendu {', '.join(ROLES)}.")
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        departement_code=departement, role=role, label=label, token_hash=hash_token(value)
    )
    session.add(token)
    session.commit()
    return token, value


def revoke_token(session: Session, token_id: uuid.UUID) -> bool:
    """Revoke a token; return False if it does not exist."""
    token = session.get(ApiToken, token_id)
    if token is None:
        return False
    token.revoked_at = token.revoked_at or utcnow()
    session.commit()
    return True


def authenticate(session: Session, value: str) -> Principal | None:
    """Resolve a bearer token to its principal, or None if unknown or revoked."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
    if token is None or token.revoked_at is not None:
        return None
    return Principal(token.id, token.departement_code, token.role)
