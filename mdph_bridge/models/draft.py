"""Dossiers being composed on the pages: sealed at rest, so no draft ever sits in clear."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base, utcnow


class Draft(Base):
    """One draft of a département: what was typed, sealed with the staging keyring."""

    __tablename__ = "drafts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    departement_code: Mapped[str] = mapped_column(ForeignKey("departements.code"), index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Saved at each step and autosave; the purge counts the retention from the last save.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
