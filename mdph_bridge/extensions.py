"""Database and Celery wiring, attached to the app in a fixed order."""

from __future__ import annotations

import select
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from celery import Celery, Task
from flask import Flask, current_app
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from mdph_bridge import gunicorn_conf
from mdph_bridge.broker import REDIS_TRANSPORT
from mdph_bridge.models.sqlstats import register_sqlite_functions
from mdph_bridge.services.queue import BROKER, MAINTENANCE_QUEUE, QUEUE
from mdph_bridge.services.watermarks import WATERMARKS, Watermarks, make_watermarks
from mdph_bridge.storage import LocalStorage, Storage


@dataclass
class Backends:
    """What one app instance talks to: its engine, sessions, blob storage and Celery app."""

    engine: Engine
    sessions: scoped_session[Session]
    storage: Storage
    celery: Celery
    watermarks: Watermarks | None  # destinations' inbound positions in Redis (None: no Redis)


def backends() -> Backends:
    """Return the backends of the current app."""
    return current_app.extensions["mdph_bridge"]


def session() -> Session:
    """Return the database session of the current app context."""
    return backends().sessions()


# A pooled connection older than this is replaced at its next checkout (docs/OPERATIONS.md §11).
POOL_RECYCLE_SECONDS = 1800
# One kept connection per thread of a web worker: a smaller pool closes, as soon as it is
# returned, each connection beyond its size, so under load a threaded worker opened and closed a
# PostgreSQL backend per request (docs/PERFORMANCE.md, inbound polling, ninth part). Connections
# are still opened only when needed; a Celery process or the CLI opens one or two. A gunicorn
# worker sets it to its own number of threads (`gunicorn_conf.post_fork`).
POOL_SIZE = gunicorn_conf.threads


# A connection whose network path died silently (no close from the server) is given up after
# about a minute instead of the kernel's hours or quarter of an hour (docs/OPERATIONS.md §11):
# probes after 30 s of silence, every 10 s, 3 unanswered; and data sent unacknowledged for 60 s.
TCP_SETTINGS = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms
}


# The hub's sessions read and write instants in UTC whatever the server's TimeZone (often
# Europe/Paris or Etc/UTC): psycopg then gives them with Python's own UTC, which `UTCDateTime`
# and the clock's comparisons take as they are, where any other zone (Etc/UTC included) costs a
# conversion or an offset lookup per value (a page of 100 transfers reads 200, docs/PERFORMANCE.md).
SESSION_SETTINGS = {"options": "-c TimeZone=UTC"}


def closed_by_server(dbapi_connection: Any) -> bool:
    """Tell whether PostgreSQL ended an idle connection: it writes to one only to close it.

    A poll of the socket, with no round trip: what `pool_pre_ping` found at the cost of one.
    """
    if dbapi_connection.closed:
        return True
    poller = select.poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


def _replace_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Have the pool open a new connection in place of one the server closed while idle."""
    if closed_by_server(dbapi_connection):
        raise DisconnectionError("connection closed by the database while idle in the pool")


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and immediate write transactions."""
    # hide_parameters: SQL errors end up in logs, and parameters may hold submitted values.
    if not url.startswith("sqlite"):
        parsed = make_url(url)  # PostgreSQL's libpq settings; what the URL sets itself wins
        settings = {**TCP_SETTINGS, **SESSION_SETTINGS}
        libpq = {k: v for k, v in settings.items() if k not in parsed.query}
        libpq = libpq if parsed.get_backend_name() == "postgresql" else {}
        engine = create_engine(
            url,
            pool_size=POOL_SIZE,
            pool_recycle=POOL_RECYCLE_SECONDS,
            hide_parameters=True,
            connect_args=libpq,
        )
        event.listen(engine, "checkout", _replace_if_closed)
        return engine
    engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself so it can be IMMEDIATE: a deferred transaction that
        # later writes fails at once with "database is locked" instead of waiting.
        # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def warm_up() -> None:
    """Pay a new process's one-off costs (the dossier schema, the public holidays' data) before
    its first work, not in it.

    Otherwise the first submissions after a start wait for them (docs/PERFORMANCE.md): the
    holidays' first use, for the first deadline, cost ~75 ms of CPU. The database is not reached
    here: an unreachable one must not hold up a process's start. A schema the worker's trusted
    loader cannot replay stops the start here, not every transfer.
    """
    from mdph_bridge.services.clock import french_holidays
    from mdph_bridge.services.submission import dossier_schema, trusted_dossier_loader

    dossier_schema()
    trusted_dossier_loader()
    _ = date.today() in french_holidays()


def make_storage(config: Any) -> Storage:
    """The blob storage the settings ask for: the local disk by default, or an S3 bucket."""
    if config.get("STORAGE", "local") != "s3":
        return LocalStorage(Path(config["STORAGE_DIR"]))
    from mdph_bridge.storage_s3 import S3Settings, S3Storage  # boto3 only when asked for

    return S3Storage(
        S3Settings(
            bucket=config["S3_BUCKET"],
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            region=config.get("S3_REGION"),
            access_key_id=config.get("S3_ACCESS_KEY_ID"),
            secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
        )
    )


