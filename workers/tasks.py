"""Tasks: take a transfer id (never personal data), delegate to a service, retry with backoff."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import Task, shared_task
from flask import current_app

from mdph_bridge.extensions import backends
from mdph_bridge.services.keys import expiring_keys
from mdph_bridge.services.processing import AttemptFailedError, Limits, process_transfer
from mdph_bridge.services.queue import wake_processing
from mdph_bridge.services.sweeper import documents_sizes, remove_orphans, stale_transfers

log = logging.getLogger(__name__)
KEY_NOTICE_DAYS = 30


@shared_task(
    name="transfers.process", bind=True, acks_late=True, ignore_result=True, max_retries=None
)
def process(self: Task, transfer_id: str) -> None:
    """Process one transfer; a failed attempt is retried later, the database counts attempts."""
    cfg = current_app.config
    b = backends()
    limits = Limits(timedelta(seconds=cfg["LEASE_SECONDS"]), cfg["MAX_ATTEMPTS"])
    try:
        process_transfer(
            b.sessions(), b.storage, cfg["KEYRING"], cfg["SIGNER"], limits, uuid.UUID(transfer_id)
        )
    except AttemptFailedError as exc:
        countdown = min(cfg["RETRY_BACKOFF_SECONDS"] * 2**self.request.retries, 300)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="maintenance.requeue_stale", ignore_result=True)
def requeue_stale() -> int:
    """Wake a worker for every transfer stuck in progress: the queue may have lost its message."""
    b = backends()
    stale_after = timedelta(seconds=current_app.config["STALE_AFTER_SECONDS"])
    ids = stale_transfers(b.sessions(), stale_after)
    sizes = documents_sizes(b.sessions(), ids)
    for transfer_id in ids:
        wake_processing(b.celery, transfer_id, sizes.get(transfer_id, 0))
    if ids:
        log.info("requeued %d stale transfer(s)", len(ids))
    return len(ids)


@shared_task(name="maintenance.remove_orphans", ignore_result=True)
def remove_orphan_blobs() -> int:
    """Delete blobs a crash left behind (never recorded uploads, unused staging or packages)."""
    b = backends()
    older_than = timedelta(seconds=current_app.config["ORPHAN_AGE_SECONDS"])
    removed = remove_orphans(b.sessions(), b.storage, older_than)
    if removed:
        log.info("removed %d orphan blob(s)", removed)
    return removed


@shared_task(name="maintenance.key_expiry", ignore_result=True)
def warn_expiring_keys() -> int:
    """Log a warning for each département key ending within 30 days (ids only)."""
    soon = expiring_keys(backends().sessions(), timedelta(days=KEY_NOTICE_DAYS))
    for key in soon:
        log.warning(
            "key %s of département %s (%s) expires on %s: register its successor",
            key.id,
            key.departement_code,
            key.usage,
            key.valid_until,
        )
    return len(soon)
