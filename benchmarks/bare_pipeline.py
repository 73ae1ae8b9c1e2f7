"""The bare pipeline the hub is measured against: same web server, one insert, one Celery hop.

No validation, sealing, mapping or encryption: what is left is the cost of HTTP, one PostgreSQL
commit, one Redis message and one worker update, the floor under any transfer.
Served by gunicorn as `benchmarks.bare_pipeline:app`, worked by
`celery -A benchmarks.bare_pipeline:celery worker -Q bare`.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from flask import Flask, request
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["MDPH_BRIDGE_DATABASE_URL"])  # no pre-ping: the hub has none
celery = Celery("bare", broker=os.environ["MDPH_BRIDGE_BROKER_URL"])
celery.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    task_default_queue="bare",
)
app = Flask("bare")


@app.get("/healthz")
def healthz() -> Any:
    """Answer the harness's start-up probe."""
    return {"etat": "en_service"}


@app.post("/bare")
def submit() -> Any:
    """Read the body, insert one row, send one task: the floor of a submission."""
    size = len(request.get_data())
    job = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO bare_jobs VALUES (:id, :size, clock_timestamp(), NULL)"),
            {"id": job, "size": size},
        )
    celery.send_task("bare.done", args=[str(job)], queue="bare")
    return {"id": str(job)}, 202


@celery.task(name="bare.done", acks_late=True, ignore_result=True)
def done(job_id: str) -> None:
    """Mark the job done: the one update a worker makes."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE bare_jobs SET done_at = clock_timestamp() WHERE id = :id"), {"id": job_id}
        )


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    engine.dispose(close=False)
