"""The audit sequencer: a thread of the beat process seals pending entries every few seconds.

Beat is one process per hub, and sealing here keeps it off the workers' queues, where it would
wait behind transfers (or make them wait). Two beats by mistake do not fork the chain: the
second waits on the chain's row (see services.audit.seal).
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from mdph_bridge.extensions import Backends
from mdph_bridge.services.audit import seal_all

log = logging.getLogger(__name__)


def run(app: Flask, stop: threading.Event) -> None:
    """Seal, then sleep the configured interval, until `stop` is set; a failure waits a round."""
    backends: Backends = app.extensions["mdph_bridge"]
    interval = app.config["AUDIT_SEAL_INTERVAL_SECONDS"]
    while not stop.is_set():
        with app.app_context():
            try:
                if sealed := seal_all(backends.sessions(), app.config["SIGNER"]):
                    log.info("sealed %d audit entr(y/ies)", sealed)
            except Exception:  # the database away or the chain's row held: retried next round
                log.exception("audit entries not sealed this round")
            finally:
                backends.sessions.remove()
        stop.wait(interval)


def start(app: Flask) -> threading.Event:
    """Start the sequencer thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run, args=(app, stop), name="audit-sequencer", daemon=True).start()
    return stop
