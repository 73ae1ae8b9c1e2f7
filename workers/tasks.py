"""Tasks: take a transfer id (never personal data), delegate to a service, retry with backoff."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import Task, shared_task
from flask import current_app

from mdph_bridge.extensions import backends
from mdph_bridge.models import utcnow
from mdph_bridge.services import alerts
from mdph_bridge.services.audit import publics_of, purge, verify
from mdph_bridge.services.drafts import purge_drafts
from mdph_bridge.services.keys import expiring_keys
from mdph_bridge.services.processing import AttemptFailedError, Limits, process_transfer
from mdph_bridge.services.queue import PROCESS_TASK, wake_processing
from mdph_bridge.services.retention import delete_expired_packages, flag_undownloaded
from mdph_bridge.services.rollups import roll_up
from mdph_bridge.services.sweeper import documents_sizes, remove_orphans, stale_transfers

log = logging.getLogger(__name__)
KEY_NOTICE_DAYS = 30


@shared_task(
    name=PROCESS_TASK,
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=None,
    Strategy="workers.quiet:strategy",  # without Celery's "received" line (`workers.quiet`)
)
def process(self: Task, transfer_id: str) -> None:
    """Process one transfer; a failed attempt is retried later, the database counts attempts."""
    cfg = current_app.config
    b = backends()
    limits = Limits(timedelta(seconds=cfg["LEASE_SECONDS"]), cfg["MAX_ATTEMPTS"])
    try:
        process_transfer(
            b.sessions(),
            b.storage,
            cfg["KEYRING"],
            cfg["SIGNER"],
            cfg["RULES"],
            limits,
            uuid.UUID(transfer_id),
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
    """Delete blobs a crash left behind: unrecorded uploads, unused staging, packages, drafts."""
    b = backends()
    older_than = timedelta(seconds=current_app.config["ORPHAN_AGE_SECONDS"])
    removed = remove_orphans(b.sessions(), b.storage, current_app.config["KEYRING"], older_than)
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


@shared_task(name="maintenance.deadline_alerts", ignore_result=True)
def deadline_alerts() -> int:
    """Alert the side that must act about transfers at risk or late, each alert once."""
    decided, mailed = alerts.run(
        backends().sessions(), alerts.settings_from(current_app.config), utcnow()
    )
    if decided or mailed:
        log.info("deadline alerts: %d decided, %d mailed", decided, mailed)
    return mailed


@shared_task(name="maintenance.roll_up_metrics", ignore_result=True)
def roll_up_metrics() -> int:
    """Fold finished transfers into the supervisors' monthly roll-ups, so figures stay fast."""
    folded = roll_up(backends().sessions(), current_app.config["SLA_DAYS"])
    if folded:
        log.info("folded %d finished transfer(s) into the metrics roll-ups", folded)
    return folded


@shared_task(name="maintenance.purge_audit", ignore_result=True)
def purge_audit() -> int:
    """Delete audit entries past retention; the chain stays verifiable from its anchor."""
    days = current_app.config["AUDIT_RETENTION_DAYS"]
    signer = current_app.config["SIGNER"]
    deleted = purge(backends().sessions(), signer, utcnow() - timedelta(days=days))
    if deleted:
        log.info("purged %d audit entr(y/ies) older than %d days", deleted, days)
    return deleted


@shared_task(name="maintenance.package_retention", ignore_result=True)
def package_retention() -> int:
    """Delete packages kept past retention, and flag ready transfers left undownloaded."""
    cfg = current_app.config
    b = backends()
    now = utcnow()
    deleted = delete_expired_packages(
        b.sessions(), b.storage, timedelta(days=cfg["PACKAGE_RETENTION_DAYS"]), now
    )
    flag_undownloaded(b.sessions(), timedelta(days=cfg["UNDOWNLOADED_ALERT_DAYS"]), now)
    if deleted:
        log.info("deleted the packages of %d finished transfer(s)", len(deleted))
    return len(deleted)


@shared_task(name="maintenance.draft_retention", ignore_result=True)
def draft_retention() -> int:
    """Delete the drafts left unsaved past retention: they hold personal data, even sealed."""
    b = backends()
    keep = timedelta(days=current_app.config["DRAFT_RETENTION_DAYS"])
    return len(purge_drafts(b.sessions(), b.storage, keep, utcnow()))


@shared_task(name="maintenance.verify_audit", ignore_result=True)
def verify_audit() -> bool:
    """Check the audit chain every day, so that tampering is noticed without waiting for a DPO."""
    result = verify(backends().sessions(), publics_of(current_app.config["SIGNER"]))
    if result.ok:
        log.info("audit chain intact: %d entries", result.checked)
    else:
        log.error("audit chain broken at entry %s: %s", result.bad_seq, result.problem)
    return result.ok
