"""Integration fixtures: a migrated PostgreSQL database, Redis DB 15, a fresh hub per test."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic import command
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from pulling import Pull
from sqlalchemy.orm import Session
from support import (
    AGENT_PASSWORD,
    REDIS_URL,
    create_database,
    drop_database,
    empty_tables,
    hub_settings,
    same_hub,
)
from werkzeug.serving import make_server

from mdph_bridge import create_app
from mdph_bridge.cli import main
from mdph_bridge.domain.age import generate_identity
from mdph_bridge.extensions import Backends
from mdph_bridge.migrations import alembic_config
from mdph_bridge.services.accounts import create_account
from mdph_bridge.services.admin import add_departement, create_demo
from mdph_bridge.services.auth import issue_token
from mdph_bridge.services.keys import register_key

REDIS_DB = int(os.environ.get("MDPH_TEST_REDIS_DB", "15"))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A PostgreSQL database migrated to head for this test session."""
    # The process id keeps concurrent runs on one machine from dropping each other's database.
    name = f"mdph_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    url = create_database(name)
    command.upgrade(alembic_config(url), "head")
    yield url
    drop_database(name)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The Redis database the test hub uses as broker, emptied after each test."""
    client = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def app(tmp_path: Path, database_url: str, redis_client: redis.Redis) -> Iterator[Flask]:
    """A hub on the real PostgreSQL and Redis; every table is emptied after the test."""
    app = create_app(hub_settings(tmp_path / "var", database_url, f"{REDIS_URL}/{REDIS_DB}"))
    yield app
    backends: Backends = app.extensions["mdph_bridge"]
    backends.sessions.remove()
    empty_tables(backends.engine)
    backends.engine.dispose()


@pytest.fixture
def backends(app: Flask) -> Iterator[Backends]:
    """The app's backends, inside an app context."""
    with app.app_context():
        yield app.extensions["mdph_bridge"]


@pytest.fixture
def session(backends: Backends) -> Session:
    """A database session of the app."""
    return backends.sessions()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """HTTP client of the app."""
    return app.test_client()


@pytest.fixture
def demo(session: Session, keys_dir: Path) -> dict[str, Any]:
    """Départements 59 and 62 (demo set-up), plus 80 Somme with its own tokens and receiver key."""
    result = create_demo(session, keys_dir)
    add_departement(session, "80", "Somme")
    _, recipient = generate_identity()
    register_key(session, "80", "receiver", recipient)
    result["80"] = {
        "jetons": {
            role: issue_token(session, "80", role, "test")[1]
            for role in ("caseworker", "receiver", "supervisor")
        }
    }
    return result


@pytest.fixture
def agents(session: Session, demo: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Accounts per role for 59 and 62 (some roles for 80): (code, role) -> login."""
    wanted = [
        (c, r) for c in ("59", "62") for r in ("caseworker", "receiver", "doctor", "supervisor")
    ]
    wanted += [("80", "caseworker"), ("80", "receiver"), ("80", "supervisor")]
    logins = {}
    for code, role in wanted:
        logins[(code, role)] = create_account(
            session, f"{role}-{code}", role, [code], AGENT_PASSWORD
        ).login
    return logins


@pytest.fixture
def web(app: Flask) -> Iterator[Flask]:
    """The same hub (database, storage, keys) as a second app, for page tests.

    The `backends` fixture keeps an app context of `app` pushed for the whole test, and requests
    would share its `g` (where the CSRF token of a request is cached); requests to this twin each
    get their own app context, as in production.
    """
    twin = create_app(same_hub(app.config))
    yield twin
    twin.extensions["mdph_bridge"].engine.dispose()


@pytest.fixture
def cli(app: Flask, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Run `mdph-bridge` with the test hub's settings in its environment."""
    monkeypatch.chdir(tmp_path)
    for name, value in same_hub(app.config).items():
        monkeypatch.setenv(f"MDPH_BRIDGE_{name}", str(value))

    def run(*args: str, status: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == status, result.output
        return result.output

    return run


@pytest.fixture
def hub_url(app: Flask) -> Iterator[str]:
    """The test hub served over real HTTP on a free local port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def pull_62(
    hub_url: str, demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Pull:
    """Run `inbound pull --once` for 62 with its demo key folder and the token of `role`."""
    monkeypatch.chdir(tmp_path)  # the command loads ./.env; keep the project's out of the test
    keys = Path(demo["62"]["cles"]["signing"]["identity_file"]).parent

    def invoke(out: Path, role: str = "doctor", *extra: str, keys: Path = keys) -> Result:
        token = tmp_path / f"jeton-{role}"
        token.write_text(demo["62"]["jetons"][role] + "\n")
        args = [
            "--url",
            hub_url,
            "--token-file",
            str(token),
            "--keys",
            str(keys),
            "--out",
            str(out),
        ]
        return CliRunner().invoke(main, ["inbound", "pull", *args, "--once", *extra])

    return invoke
