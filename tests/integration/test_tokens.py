"""API tokens: expiry, revocation, last use; failed authentications limited per client in Redis."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from support import bearer, hub_settings

from mdph_bridge import create_app
from mdph_bridge.models import ApiToken, utcnow
from mdph_bridge.services.auth import (
    authenticate,
    found_valid,
    hash_token,
    issue_token,
    recently_checked,
    revoke_token,
)

pytestmark = pytest.mark.integration
LIMIT = 10  # AUTH_FAILURE_LIMIT's default: 10/minute


def token_row(session: Session, value: str) -> ApiToken:
    return session.scalars(
        select(ApiToken)
        .where(ApiToken.token_hash == hash_token(value))
        .execution_options(populate_existing=True)
    ).one()


def test_a_token_stops_working_when_it_expires(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    now = utcnow()
    token, value = issue_token(
        session, "59", "caseworker", "SI", expires_at=now + timedelta(days=1)
    )
    assert authenticate(session, value, now=now + timedelta(hours=23)) is not None
    assert authenticate(session, value, now=now + timedelta(days=1)) is None
    session.rollback()
    assert client.get("/api/v1/transfers", headers=bearer(value)).status_code == 200
    session.execute(
        update(ApiToken).where(ApiToken.id == token.id).values(expires_at=now - timedelta(1))
    )
    session.commit()
    refused = client.get("/api/v1/transfers", headers=bearer(value))
    assert refused.status_code == 401
    assert refused.get_json()["erreurs"][0]["code"] == "auth.jeton_invalide"


def test_last_use_is_recorded_at_most_once_a_minute(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    value = demo["59"]["jetons"]["caseworker"]
    assert token_row(session, value).last_used_at is None
    client.get("/api/v1/transfers", headers=bearer(value))
    first = token_row(session, value).last_used_at
    assert first is not None
    client.get("/api/v1/transfers", headers=bearer(value))
    assert token_row(session, value).last_used_at == first
    later = first + timedelta(minutes=2)
    assert authenticate(session, value, now=later) is not None
    session.commit()
    assert token_row(session, value).last_used_at == later


def test_failed_authentications_are_limited_per_client_in_redis(
    client: FlaskClient, demo: dict[str, Any], redis_client: redis.Redis
) -> None:
    good = bearer(demo["59"]["jetons"]["caseworker"])
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    for _ in range(5):  # no token at all is not a guess: it does not count
        assert client.get("/api/v1/transfers", environ_base=attacker).status_code == 401
    for _ in range(LIMIT):
        wrong = client.get("/api/v1/transfers", headers=bearer("mdphb_x"), environ_base=attacker)
        assert wrong.status_code == 401
    blocked = client.get("/api/v1/transfers", headers=good, environ_base=attacker)
    assert blocked.status_code == 429
    problem = blocked.get_json()["erreurs"][0]
    assert problem["code"] == "auth.trop_d_echecs"
    assert 0 < int(blocked.headers["Retry-After"]) <= 60
    # the counter lives in Redis, keyed without the client's address
    keys = [k.decode() for k in redis_client.keys("*")]
    assert keys
    assert all("198.51.100.7" not in k for k in keys)
    # another client is not affected
    other = client.get("/api/v1/transfers", headers=good, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 200
    # emptying Redis lifts the block: the state is there, shared by every web process
    redis_client.delete(*redis_client.keys("*"))
    assert client.get("/api/v1/transfers", headers=good, environ_base=attacker).status_code == 200


def test_a_client_over_the_limit_keeps_a_token_this_process_found_valid_not_a_guess(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    # An MDPH's information system behind the same address as a guesser (a shared NAT).
    value = demo["59"]["jetons"]["caseworker"]
    good, shared = bearer(value), {"REMOTE_ADDR": "198.51.100.10"}
    assert client.get("/api/v1/transfers", headers=good, environ_base=shared).status_code == 200
    for _ in range(LIMIT):
        wrong = client.get("/api/v1/transfers", headers=bearer("mdphb_x"), environ_base=shared)
        assert wrong.status_code == 401

    def status(headers: dict[str, str]) -> int:
        return client.get("/api/v1/transfers", headers=headers, environ_base=shared).status_code

    # Guesses are stopped before any database read, and so is a token this process never saw.
    assert status(bearer("mdphb_y")) == 429
    assert status(bearer(demo["80"]["jetons"]["caseworker"])) == 429
    # The token found valid goes on: from the process's copy, and read from the database again.
    assert status(good) == 200
    client.application.config["TOKEN_CACHE_SECONDS"] = 0
    assert status(good) == 200
    # Revoked by another process: refused and counted once, then stopped like a guess.
    session.execute(
        update(ApiToken).where(ApiToken.token_hash == hash_token(value)).values(revoked_at=utcnow())
    )
    session.commit()
    assert status(good) == 401
    assert status(good) == 429


def test_tokens_are_still_checked_when_the_counter_store_is_down(
    tmp_path: Path, database_url: str, demo: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    settings = hub_settings(tmp_path, database_url, "filesystem://")
    app = create_app(settings | {"RATELIMIT_STORAGE_URL": "redis://127.0.0.1:1/0"})
    client = app.test_client()
    good = client.get("/api/v1/transfers", headers=bearer(demo["59"]["jetons"]["caseworker"]))
    assert good.status_code == 200
    assert client.get("/api/v1/transfers", headers=bearer("mdphb_x")).status_code == 401
    assert "failed-authentication limit not checked: ConnectionError" in caplog.text
    app.extensions["mdph_bridge"].engine.dispose()


def test_without_redis_every_web_worker_counts_in_the_database(
    app: Any,
    tmp_path: Path,
    database_url: str,
    demo: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Two web workers of one embedded hub (no Redis): each is its own app, as in gunicorn.
    settings = hub_settings(tmp_path, database_url, "filesystem://")
    workers = [create_app(settings) for _ in range(2)]
    assert {w.config["RATELIMIT_STORAGE_URL"] for w in workers} == {"database"}
    attacker = {"REMOTE_ADDR": "198.51.100.8"}
    answers = [
        workers[attempt % 2]
        .test_client()
        .get("/api/v1/transfers", headers=bearer("mdphb_x"), environ_base=attacker)
        .status_code
        for attempt in range(LIMIT + 2)
    ]
    assert answers == [401] * LIMIT + [429, 429]
    # The log names the request and a keyed hash of the client, never its address.
    failed = [r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(failed) == LIMIT
    assert all("request=" in line and "client=" in line for line in failed)
    assert "198.51.100.8" not in caplog.text
    for worker in workers:
        worker.extensions["mdph_bridge"].engine.dispose()


def test_a_revoked_token_is_refused_at_once_by_the_process_that_revoked_it(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    value = demo["59"]["jetons"]["caseworker"]
    for _ in range(2):  # the second call is answered from this process's copy of the check
        assert client.get("/api/v1/transfers", headers=bearer(value)).status_code == 200
    assert recently_checked(session, value, 60) is not None

    revoke_token(session, token_row(session, value).id)

    assert recently_checked(session, value, 60) is None
    assert client.get("/api/v1/transfers", headers=bearer(value)).status_code == 401


def test_another_process_sees_a_revocation_within_its_token_cache_delay(
    tmp_path: Path, database_url: str, demo: dict[str, Any], session: Session, app: Any
) -> None:
    value = demo["59"]["jetons"]["caseworker"]
    settings = hub_settings(tmp_path, database_url, app.config["BROKER_URL"])
    slow, quick = (create_app(settings | {"TOKEN_CACHE_SECONDS": s}) for s in (3600, 0.2))
    for worker in (slow, quick):
        for _ in range(2):
            assert call(worker, value) == 200

    revoke_token(session, token_row(session, value).id)  # in the test's process, not theirs

    assert call(slow, value) == 200  # still its copy: the delay docs/SECURITY.md states
    time.sleep(0.3)  # past the quick one's TOKEN_CACHE_SECONDS
    assert call(quick, value) == 401
    for worker in (slow, quick):
        worker.extensions["mdph_bridge"].engine.dispose()


def call(app: Any, value: str) -> int:
    return int(app.test_client().get("/api/v1/transfers", headers=bearer(value)).status_code)


def test_a_checked_token_is_read_again_at_its_expiry_and_to_record_its_use(
    demo: dict[str, Any], session: Session
) -> None:
    now = utcnow()
    # It expires before its last use is due to be written again (a minute): only its expiry
    # sends the check back to the database.
    expiry = now + timedelta(seconds=30)
    _, value = issue_token(session, "59", "caseworker", "SI", expires_at=expiry)
    assert authenticate(session, value, now=now) is not None

    assert recently_checked(session, value, 3600, now=now) is not None
    assert recently_checked(session, value, 3600, now=expiry - timedelta(seconds=1)) is not None
    assert recently_checked(session, value, 3600, now=expiry) is None
    # Nor does it pass a client over the failure limit once expired.
    assert found_valid(session, value, now=expiry - timedelta(seconds=1))
    assert not found_valid(session, value, now=expiry)
    # The last use is written once a minute: then the database is read (and written) again.
    assert recently_checked(session, value, 3600, now=now + timedelta(minutes=1)) is None
    agent = "mdph-reception/2.0"
    assert recently_checked(session, value, 3600, agent, now=now) is None
    assert recently_checked(session, value, 0, now=now) is None
