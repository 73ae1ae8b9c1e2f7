"""The audit log: append-only entries chained by SHA-256, and the head of the chain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base


class AuditEntry(Base):
    """Who did what to which object, and how it ended; ids and codes only, never personal data."""

    __tablename__ = "audit_entries"

    # Given under the chain lock, so the order of numbers is the order of the chain (no gaps).
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a token or account id, or "systeme"/"cli"
    role: Mapped[str | None] = mapped_column(String(16))
    departement: Mapped[str | None] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChain(Base):
    """The single row that serialises writers: last entry, and the anchor left by purges."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    # The last purged entry: the first kept one must follow it.
    anchor_seq: Mapped[int] = mapped_column(default=0)
    anchor_hash: Mapped[str] = mapped_column(String(64))
