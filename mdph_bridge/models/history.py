"""Transfers made before the hub, imported to compare delays before and after it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base, utcnow


class HistoricalTransfer(Base):
    """Dates of the steps of one past transfer (no personal data: a reference and dates)."""

    __tablename__ = "historical_transfers"
    __table_args__ = (UniqueConstraint("origin_code", "reference"),)

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
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
