"""A transfer of one beneficiary file, its documents' metadata and its event timeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Computed,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mdph_bridge.domain.states import OPEN
from mdph_bridge.models.base import Base, utcnow


def _rights(outcome: str) -> Any:
    """A count of the mapping summary, computed by the database (PostgreSQL and SQLite ≥ 3.38)."""
    return mapped_column(
        Computed(f"CAST(harmonisation -> 'resultats' ->> '{outcome}' AS INTEGER)", persisted=True)
    )


OPEN_STATES = "state IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(OPEN)))
KEY_GIVEN = "idempotency_key IS NOT NULL"
PACKAGES_HELD = "package_key IS NOT NULL OR medical_package_key IS NOT NULL"


class Transfer(Base):
    """Metadata of a transfer; the file itself is only ever stored encrypted, as blobs."""

    __tablename__ = "transfers"
    __table_args__ = (
        # A sender's Idempotency-Keys, once each; a transfer sent without one has no entry to
        # write (every lookup names a key, which implies the condition; migration 0020).
        Index(
            "uq_transfers_origin_code_idempotency_key_given",
            "origin_code",
            "idempotency_key",
            unique=True,
            postgresql_where=text(KEY_GIVEN),
            sqlite_where=text(KEY_GIVEN),
        ),
        # Positions are given at `ready`: a transfer not ready yet has no entry to write.
        Index(
            "uq_transfers_dest_code_inbound_seq",
            "dest_code",
            "inbound_seq",
            unique=True,
            postgresql_where=text("inbound_seq IS NOT NULL"),
            sqlite_where=text("inbound_seq IS NOT NULL"),
        ),
        Index("ix_transfers_state_changed", "state", "state_changed_at"),
        # The open transfers by deadline: the most overdue come first in the supervisors' alerts
        # without reading every open transfer (a hundred index entries, not a hundred thousand).
        Index(
            "ix_transfers_open_due",
            "due_at",
            "id",
            postgresql_where=text(OPEN_STATES),
            sqlite_where=text(OPEN_STATES),
        ),
        # The transfers still holding packages: retention finds the finished ones past their
        # retention period among them, not among every finished transfer (migration 0019).
        Index(
            "ix_transfers_packages_held",
            "state",
            "state_changed_at",
            postgresql_where=text(PACKAGES_HELD),
            sqlite_where=text(PACKAGES_HELD),
        ),
        # The transfers the metrics read one by one (open ones, finished ones not folded yet), in
        # the id order the fold walks them.
        Index(
            "ix_transfers_not_rolled_up",
            "id",
            postgresql_where=text("NOT rolled_up"),
            sqlite_where=text("NOT rolled_up"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    origin_code: Mapped[str] = mapped_column(ForeignKey("departements.code"))
    dest_code: Mapped[str] = mapped_column(ForeignKey("departements.code"))
    state: Mapped[str] = mapped_column(String(16))
    numero_dossier_origine: Mapped[str] = mapped_column(String(40))
    motif: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    # HMAC of the submitted dossier: a retry under the same key must send the same dossier.
    request_digest: Mapped[str | None] = mapped_column(String(64))
    submitted_by: Mapped[uuid.UUID | None]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The clock (see domain/clock.py): at risk from `warn_at`, late from `due_at`.
    warn_at: Mapped[datetime]
    due_at: Mapped[datetime]
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None]
    # Last time the sweeper woke a worker for this transfer, so it does not flood the queue.
    woken_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    staging_key_id: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the staged dossier's exact bytes, set when they were validated (submission or
    # correction): the worker that reads back the same bytes does not run the schema again.
    # None for a transfer staged before migration 0015: the worker validates those in full.
    dossier_sha256: Mapped[str | None] = mapped_column(String(64))
    # The staged dossier JSON, sealed with the staging keyring (ciphertext only), while the
    # transfer may still be packaged; cleared as it leaves those states. Not loaded with the row:
    # the worker's claim returns it. None for a transfer staged before migration 0018, whose
    # dossier is a file (`staging/<id>.dossier`).
    sealed_dossier: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    inbound_seq: Mapped[int | None]
    # Milestones, each reached at most once, so that metrics aggregate steps without the events.
    ready_at: Mapped[datetime | None]
    downloaded_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # Time spent in `rejected`, waiting for the sender's correction, added up when it leaves.
    sender_wait_seconds: Mapped[int] = mapped_column(default=0)
    # Folded into the supervisors' monthly roll-ups (only once finished; see services.rollups).
    rolled_up: Mapped[bool] = mapped_column(default=False, server_default=false())
    # How many milestones (ready, downloaded, acknowledged) the roll-ups already hold the steps of,
    # folded while the transfer is still open (no Python default: older revisions lack it).
    steps_rolled_up: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    package_key: Mapped[str | None] = mapped_column(String(200))
    package_size: Mapped[int | None]
    package_sha256: Mapped[str | None] = mapped_column(String(64))
    package_key_ids: Mapped[list[Any] | None]
    medical_package_key: Mapped[str | None] = mapped_column(String(200))
    medical_package_size: Mapped[int | None]
    medical_package_sha256: Mapped[str | None] = mapped_column(String(64))
    medical_package_key_ids: Mapped[list[Any] | None]
    # The signed manifest of the packages, and the receiver's signed receipt (ids and hashes only).
    manifest: Mapped[dict[str, Any] | None]
    receipt: Mapped[dict[str, Any] | None]
    # Summary of the rights mapping: counts per outcome, alerts with dates; no personal data.
    harmonisation: Mapped[dict[str, Any] | None]
    # Its rights by outcome (domain.harmonisation.OUTCOMES), so the metrics read no JSON.
    rights_maintenu: Mapped[int | None] = _rights("maintenu")
    rights_maintenu_changement_payeur: Mapped[int | None] = _rights("maintenu_changement_payeur")
    rights_a_instruire: Mapped[int | None] = _rights("a_instruire")
    rights_non_transferable: Mapped[int | None] = _rights("non_transferable")
    rights_echu: Mapped[int | None] = _rights("echu")
    # Retention: when the packages were deleted (sizes and hashes stay), and when the destination
    # was flagged for leaving a ready transfer undownloaded.
    packages_deleted_at: Mapped[datetime | None]
    undownloaded_alert_at: Mapped[datetime | None]
    numero_dossier_destination: Mapped[str | None] = mapped_column(String(40))
    problems: Mapped[list[Any]] = mapped_column(default=list)
    # Non-blocking remarks on the dossier (codes, paths, dates; never personal data).
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    return_reason: Mapped[dict[str, Any] | None]

    documents: Mapped[list[TransferDocument]] = relationship(
        order_by="TransferDocument.position", cascade="all, delete-orphan"
    )
    events: Mapped[list[TransferEvent]] = relationship(
        order_by="TransferEvent.id", cascade="all, delete-orphan"
    )

    @property
    def documents_size(self) -> int:
        """Total size of the documents: it picks the worker queue (big ones wait apart)."""
        return sum(document.size for document in self.documents)


class TransferDocument(Base):
    """Size and hash of one attached document; its name and content stay in the sealed blobs."""

    __tablename__ = "transfer_documents"

    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfers.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    type_piece: Mapped[str] = mapped_column(String(32))
    medical: Mapped[bool]
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(40))  # recognised from the bytes, not the name


class TransferEvent(Base):
    """One step in a transfer's life, written in the same transaction as the state change."""

    __tablename__ = "transfer_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfers.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None]
