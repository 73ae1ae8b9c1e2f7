"""Find transfers whose wake-up message was lost or whose worker died, and wake a worker again."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import NEEDS_STAGING, State
from mdph_bridge.models import Transfer, utcnow
from mdph_bridge.storage import LocalStorage

BATCH = 500


def stale_transfers(session: Session, stale_after: timedelta) -> list[uuid.UUID]:
    """Claim the transfers to wake again: `received` too long, or `validating` past their lease.

    Each is marked as woken, so that it is sent again only after another `stale_after`.
    """
    now = utcnow()
    quiet_since = now - stale_after
    last_wake = func.coalesce(Transfer.woken_at, Transfer.state_changed_at)
    query = (
        select(Transfer.id)
        .where(
            last_wake < quiet_since,
            or_(
                Transfer.state == State.RECEIVED,
                and_(Transfer.state == State.VALIDATING, Transfer.lease_until < now),
            ),
        )
        .order_by(Transfer.state_changed_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(Transfer).where(Transfer.id.in_(ids)).values(woken_at=now))
    session.commit()
    return ids


def remove_orphans(session: Session, storage: LocalStorage, older_than: timedelta) -> int:
    """Delete blobs left by a crash: uploads never recorded, staging or packages no transfer uses.

    Only blobs older than `older_than` are considered, so work in progress is never touched.
    """
    cutoff = (utcnow() - older_than).timestamp()
    old = {
        kind: [name for name, mtime in storage.folders(kind).items() if mtime < cutoff]
        for kind in ("staging", "packages")
    }
    ids = {_uuid_or_none(name) for names in old.values() for name in names} - {None}
    transfers = {t.id: t for t in session.scalars(select(Transfer).where(Transfer.id.in_(ids)))}
    session.commit()  # the file system walk below holds no transaction

    doomed = [
        f"incoming/{name}" for name, mtime in storage.entries("incoming").items() if mtime < cutoff
    ]
    for kind, names in old.items():
        for name in names:
            transfer_id = _uuid_or_none(name)
            keep = _blobs_in_use(transfers.get(transfer_id) if transfer_id else None, kind)
            doomed += [
                k for k in storage.list(f"{kind}/{name}") if not any(k.startswith(u) for u in keep)
            ]
            if not keep:
                storage.delete_prefix(f"{kind}/{name}")
    for key in doomed:
        storage.delete(key)
    return len(doomed)


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
        return {f"staging/{transfer.id}/"} if transfer.state in NEEDS_STAGING else set()
    if transfer.state == State.VALIDATING:
        return {f"packages/{transfer.id}/"}  # the attempt under way writes here
    return {k for k in (transfer.package_key, transfer.medical_package_key) if k}
