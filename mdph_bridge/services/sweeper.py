"""Find transfers whose wake-up message was lost or whose worker died, and wake a worker again."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import State
from mdph_bridge.models import Transfer, utcnow
from mdph_bridge.services.transitions import move
from mdph_bridge.storage import LocalStorage

BATCH = 500


def stale_transfers(session: Session, stale_after: timedelta) -> list[uuid.UUID]:
    """Return transfers waiting in `received` too long, or in `validating` past their lease."""
    now = utcnow()
    query = (
        select(Transfer.id)
        .where(
            or_(
                and_(
                    Transfer.state == State.RECEIVED, Transfer.state_changed_at < now - stale_after
                ),
                and_(Transfer.state == State.VALIDATING, Transfer.lease_until < now),
            )
        )
        .order_by(Transfer.state_changed_at)
        .limit(BATCH)
    )
    return list(session.scalars(query))


def retry_failed(session: Session, transfer_id: uuid.UUID, actor: str) -> bool:
    """Give a failed transfer a fresh set of attempts (after a human fixed the cause)."""
    moved = move(
        session, transfer_id, [State.FAILED], State.RECEIVED, actor, attempts=0, problems=[]
    )
    session.commit()
    return moved is not None


def remove_orphans(session: Session, storage: LocalStorage, older_than: timedelta) -> int:
    """Delete blobs left by a crash: uploads never recorded, staging or packages no transfer uses.

    Only blobs older than `older_than` are considered, so work in progress is never touched.
    """
    cutoff = (utcnow() - older_than).timestamp()
    removed = 0
    for name, mtime in storage.entries("incoming").items():
        if mtime < cutoff:
            storage.delete(f"incoming/{name}")
            removed += 1
    for kind in ("staging", "packages"):
        for name, mtime in storage.folders(kind).items():
            if mtime >= cutoff:
                continue
            transfer_id = _uuid_or_none(name)
            transfer = session.get(Transfer, transfer_id) if transfer_id else None
            keep = _blobs_in_use(transfer, kind)
            for key in storage.list(f"{kind}/{name}"):
                if not any(key.startswith(used) for used in keep):
                    storage.delete(key)
                    removed += 1
            if not keep:
                storage.delete_prefix(f"{kind}/{name}")
    session.commit()
    return removed


def _uuid_or_none(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(name)
    except ValueError:
        return None


def _blobs_in_use(transfer: Transfer | None, kind: str) -> set[str]:
    """Keys (or key prefixes ending with '/') that a live transfer still needs."""
    if transfer is None:
        return set()
    if kind == "staging":
        in_progress = transfer.state in (State.RECEIVED, State.VALIDATING, State.FAILED)
        return {f"staging/{transfer.id}/"} if in_progress else set()
    if transfer.state == State.VALIDATING:
        return {f"packages/{transfer.id}/"}  # the attempt under way writes here
    return {k for k in (transfer.package_key, transfer.medical_package_key) if k}
