"""Transfers made before the hub, imported to compare delays before and after it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base, utcnow


class HistoricalTransfer(Base):
    """Dates of the steps of one past transfer (no personal data: a reference and dates)."""

    __tablename__ = "historical_transfers"
    __table_args__ = (
        UniqueConstraint("origin_code", "reference"),
        Index(
            "ix_historical_transfers_not_rolled_up",
            "origin_code",
            postgresql_where=text("NOT rolled_up"),
            sqlite_where=text("NOT rolled_up"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(64))
    origin_code: Mapped[str] = mapped_column(ForeignKey("departements.code"))
    dest_code: Mapped[str] = mapped_column(ForeignKey("departements.code"))
    submitted_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    downloaded_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    sender_wait_seconds: Mapped[int] = mapped_column(default=0)
    rolled_up: Mapped[bool] = mapped_column(default=False, server_default=false())
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
