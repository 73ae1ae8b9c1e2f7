"""Deadline alerts: one row per transfer and level, so that each alert is sent once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base, utcnow


class TransferAlert(Base):
    """The decision to alert about a transfer (at risk or late), and when it was delivered."""

    __tablename__ = "transfer_alerts"
    __table_args__ = (UniqueConstraint("transfer_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfers.id"))
    level: Mapped[str] = mapped_column(String(16))
    # The state and the side that had to act when the alert was decided.
    state: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    mailed_at: Mapped[datetime | None]
    webhook_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