def celery_init_app(app: Flask) -> Celery:
    """Configure a Celery app whose tasks run inside the Flask app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    cfg = app.config
    broker_options: dict[str, Any] = {}
    if cfg["BROKER_URL"].startswith("filesystem"):
        folder = Path(cfg["VAR_DIR"]) / "broker"
        folder.mkdir(parents=True, exist_ok=True)
        broker_options |= {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    # A Redis broker publishes through one client per channel (`broker.Transport`).
    redis_broker = cfg["BROKER_URL"].startswith(("redis://", "rediss://"))
    if redis_broker:
        # Every thread of a web process publishes its wake-ups on one channel (services.queue):
        # its pool holds a connection per thread, as kombu's default of 10 raises beyond it.
        broker_options["max_connections"] = max(POOL_SIZE, 10)
        # A worker keeps the messages it took and has not acknowledged in memory only, and puts
        # them back in their queue at a warm shutdown. Kombu's record of each in Redis (two round
        # trips per task, redelivered hours later) only repeated the sweeper, which wakes a dead
        # worker's transfers first; beat sends every maintenance task again (ARCHITECTURE §5).
        broker_options["ack_emulation"] = False
        # One Redis list per queue: the hub sends no task priorities, and kombu's default of four
        # lists per queue made a worker name and pack eight keys per BRPOP (docs/PERFORMANCE.md).
        broker_options["priority_steps"] = [0]
    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=cfg["BROKER_URL"],
        broker_transport=REDIS_TRANSPORT if redis_broker else None,
        broker_transport_options=broker_options,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        task_default_queue=QUEUE,
        task_routes={"maintenance.*": {"queue": MAINTENANCE_QUEUE}},
        # Read by services.queue to send big transfers to their own queue and workers.
        mdph_large_transfer_bytes=cfg["LARGE_TRANSFER_BYTES"],
        # Read by services.queue: how long a wake-up waits for the broker's connection and answer.
        mdph_wake_up_timeout=cfg["BROKER_TIMEOUT_SECONDS"],
        task_time_limit=cfg["TASK_TIME_LIMIT_SECONDS"],
        task_soft_time_limit=cfg["TASK_TIME_LIMIT_SECONDS"] - 30,
        # A submission must not hang when the broker is down: the sweeper sends it later.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        beat_schedule={
            "requeue-stale-transfers": {
                "task": "maintenance.requeue_stale",
                "schedule": timedelta(seconds=cfg["SWEEP_INTERVAL_SECONDS"]),
            },
            "deadline-alerts": {
                "task": "maintenance.deadline_alerts",
                "schedule": timedelta(seconds=cfg["ALERT_INTERVAL_SECONDS"]),
            },
            "warn-expiring-keys": {
                "task": "maintenance.key_expiry",
                "schedule": timedelta(days=1),
            },
            "package-retention": {
                "task": "maintenance.package_retention",
                "schedule": timedelta(hours=1),
            },
            "draft-retention": {
                "task": "maintenance.draft_retention",
                "schedule": timedelta(hours=1),
            },
            "verify-audit-log": {
                "task": "maintenance.verify_audit",
                "schedule": timedelta(days=1),
            },
            "purge-audit-log": {
                "task": "maintenance.purge_audit",
                "schedule": timedelta(days=1),
            },
            "roll-up-metrics": {
                "task": "maintenance.roll_up_metrics",
                "schedule": timedelta(seconds=cfg["ROLLUP_INTERVAL_SECONDS"]),
            },
            "remove-orphan-blobs": {
                "task": "maintenance.remove_orphans",
                "schedule": timedelta(seconds=cfg["ORPHAN_AGE_SECONDS"]),
            },
        },
        beat_schedule_filename=str(Path(cfg["VAR_DIR"]) / "celerybeat-schedule"),
    )
    celery.set_default()
    return celery


def init_app(app: Flask) -> None:
    """Attach the engine, the session registry, the blob storage and Celery to the app."""
    engine = make_engine(app.config["DATABASE_URL"])
    celery = celery_init_app(app)
    # Sessions know their broker: services wake workers from the session once it commits.
    watermarks = make_watermarks(
        app.config["RATELIMIT_STORAGE_URL"], app.config["INBOUND_WATERMARK_SECONDS"]
    )
    info = {BROKER: celery, WATERMARKS: watermarks}
    factory = sessionmaker(bind=engine, expire_on_commit=False, info=info)
    sessions = scoped_session(factory)
    storage = make_storage(app.config)
    app.extensions["mdph_bridge"] = Backends(engine, sessions, storage, celery, watermarks)
    app.extensions["celery"] = app.extensions["mdph_bridge"].celery

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        sessions.remove()
