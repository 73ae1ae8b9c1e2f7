"""Wake the workers up; the database stays the source of truth, so a lost message only delays."""

from __future__ import annotations

import logging
import time
import uuid
import weakref

from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

PROCESS_TASK = "transfers.process"
QUEUE = "transfers"
# Big documents have their own queue and workers, so that they never hold up small transfers.
LARGE_QUEUE = "transfers_large"
# The sweeper, alerts, retention and audit tasks, out of the way of transfers.
MAINTENANCE_QUEUE = "maintenance"
QUEUES = (QUEUE, LARGE_QUEUE, MAINTENANCE_QUEUE)
# Where a session keeps its broker (set by the session factory) and the wake-ups it owes.
BROKER = "mdph_bridge.celery"
_PENDING = "mdph_bridge.wakeups"
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
        # The message goes to the queue by its name (the default exchange), which no declaration
        # routes: kombu's check that the queue was declared, a copy of it and its exchange bound
        # to the channel per message, cost ~15 % of the call. The workers declare what they read.
        celery.send_task(
            PROCESS_TASK,
            args=[str(transfer_id)],
            queue=queue_for(celery, size),
            declare=[],
            add_to_parent=False,
        )
    except Exception as exc:
        _paused_until[celery] = time.monotonic() + BROKER_PAUSE_SECONDS
        log.warning(
            "broker unavailable, transfer %s left to the sweeper (%s)",
            transfer_id,
            type(exc).__name__,
        )
        return False
    return True


def wake_after_commit(session: Session, transfer_id: uuid.UUID, size: int) -> None:
    """Wake a worker for the transfer once `session` commits; forget it if it rolls back."""
    session.info.setdefault(_PENDING, {})[transfer_id] = size


# Registered once for every session: a listener added to each request's session cost ~20 µs of
# CPU per submission; a session that owes no wake-up costs these a dictionary lookup.


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    """Send the wake-ups the committed transaction owes: the transfers are visible now."""
    for transfer_id, size in session.info.pop(_PENDING, {}).items():
        wake_processing(session.info[BROKER], transfer_id, size)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    """A rolled-back change made nothing visible: nobody is woken for it."""
    session.info.pop(_PENDING, None)
