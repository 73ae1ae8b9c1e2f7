"""Tasks: take a transfer id (never personal data), delegate to a service, retry with backoff."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import Task, shared_task
from flask import current_app

from mdph_bridge.extensions import backends
from mdph_bridge.services.processing import AttemptFailedError, Limits, process_transfer
from mdph_bridge.services.queue import wake_processing
from mdph_bridge.services.sweeper import remove_orphans, stale_transfers

log = logging.getLogger(__name__)


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
    for transfer_id in ids:
        wake_processing(b.celery, transfer_id)
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
