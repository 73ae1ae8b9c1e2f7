"""Find transfers whose wake-up message was lost or whose worker died, and wake a worker again."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from mdph_bridge.blobpaths import (
    DRAFTS,
    INCOMING,
    PACKAGES,
    STAGING,
    TRANSFER_FOLDERS,
    attempt_of,
    in_attempt_folder,
    transfer_folder,
    transfer_of,
)
from mdph_bridge.domain.sealing import Keyring, SealError
from mdph_bridge.domain.states import NEEDS_STAGING, State
from mdph_bridge.models import Draft, Transfer, TransferDocument, utcnow
from mdph_bridge.services.drafts import read
from mdph_bridge.services.staging import drop_unneeded_staging
from mdph_bridge.storage import Storage

log = logging.getLogger(__name__)
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


def documents_sizes(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Total size of each transfer's documents, which picks its queue."""
    rows = session.execute(
        select(TransferDocument.transfer_id, func.sum(TransferDocument.size))
        .where(TransferDocument.transfer_id.in_(ids))
        .group_by(TransferDocument.transfer_id)
    ).all()
    session.commit()
    return {transfer_id: int(total) for transfer_id, total in rows}


def remove_orphans(
    session: Session, storage: Storage, keyring: Keyring, older_than: timedelta
) -> int:
    """Delete blobs left by a crash: uploads never recorded, staging or packages no transfer uses,
    draft files no draft references (the keyring unseals drafts to read which files they keep).

    Only a transfer's staging or packages untouched for `older_than` are considered, so work in
    progress is never touched; unfinished blobs (a worker killed while writing) go with them.
    Return how many uploads, stagings and attempts were deleted.
    """
    cutoff = (utcnow() - older_than).timestamp()
    uploads = [key for key, mtime in storage.stamps(INCOMING).items() if mtime < cutoff]
    newest: dict[str, float] = {}
    keys: dict[str, list[str]] = {}
    for kind in TRANSFER_FOLDERS:
        for key, mtime in storage.stamps(kind).items():
            blobs = transfer_of(key)
            newest[blobs] = max(newest.get(blobs, mtime), mtime)
            keys.setdefault(blobs, []).append(key)
    old = [blobs for blobs, mtime in newest.items() if mtime < cutoff]
    ids = {_uuid_or_none(blobs.split("/")[1]) for blobs in old} - {None}
    transfers = {t.id: t for t in session.scalars(select(Transfer).where(Transfer.id.in_(ids)))}
    session.commit()  # the storage walk below holds no transaction

    doomed: set[str] = set()
    removed = 0
    for blobs in old:
        transfer_id = _uuid_or_none(blobs.split("/")[1])
        transfer = transfers.get(transfer_id) if transfer_id else None
        if transfer is not None and blobs.startswith(f"{PACKAGES}/"):
            kept = _kept_attempts(transfer)
            if kept is not None:
                removed += remove_attempts(storage, keys[blobs], kept)
        else:
            doomed |= _unused(transfer, blobs)
    for key in uploads:
        storage.delete(key)
    for blobs in doomed:
        transfer_id = _uuid_or_none(blobs.split("/")[1])
        if blobs.startswith(f"{STAGING}/") and transfer_id in transfers:
            # A correction may have staged there since the state was read: check it again.
            removed += drop_unneeded_staging(session, storage, transfer_id)
        else:
            delete_blobs(storage, keys[blobs])
            removed += 1
    drafts = _remove_draft_orphans(session, storage, keyring, cutoff)
    # Writes a crash cut short and no folder above covered (an S3 multipart upload is invisible).
    return len(uploads) + removed + drafts + storage.remove_unfinished(cutoff)


def _remove_draft_orphans(
    session: Session, storage: Storage, keyring: Keyring, cutoff: float
) -> int:
    """Delete the draft files older than `cutoff` that no draft row references.

    A crash between moving a file into `drafts/<id>/` and saving the draft, between saving and
    deleting a replaced file, or between deleting a draft and its folder leaves such files. A file
    written since `cutoff` may belong to a save under way: it waits for a later sweep.
    """
    old: dict[uuid.UUID | None, list[str]] = {}
    for key, mtime in storage.stamps(DRAFTS).items():
        if mtime < cutoff:
            old.setdefault(_uuid_or_none(key.split("/")[1]), []).append(key)
    referenced: set[str] = set()
    for draft in session.scalars(select(Draft).where(Draft.id.in_(set(old) - {None}))):
        try:
            referenced |= {meta["cle"] for meta in read(keyring, draft).files.values()}
        except SealError:
            log.warning("draft %s cannot be unsealed: its files are kept", draft.id)
            referenced |= set(old[draft.id])
    session.commit()  # the storage walk below holds no transaction
    doomed = [key for keys in old.values() for key in keys if key not in referenced]
    for key in doomed:
        storage.delete(key)
    return len(doomed)


def _uuid_or_none(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(name)
    except ValueError:
        return None


def _unused(transfer: Transfer | None, blobs: str) -> set[str]:
    """A transfer's staging or packages (`staging/<id>`) if no live transfer needs them any more."""
    if transfer is None:
        return {blobs}
    return set() if transfer.state in NEEDS_STAGING else {blobs}


def _kept_attempts(transfer: Transfer) -> set[str] | None:
    """The attempts whose packages a live transfer keeps; None for all (one is under way)."""
    if transfer.state == State.VALIDATING:
        return None  # the attempt under way writes there
    return {attempt_of(k) for k in (transfer.package_key, transfer.medical_package_key) if k}


def remove_attempts(storage: Storage, keys: Iterable[str], kept: set[str]) -> int:
    """Delete the packages, unfinished ones too, of the processing attempts not in `kept`; a
    folder of the layouts before 2026-12-05 goes whole once it keeps none; return how many
    attempts."""
    keys = list(keys)
    doomed = [key for key in keys if attempt_of(key) not in kept]
    keeping = {transfer_folder(key) for key in keys if attempt_of(key) in kept} - {None}
    delete_blobs(storage, [key for key in doomed if transfer_folder(key) not in keeping])
    partly = [key for key in doomed if transfer_folder(key) in keeping]
    for folder in {attempt_of(key) for key in partly if in_attempt_folder(key)}:
        storage.delete_prefix(folder)
    storage.delete_many([key for key in partly if not in_attempt_folder(key)])
    return len({attempt_of(key) for key in doomed})


def delete_blobs(storage: Storage, keys: list[str]) -> None:
    """Delete a transfer's blobs by key, the folder of those in one (before 2026-12-05) whole."""
    storage.delete_many([key for key in keys if transfer_folder(key) is None])
    for folder in {folder for key in keys if (folder := transfer_folder(key))}:
        storage.delete_prefix(folder)
