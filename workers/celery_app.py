"""Celery entry point: `celery -A workers.celery_app worker` / `beat`."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init
from dotenv import load_dotenv

from mdph_bridge import create_app
from mdph_bridge.extensions import Backends

load_dotenv(".env")  # the working directory's, as for the CLI
flask_app = create_app()
app = flask_app.extensions["celery"]

import workers.tasks  # noqa: E402, F401 - registers the tasks on `app`


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """Never share the parent's database connections with forked children (celery#3238)."""
    backends: Backends = flask_app.extensions["mdph_bridge"]
    backends.engine.dispose(close=False)
