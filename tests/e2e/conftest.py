"""End-to-end fixtures: a real `celery worker` process and one beat on PostgreSQL and Redis."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic import command
from browsers import BIN, CHROMIUM, CHROMIUM_ARGS, Agent
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, sync_playwright
from processes import FAST_RECOVERY, Process
from sqlalchemy.orm import Session
from support import (
    AGENT_PASSWORD,
    REDIS_URL,
    create_database,
    drop_database,
    empty_tables,
    free_port,
    hub_settings,
)

from mdph_bridge import create_app
from mdph_bridge.cli.service import web_command
from mdph_bridge.extensions import Backends
from mdph_bridge.migrations import alembic_config
from mdph_bridge.services.accounts import create_account
from mdph_bridge.services.admin import add_departement, create_demo
from mdph_bridge.services.auth import issue_token

REDIS_DB = int(os.environ.get("MDPH_TEST_E2E_REDIS_DB", "14"))
NAME = f"mdph_e2e_{os.getpid()}"


@pytest.fixture(scope="session")
def e2e_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A migrated database, an empty Redis DB 14 and a storage folder shared by test and worker."""
    url = create_database(NAME)
    command.upgrade(alembic_config(url), "head")
    client = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
    client.flushdb()
    settings = hub_settings(tmp_path_factory.mktemp("e2e"), url, f"{REDIS_URL}/{REDIS_DB}")
    observability = {
        "WORKER_METRICS_PORT": free_port(),
        "SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "ALERT_EMAILS": "59=cellule@mdph59.example; 62=accueil@mdph62.example",
    }
    yield settings | FAST_RECOVERY | observability
    client.flushdb()
    client.close()
    drop_database(NAME)


@pytest.fixture(scope="session")
def hub(e2e_settings: dict[str, Any]) -> Iterator[Flask]:
    """The web side, in process, on the same database, storage and broker as the worker."""
    app = create_app(e2e_settings)
    yield app
    app.extensions["mdph_bridge"].engine.dispose()


def _wait_for_worker(app: Flask, process: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.proc is not None
        if process.proc.poll() is not None:
            pytest.fail(f"worker exited: {process.log.read_text()[-2000:]}")
        if app.extensions["celery"].control.ping(timeout=0.5):
            return
    pytest.fail(f"worker did not answer ping: {process.log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def processes(hub: Flask, e2e_settings: dict[str, Any]) -> Iterator[dict[str, Process]]:
    """One real worker (solo pool) and exactly one beat, with the hub's settings."""
    var = Path(e2e_settings["VAR_DIR"])
    env = {**os.environ, **{f"MDPH_BRIDGE_{k}": str(v) for k, v in e2e_settings.items()}}
    worker_args = [
        "worker",
        "--pool=solo",
        "-Q",
        "transfers,transfers_large,maintenance",
        "--without-mingle",
        "--without-gossip",
        "--loglevel=INFO",
    ]
    procs = {
        "worker": Process(worker_args, env, var, var / "worker.log"),
        "beat": Process(["beat", "--loglevel=INFO"], env, var, var / "beat.log"),
    }
    for process in procs.values():
        process.start()
    _wait_for_worker(hub, procs["worker"])
    yield procs
    for process in procs.values():
        process.stop()


@pytest.fixture
def restart_worker(hub: Flask, processes: dict[str, Process]) -> Any:
    """Start the worker again (after a test killed it) and wait until it answers."""

    def restart() -> None:
        processes["worker"].start()
        _wait_for_worker(hub, processes["worker"])

    return restart


@pytest.fixture
def backends(hub: Flask) -> Iterator[Backends]:
    with hub.app_context():
        yield hub.extensions["mdph_bridge"]
        hub.extensions["mdph_bridge"].sessions.remove()


@pytest.fixture
def session(backends: Backends) -> Session:
    return backends.sessions()


@pytest.fixture
def client(hub: Flask, processes: dict[str, Process]) -> FlaskClient:
    return hub.test_client()


@pytest.fixture
def demo(session: Session, keys_dir: Path, backends: Backends) -> Iterator[dict[str, Any]]:
    """Demo départements 59 and 62, and 80 with tokens but no keys; emptied after the test."""
    result = create_demo(session, keys_dir)
    add_departement(session, "80", "Somme")
    result["80"] = {
        "jetons": {
            role: issue_token(session, "80", role, "test")[1] for role in ("caseworker", "receiver")
        }
    }
    yield result
    session.rollback()
    empty_tables(backends.engine)


@pytest.fixture(scope="session")
def served(e2e_settings: dict[str, Any], processes: dict[str, Any]) -> Iterator[str]:
    """The app served by gunicorn as deployed (`web_command`), on the e2e database, storage and
    broker, with fewer threads; its base URL."""
    port = free_port()
    var = Path(e2e_settings["VAR_DIR"])
    env = {**os.environ, **{f"MDPH_BRIDGE_{k}": str(v) for k, v in e2e_settings.items()}}
    gunicorn, *args = web_command(f"127.0.0.1:{port}", workers=2, threads=4)
    with (var / "gunicorn.log").open("ab") as log:
        proc = subprocess.Popen(
            [BIN / gunicorn, *args], env=env, cwd=var, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (var / "gunicorn.log").read_text()[-2000:]
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1).close()  # noqa: S310 - local
            break
        except OSError:
            assert time.monotonic() < deadline, (var / "gunicorn.log").read_text()[-2000:]
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def accounts(session: Session, demo: dict[str, Any]) -> dict[str, str]:
    """Agents of 59 and 62 (emptied with the demo after the test)."""
    wanted = {
        "cw59": ("59", "caseworker"),
        "rx62": ("62", "receiver"),
        "cw62": ("62", "caseworker"),
        "sv59": ("59", "supervisor"),
    }
    return {
        name: create_account(session, f"{role}-{code}", role, [code], AGENT_PASSWORD).login
        for name, (code, role) in wanted.items()
    }


@pytest.fixture
def people(browser: Browser, served: str) -> Iterator[Any]:
    opened: list[Agent] = []

    def open_(name: str) -> Agent:
        opened.append(Agent(browser, served, name))
        return opened[-1]

    yield open_
    for agent in opened:
        agent.close()
