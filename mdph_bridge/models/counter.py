"""Counters of the failed-authentication limit when there is no Redis, shared by all web workers."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base


class LimitCounter(Base):
    """One fixed window of a limit: its key (a keyed hash of the client), count and end."""

    __tablename__ = "limit_counters"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int]
    expires_at: Mapped[float]  # Unix time, as the `limits` library counts
