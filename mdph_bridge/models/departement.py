"""Départements on the hub and their registered public keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base, utcnow


class Departement(Base):
    """A département whose MDPH is connected to the hub."""

    __tablename__ = "departements"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    nom: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Last inbound sequence number given to a transfer addressed to this département; bumping it
    # under the row lock in the `ready` transaction makes commit order equal sequence order.
    inbound_seq: Mapped[int] = mapped_column(default=0)


class DepartementKey(Base):
    """A département's public key: an age X25519 recipient its packages are encrypted to."""

    __tablename__ = "departement_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    departement_code: Mapped[str] = mapped_column(ForeignKey("departements.code"), index=True)
    usage: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(200), unique=True)
    valid_from: Mapped[datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def is_valid(self, at: datetime) -> bool:
        """Tell whether the key may be used at `at`."""
        return (
            self.revoked_at is None
            and self.valid_from <= at
            and (self.valid_until is None or at < self.valid_until)
        )
