"""Liveness and readiness probes for orchestrators (public: they reveal no data)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import text

from mdph_bridge.extensions import backends

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Any:
    """Say the process is up and serving requests."""
    return {"etat": "en_service"}


def _database() -> bool:
    with backends().engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True


def _broker() -> bool:
    with backends().celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return True


def _storage() -> bool:
    return backends().storage.check()


CHECKS = {"base_de_donnees": _database, "file_de_messages": _broker, "stockage": _storage}


@blp.get("/readyz")
def readyz() -> Any:
    """Check the database, the broker and the storage; 503 if any cannot be reached."""
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = "ok" if check() else "indisponible"
        except Exception as exc:
            current_app.logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = "indisponible"
    ready = all(value == "ok" for value in results.values())
    return {
        "etat": "pret" if ready else "indisponible",
        "verifications": results,
    }, 200 if ready else 503
