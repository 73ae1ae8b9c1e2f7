"""Staged payloads: re-seal them under the current staging key, drop those no longer needed."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterable
from typing import Any, BinaryIO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mdph_bridge.blobpaths import (
    in_staging_folder,
    staged_dossier,
    staged_piece,
    staging_folder,
    staging_prefix,
)
from mdph_bridge.domain.sealing import Keyring, SealReader, SealWriter, seal, unseal
from mdph_bridge.domain.states import NEEDS_STAGING
from mdph_bridge.models import Transfer, TransferDocument
from mdph_bridge.storage import Storage

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


def reseal_folder(storage: Storage, prefix: str, keyring: Keyring) -> int:
    """Re-encrypt a folder's blobs not sealed with the primary key; return how many were."""
    return reseal_blobs(storage, storage.list(prefix), keyring)


def reseal_blobs(storage: Storage, keys: Iterable[str], keyring: Keyring) -> int:
    """Re-encrypt the blobs not sealed with the primary key; return how many were."""
    resealed = 0
    for key in keys:
        with storage.open(key) as blob:
            reader = SealReader(blob, keyring)
            if reader.key_id == keyring.primary.key_id:
                continue
            with storage.writer(key) as out:
                sealer = SealWriter(out, keyring)
                while chunk := reader.read(CHUNK):
                    sealer.write(chunk)
                sealer.close()
        resealed += 1
    return resealed


def reseal_staging(session: Session, storage: Storage, keyring: Keyring) -> int:
    """Re-encrypt every staged blob and sealed dossier (in the transfer's row since migration
    0018) not sealed with the primary key; return how many were."""
    primary = keyring.primary.key_id
    ids = list(session.scalars(select(Transfer.id).where(Transfer.state.in_(NEEDS_STAGING))))
    session.commit()
    resealed = 0
    for transfer_id in ids:
        # Under the row lock, as a correction stages under the same keys: a payload replaced
        # meanwhile would otherwise be overwritten by the old one, resealed.
        found = session.execute(
            select(Transfer.state, Transfer.sealed_dossier)
            .where(Transfer.id == transfer_id)
            .with_for_update()
        ).first()
        state, sealed = found or (None, None)
        if state in NEEDS_STAGING:
            values: dict[str, Any] = {"staging_key_id": primary}
            if sealed is not None and (again := reseal_bytes(sealed, keyring)) is not None:
                values["sealed_dossier"] = again
                resealed += 1
            positions = session.scalars(
                select(TransferDocument.position).where(TransferDocument.transfer_id == transfer_id)
            )
            staged = staged_blobs(storage, transfer_id, list(positions))
            resealed += reseal_blobs(storage, staged, keyring)
            session.execute(update(Transfer).where(Transfer.id == transfer_id).values(values))
        session.commit()
    log.info("resealed %d staged blob(s) under key %s", resealed, primary)
    return resealed


def reseal_bytes(sealed: bytes, keyring: Keyring) -> bytes | None:
    """The payload sealed again under the primary key; None if it already is."""
    if SealReader(io.BytesIO(sealed), keyring).key_id == keyring.primary.key_id:
        return None
    return seal(unseal(sealed, keyring), keyring)


def drop_unneeded_staging(session: Session, storage: Storage, transfer_id: uuid.UUID) -> bool:
    """Delete a transfer's staged payload under its row lock, unless its state still needs one;
    say whether it was deleted. Its sealed dossier in the row goes too (each step leaving those
    states clears it already; this catches any other).

    A correction stages under the same keys while holding the same lock, so it cannot stage
    between this check and this deletion (it would lose its payload): it waits, then stages.
    """
    found = session.execute(
        select(Transfer.state, Transfer.sealed_dossier.is_not(None))
        .where(Transfer.id == transfer_id)
        .with_for_update()
    ).first()
    state, holds_dossier = found or (None, False)
    try:
        if state in NEEDS_STAGING:
            return False
        if holds_dossier:
            session.execute(
                update(Transfer).where(Transfer.id == transfer_id).values(sealed_dossier=None)
            )
        delete_staging(storage, transfer_id)
        return True
    finally:
        session.commit()


def staged_blobs(storage: Storage, transfer_id: uuid.UUID, positions: list[int]) -> list[str]:
    """The keys of a transfer's staged payload (its documents at `positions`), in its own folder
    if staged before 2026-12-05. By name, not by reading the shared folder whole for each
    transfer: a reseal of many would cost their number squared."""
    named = [staged_dossier(transfer_id), *(staged_piece(transfer_id, p) for p in positions)]
    return [
        *(key for key in named if storage.exists(key)),
        *storage.list(staging_folder(transfer_id)),
    ]


def delete_staging(storage: Storage, transfer_id: uuid.UUID) -> None:
    """Delete a transfer's staged payload, unfinished blobs too, in either layout."""
    storage.delete_starting(staging_prefix(transfer_id))
    storage.delete_prefix(staging_folder(transfer_id))


def open_staged(storage: Storage, key: str) -> BinaryIO:
    """Open a staged blob, in its transfer's folder if it was staged there (before 2026-12-05)."""
    try:
        return storage.open(key)
    except FileNotFoundError:
        return storage.open(in_staging_folder(key))
