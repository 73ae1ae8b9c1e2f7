"""API tokens of information systems and agents, stored only as hashes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base, utcnow


class ApiToken(Base):
    """A bearer token scoped to one département and one role."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    departement_code: Mapped[str] = mapped_column(ForeignKey("departements.code"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # Updated at most once a minute (see services.auth), so that reads stay cheap.
    last_used_at: Mapped[datetime | None]
    # Version of the receiving client last seen with this token (its User-Agent), for supervisors.
    client_version: Mapped[str | None] = mapped_column(String(40))

    def is_usable(self, at: datetime) -> bool:
        """Tell whether the token may authenticate at `at`: not revoked, not expired."""
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)
