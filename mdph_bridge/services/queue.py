"""Wake the workers up; the database stays the source of truth, so a lost message only delays."""

from __future__ import annotations

import logging
import time
import uuid
import weakref

from celery import Celery

log = logging.getLogger(__name__)

PROCESS_TASK = "transfers.process"
QUEUE = "transfers"
# Big documents have their own queue and workers, so that they never hold up small transfers.
LARGE_QUEUE = "transfers_large"
# After a failed publish, requests skip the broker this long instead of each waiting for its
# connection retries: the sweeper wakes the transfers submitted meanwhile.
BROKER_PAUSE_SECONDS = 5.0


# Per Celery app (one per hub instance): until when publishing is skipped.
_paused_until: weakref.WeakKeyDictionary[Celery, float] = weakref.WeakKeyDictionary()


def queue_for(celery: Celery, size: int) -> str:
    """The queue of a transfer whose documents weigh `size` bytes."""
    return LARGE_QUEUE if size >= celery.conf["mdph_large_transfer_bytes"] else QUEUE


def wake_processing(celery: Celery, transfer_id: uuid.UUID, size: int) -> bool:
    """Ask a worker to process the transfer; call only after the commit that made it visible.

    `size` is the total of its documents, which picks the queue.
    """
    if time.monotonic() < _paused_until.get(celery, 0.0):
        log.info("broker recently down, transfer %s left to the sweeper", transfer_id)
        return False
    try:
        celery.send_task(PROCESS_TASK, args=[str(transfer_id)], queue=queue_for(celery, size))
    except Exception as exc:
        _paused_until[celery] = time.monotonic() + BROKER_PAUSE_SECONDS
        log.warning(
            "broker unavailable, transfer %s left to the sweeper (%s)",
            transfer_id,
            type(exc).__name__,
        )
        return False
    return True
