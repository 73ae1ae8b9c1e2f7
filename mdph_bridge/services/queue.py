"""Wake the workers up; the database stays the source of truth, so a lost message only delays."""

from __future__ import annotations

import logging
import uuid

from celery import Celery

log = logging.getLogger(__name__)

PROCESS_TASK = "transfers.process"


def wake_processing(celery: Celery, transfer_id: uuid.UUID) -> bool:
    """Ask a worker to process the transfer; call only after the commit that made it visible."""
    try:
        celery.send_task(PROCESS_TASK, args=[str(transfer_id)], queue="transfers")
    except Exception as exc:
        log.warning(
            "broker unavailable, transfer %s left to the sweeper (%s)",
            transfer_id,
            type(exc).__name__,
        )
        return False
    return True
