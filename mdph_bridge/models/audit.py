"""The audit log: entries appended without a lock, sealed into a hash chain, signed checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base


class AuditPending(Base):
    """An entry written in the transaction it records, waiting for the sequencer to seal it."""

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))  # a token or account id, or "systeme"/"cli"
    role: Mapped[str | None] = mapped_column(String(16))
    departement: Mapped[str | None] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    client: Mapped[str | None] = mapped_column(String(32))  # keyed hash of a refused client


class AuditEntry(Base):
    """Who did what to which object, and how it ended; ids and codes only, never personal data."""

    __tablename__ = "audit_entries"

    # Given by the sequencer, so the order of numbers is the order of the chain (no gaps).
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    departement: Mapped[str | None] = mapped_column(String(3))
    action: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    client: Mapped[str | None] = mapped_column(String(32))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))  # the chain's head once this entry is in


class AuditChain(Base):
    """The single row the sequencer locks: last sealed entry, and the anchor left by purges."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    # The last purged entry: the first kept one must follow it.
    anchor_seq: Mapped[int] = mapped_column(default=0)
    anchor_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed checkpoint, kept here to be served; its worth is in the copies kept elsewhere."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    size: Mapped[int]
    head: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    anchor_size: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(Text)
