"""Package retention: delete envelopes some days after a transfer ends; flag undownloaded ones.

The transfer row keeps its dates, sizes and hashes, so statistics and proofs survive the deletion.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import FINISHED, State
from mdph_bridge.models import Transfer
from mdph_bridge.services.audit import SYSTEM, record
from mdph_bridge.services.sweeper import delete_blobs
from mdph_bridge.storage import Storage

log = logging.getLogger(__name__)
BATCH = 200


def expired_packages(
    keep: timedelta, now: datetime
) -> Select[tuple[uuid.UUID, str | None, str | None]]:
    """A batch of finished transfers' packages past `keep`, oldest first: read through
    `ix_transfers_packages_held`, whose condition it repeats word for word (as SQLite needs)."""
    return (
        select(Transfer.id, Transfer.package_key, Transfer.medical_package_key)
        .where(
            Transfer.state.in_([s.value for s in FINISHED]),
            Transfer.state_changed_at < now - keep,
            Transfer.packages_deleted_at.is_(None),
            Transfer.package_key.is_not(None) | Transfer.medical_package_key.is_not(None),
        )
        .order_by(Transfer.state_changed_at)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )


def delete_expired_packages(
    session: Session, storage: Storage, keep: timedelta, now: datetime
) -> list[uuid.UUID]:
    """Delete the packages of transfers finished more than `keep` ago; return their ids.

    The row is updated and audited first, then the files go: a crash in between leaves only
    files no transfer points to, which the orphan sweeper removes.
    """
    rows = session.execute(expired_packages(keep, now)).all()
    for transfer_id, *_ in rows:
        session.execute(
            update(Transfer)
            .where(Transfer.id == transfer_id)
            .values(package_key=None, medical_package_key=None, packages_deleted_at=now)
        )
        record(session, SYSTEM, "package.delete", "package", transfer_id, "ok", at=now)
    session.commit()
    for _, *keys in rows:  # other attempts' packages, if any, are the orphan sweeper's
        delete_blobs(storage, [key for key in keys if key])
    return [row[0] for row in rows]


def flag_undownloaded(session: Session, after: timedelta, now: datetime) -> list[uuid.UUID]:
    """Flag, once, the transfers ready for more than `after` and never downloaded; return them."""
    ids = list(
        session.scalars(
            select(Transfer.id)
            .where(
                Transfer.state == State.READY,
                Transfer.ready_at < now - after,
                Transfer.undownloaded_alert_at.is_(None),
            )
            .order_by(Transfer.ready_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    for transfer_id in ids:
        session.execute(
            update(Transfer).where(Transfer.id == transfer_id).values(undownloaded_alert_at=now)
        )
        record(session, SYSTEM, "package.undownloaded", "package", transfer_id, "alerte", at=now)
    session.commit()
    for transfer_id in ids:
        log.warning("transfer %s ready for %s and never downloaded", transfer_id, after)
    return ids
