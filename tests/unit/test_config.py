"""Unit tests of the settings: embedded defaults, MDPH_BRIDGE_* overrides, start-up checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mdph_bridge.config import MiB, load_config, validate_config
from mdph_bridge.domain.sealing import Keyring, SealError, generate_staging_key
from mdph_bridge.domain.signing import generate_hub_key

pytestmark = pytest.mark.unit

SECRET = "not-a-real-secret"  # noqa: S105 - test value

INT_DEFAULTS = {
    "SLA_DAYS": 15,
    "WARNING_DAYS": 10,
    "STALE_AFTER_SECONDS": 300,
    "LEASE_SECONDS": 900,
    "TASK_TIME_LIMIT_SECONDS": 600,
    "MAX_ATTEMPTS": 5,
    "RETRY_BACKOFF_SECONDS": 5,
    "SWEEP_INTERVAL_SECONDS": 60,
    "MAX_FILE_BYTES": 20 * MiB,
    "MAX_TRANSFER_BYTES": 100 * MiB,
}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty folder so the relative default VAR_DIR lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path.resolve()


def valid_settings(**changes: Any) -> dict[str, Any]:
    """Embedded defaults plus the three required secrets."""
    settings = load_config({})
    settings |= {
        "SECRET_KEY": SECRET,
        "STAGING_KEYS": generate_staging_key("k1"),
        "SIGNING_KEYS": generate_hub_key("h1"),
    }
    return settings | changes


def test_defaults_are_embedded_sqlite_filesystem_broker_and_local_blobs(in_tmp: Path) -> None:
    config = load_config({})

    var = in_tmp / "var"
    assert config["VAR_DIR"] == str(var)
    assert config["DATABASE_URL"] == f"sqlite:///{var / 'mdph_bridge.sqlite3'}"
    assert config["BROKER_URL"] == "filesystem://"
    assert config["STORAGE_DIR"] == str(var / "blobs")
    assert config["EMBEDDED"] is True
    assert config["SECRET_KEY"] is None
    assert config["STAGING_KEYS"] is None


@pytest.mark.parametrize(("name", "value"), INT_DEFAULTS.items())
def test_integer_default(in_tmp: Path, name: str, value: int) -> None:
    assert load_config({})[name] == value


def test_defaults_do_not_create_any_file(in_tmp: Path) -> None:
    load_config({})

    assert list(in_tmp.iterdir()) == []


def test_var_dir_moves_every_derived_path(tmp_path: Path) -> None:
    config = load_config({"MDPH_BRIDGE_VAR_DIR": str(tmp_path / "data")})

    var = (tmp_path / "data").resolve()
    assert config["VAR_DIR"] == str(var)
    assert config["DATABASE_URL"] == f"sqlite:///{var}/mdph_bridge.sqlite3"
    assert config["STORAGE_DIR"] == str(var / "blobs")


def test_relative_var_dir_is_made_absolute(in_tmp: Path) -> None:
    config = load_config({"MDPH_BRIDGE_VAR_DIR": "run/state"})

    assert config["VAR_DIR"] == str(in_tmp / "run" / "state")


def test_string_overrides_are_taken_as_is(in_tmp: Path) -> None:
    env = {
        "MDPH_BRIDGE_DATABASE_URL": "postgresql+psycopg://hub@db/hub",
        "MDPH_BRIDGE_BROKER_URL": "redis://redis:6379/0",
        "MDPH_BRIDGE_STORAGE_DIR": "/srv/blobs",
        "MDPH_BRIDGE_SECRET_KEY": SECRET,
    }

    config = load_config(env)

    assert config["DATABASE_URL"] == "postgresql+psycopg://hub@db/hub"
    assert config["BROKER_URL"] == "redis://redis:6379/0"
    assert config["STORAGE_DIR"] == "/srv/blobs"
    assert config["SECRET_KEY"] == SECRET


def test_database_url_makes_the_hub_not_embedded(in_tmp: Path) -> None:
    config = load_config({"MDPH_BRIDGE_DATABASE_URL": "postgresql+psycopg://hub@db/hub"})

    assert config["EMBEDDED"] is False
    assert config["BROKER_URL"] == "filesystem://"


@pytest.mark.parametrize("name", sorted(INT_DEFAULTS))
def test_integer_override_is_converted(in_tmp: Path, name: str) -> None:
    config = load_config({f"MDPH_BRIDGE_{name}": "1234"})

    assert config[name] == 1234
    assert isinstance(config[name], int)


def test_empty_variable_falls_back_to_the_default(in_tmp: Path) -> None:
    config = load_config({"MDPH_BRIDGE_SLA_DAYS": "", "MDPH_BRIDGE_DATABASE_URL": ""})

    assert config["SLA_DAYS"] == 15
    assert config["EMBEDDED"] is True


def test_variables_without_the_prefix_are_ignored(in_tmp: Path) -> None:
    config = load_config(
        {"SLA_DAYS": "99", "DATABASE_URL": "postgresql://x/y", "MDPH_SLA_DAYS": "7"}
    )

    assert config["SLA_DAYS"] == 15
    assert config["EMBEDDED"] is True


def test_non_integer_value_is_refused(in_tmp: Path) -> None:
    with pytest.raises(ValueError, match="quinze"):
        load_config({"MDPH_BRIDGE_SLA_DAYS": "quinze"})


def test_process_environment_is_read_by_default(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDPH_BRIDGE_SLA_DAYS", "7")
    monkeypatch.delenv("MDPH_BRIDGE_DATABASE_URL", raising=False)

    config = load_config()

    assert config["SLA_DAYS"] == 7
    assert config["EMBEDDED"] is True


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        (("SECRET_KEY",), ["MDPH_BRIDGE_SECRET_KEY"]),
        (("STAGING_KEYS",), ["MDPH_BRIDGE_STAGING_KEYS"]),
        (("SIGNING_KEYS",), ["MDPH_BRIDGE_SIGNING_KEYS"]),
        (("SECRET_KEY", "STAGING_KEYS"), ["MDPH_BRIDGE_SECRET_KEY", "MDPH_BRIDGE_STAGING_KEYS"]),
    ],
    ids=["secret", "staging", "signing", "two"],
)
@pytest.mark.parametrize("absent", [None, ""], ids=["none", "empty"])
def test_validate_config_names_every_missing_secret(
    in_tmp: Path, missing: tuple[str, ...], named: list[str], absent: str | None
) -> None:
    config = valid_settings(**dict.fromkeys(missing, absent))

    with pytest.raises(RuntimeError, match="Missing required setting") as caught:
        validate_config(config)

    message = str(caught.value)
    for name in named:
        assert name in message
    every = {"MDPH_BRIDGE_SECRET_KEY", "MDPH_BRIDGE_STAGING_KEYS", "MDPH_BRIDGE_SIGNING_KEYS"}
    for other in every - set(named):
        assert other not in message
    assert "KEYRING" not in config


def test_validate_config_builds_the_keyring_and_request_limits(in_tmp: Path) -> None:
    config = valid_settings()

    validate_config(config)

    assert isinstance(config["KEYRING"], Keyring)
    assert config["KEYRING"].primary.key_id == "k1"
    assert config["MAX_CONTENT_LENGTH"] == 100 * MiB + MiB
    assert config["MAX_FORM_MEMORY_SIZE"] == 4 * MiB


def test_validate_config_keeps_rotated_keys_with_the_first_as_primary(in_tmp: Path) -> None:
    config = valid_settings(
        STAGING_KEYS=f"{generate_staging_key('k2')},{generate_staging_key('k1')}"
    )

    validate_config(config)

    keyring = config["KEYRING"]
    assert keyring.primary.key_id == "k2"
    assert keyring.get("k1").key_id == "k1"
    with pytest.raises(SealError):
        keyring.get("k3")


def test_validate_config_follows_max_transfer_bytes(in_tmp: Path) -> None:
    config = valid_settings(MAX_TRANSFER_BYTES=10 * MiB)

    validate_config(config)

    assert config["MAX_CONTENT_LENGTH"] == 11 * MiB


@pytest.mark.parametrize(
    "keys",
    ["SECRETnocolon", "k1:SECRETshort", "k1:SECRET" + "!" * 37, "k1:" + "A" * 43 + ",SECRET"],
    ids=["no-colon", "short", "not-base64url", "second-bad"],
)
def test_validate_config_refuses_a_malformed_keyring_without_echoing_it(
    in_tmp: Path, keys: str
) -> None:
    with pytest.raises(ValueError, match=r"staging key #\d") as caught:
        validate_config(valid_settings(STAGING_KEYS=keys))

    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize(("days", "accepted"), [(91, False), (92, True), (365, True)])
def test_audit_retention_below_three_months_is_refused(
    in_tmp: Path, days: int, accepted: bool
) -> None:
    config = valid_settings(AUDIT_RETENTION_DAYS=days)
    if accepted:
        validate_config(config)
    else:
        with pytest.raises(RuntimeError, match="AUDIT_RETENTION_DAYS must be at least 92"):
            validate_config(config)


@pytest.mark.parametrize(
    ("broker", "expected"),
    [
        ("redis://127.0.0.1:6379/3", "redis://127.0.0.1:6379/3"),
        ("filesystem://", "database"),
    ],
)
def test_failed_logins_are_counted_in_the_broker_redis_else_in_the_database(
    in_tmp: Path, broker: str, expected: str
) -> None:
    config = valid_settings(BROKER_URL=broker)
    validate_config(config)
    assert config["RATELIMIT_STORAGE_URL"] == expected


def test_validate_config_refuses_an_inbound_watermark_that_would_not_live(in_tmp: Path) -> None:
    config = valid_settings(INBOUND_WATERMARK_SECONDS=0)

    with pytest.raises(RuntimeError, match="INBOUND_WATERMARK_SECONDS : au moins 1 seconde"):
        validate_config(config)


@pytest.mark.parametrize("seconds", [0.0, -1.0, 61.0, float("inf"), float("nan")])
def test_validate_config_refuses_a_broker_timeout_that_would_not_wait_or_never_end(
    in_tmp: Path, seconds: float
) -> None:
    config = valid_settings(BROKER_TIMEOUT_SECONDS=seconds)

    with pytest.raises(RuntimeError, match="BROKER_TIMEOUT_SECONDS : un délai de plus de 0"):
        validate_config(config)
