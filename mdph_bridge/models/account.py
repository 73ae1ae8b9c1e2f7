"""Accounts of people (MDPH agents) who sign in to the pages; API tokens stay for systems."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mdph_bridge.models.base import Base, utcnow


class Account(Base):
    """A named account with one role, acting for one or more départements."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    # Consecutive failed sign-ins; at the limit the account is locked until `locked_until`.
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    # Sessions opened before this instant are refused: sign-out and disabling end them all.
    sessions_valid_after: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    departements: Mapped[list[AccountDepartement]] = relationship(
        order_by="AccountDepartement.departement_code", cascade="all, delete-orphan"
    )

    @property
    def codes(self) -> list[str]:
        """The codes of the départements the account acts for."""
        return [d.departement_code for d in self.departements]


class AccountDepartement(Base):
    """One département an account acts for."""

    __tablename__ = "account_departements"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    departement_code: Mapped[str] = mapped_column(ForeignKey("departements.code"), primary_key=True)
