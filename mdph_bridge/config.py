"""Settings from MDPH_BRIDGE_* environment variables, with embedded defaults that need no server."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from mdph_bridge.domain.clock import CALENDAR, WORKING, ClockRules, Policy
from mdph_bridge.domain.sealing import Keyring
from mdph_bridge.domain.signing import HubSigner
from mdph_bridge.rulebook import RULES_DIR, load_rulebook

PREFIX = "MDPH_BRIDGE_"
MiB = 1024 * 1024

# name -> (type, default); `None` default means "derived from VAR_DIR" or "required".
_SETTINGS: dict[str, tuple[type, Any]] = {
    "VAR_DIR": (str, "var"),
    "SECRET_KEY": (str, None),
    "DATABASE_URL": (str, None),
    "BROKER_URL": (str, None),
    "STORAGE_DIR": (str, None),
    "RULES_DIR": (str, None),
    "STAGING_KEYS": (str, None),
    "SIGNING_KEYS": (str, None),
    "SLA_DAYS": (int, 15),
    "WARNING_DAYS": (int, 10),
    "SLA_DAY_KIND": (str, CALENDAR),
    "SLA_PAIRS": (str, ""),
    "STALE_AFTER_SECONDS": (int, 300),
    "LEASE_SECONDS": (int, 900),
    "TASK_TIME_LIMIT_SECONDS": (int, 600),
    "MAX_ATTEMPTS": (int, 5),
    "RETRY_BACKOFF_SECONDS": (int, 5),
    "SWEEP_INTERVAL_SECONDS": (int, 60),
    "ORPHAN_AGE_SECONDS": (int, 3600),
    # A wake-up waits this long at most for Redis to connect, then to answer; past it the
    # transfer is left to the sweeper, as when the broker is down.
    "BROKER_TIMEOUT_SECONDS": (float, 2.0),
    "ALERT_INTERVAL_SECONDS": (int, 300),
    "ROLLUP_INTERVAL_SECONDS": (int, 60),
    "ALERT_EMAILS": (str, ""),
    "ALERT_FROM": (str, "mdph-bridge@localhost"),
    "ALERT_WEBHOOK_URL": (str, ""),
    "SMTP_URL": (str, "smtp://127.0.0.1:25"),
    "PUBLIC_URL": (str, "http://127.0.0.1:8000"),
    "WORKER_METRICS_PORT": (int, 0),
    "WORKER_METRICS_ADDRESS": (str, "127.0.0.1"),
    "MAX_FILE_BYTES": (int, 20 * MiB),
    "MAX_TRANSFER_BYTES": (int, 100 * MiB),
    "SIGN_IN_MAX_FAILURES": (int, 5),
    "SIGN_IN_LOCK_MINUTES": (int, 15),
    "SESSION_HOURS": (int, 8),
    "MAX_JSON_BYTES": (int, 64 * 1024),
    "MAX_JSON_DEPTH": (int, 32),
    # Failed authentications allowed per client; counted in Redis when the broker is Redis, else
    # in the database (`database`).
    "AUTH_FAILURE_LIMIT": (str, "10/minute"),
    "RATELIMIT_STORAGE_URL": (str, None),
    "AUDIT_RETENTION_DAYS": (int, 365),
    "AUDIT_SEAL_INTERVAL_SECONDS": (int, 2),
    "PACKAGE_RETENTION_DAYS": (int, 30),
    # Drafts composed on the pages are deleted this long after they were last saved.
    "DRAFT_RETENTION_DAYS": (int, 30),
    "UNDOWNLOADED_ALERT_DAYS": (int, 5),
    "TOKEN_VALID_DAYS": (int, 365),
    # A web process reuses a valid token's check this long: a revocation made by another process
    # takes effect within this delay (at once in the process that made it).
    "TOKEN_CACHE_SECONDS": (float, 5.0),
    # A destination's last inbound position lives this long in Redis after its last raise: a raise
    # lost (Redis down for a moment) delays a transfer's listing by this much at most.
    "INBOUND_WATERMARK_SECONDS": (int, 10),
    # Reverse proxies in front of the hub whose X-Forwarded-For/-Proto are trusted (0: none).
    "TRUSTED_PROXIES": (int, 0),
    # Transfers whose documents weigh this much or more go to the `transfers_large` queue.
    "LARGE_TRANSFER_BYTES": (int, 10 * MiB),
    # Blobs on the local disk (`local`, one machine) or in an S3-compatible bucket (`s3`).
    "STORAGE": (str, "local"),
    "S3_BUCKET": (str, None),
    "S3_ENDPOINT_URL": (str, None),
    "S3_REGION": (str, None),
    "S3_ACCESS_KEY_ID": (str, None),
    "S3_SECRET_ACCESS_KEY": (str, None),
}
# R146-46/47 CASF: lookups and writes are kept at least 3 months (docs/DOMAIN.md §5.3).
MIN_AUDIT_RETENTION_DAYS = 92
# A wake-up waits at most this long for the broker: longer, a hung Redis would hold every answer.
MAX_BROKER_TIMEOUT_SECONDS = 60


def parse_recipients(text: str) -> dict[str, tuple[str, ...]]:
    """Read `59=a@mdph59.fr b@mdph59.fr; 62=c@mdph62.fr; plateforme=exploitation@hub.fr`."""
    recipients: dict[str, tuple[str, ...]] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        owner, _, addresses = entry.partition("=")
        found = tuple(a for a in addresses.replace(",", " ").split() if a)
        if not owner.strip() or not found or not all("@" in a for a in found):
            raise ValueError(
                f"Destinataires d'alertes illisibles : {entry!r} ; attendu par exemple "
                f"« 59=cellule@mdph59.fr; plateforme=exploitation@exemple.fr »."
            )
        recipients[owner.strip()] = found
    return recipients


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read settings from the environment and fill the embedded defaults."""
    env = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for name, (kind, default) in _SETTINGS.items():
        raw = env.get(PREFIX + name)
        settings[name] = default if raw in (None, "") else kind(raw)
    var = Path(settings["VAR_DIR"]).resolve()
    settings["VAR_DIR"] = str(var)
    settings["EMBEDDED"] = not settings["DATABASE_URL"]
    settings["DATABASE_URL"] = (
        settings["DATABASE_URL"] or f"sqlite:///{var / 'mdph_bridge.sqlite3'}"
    )
    settings["BROKER_URL"] = settings["BROKER_URL"] or "filesystem://"
    settings["STORAGE_DIR"] = settings["STORAGE_DIR"] or str(var / "blobs")
    return settings


def validate_config(config: MutableMapping[str, Any]) -> None:
    """Refuse to start without the secrets the web app and the worker must share."""
    required = ("SECRET_KEY", "STAGING_KEYS", "SIGNING_KEYS")
    missing = [name for name in required if not config.get(name)]
    if missing:
        names = ", ".join(PREFIX + name for name in missing)
        raise RuntimeError(f"Missing required setting(s): {names}. Run `mdph-bridge init-env`.")
    config["CLOCK_RULES"] = clock_rules(config)
    try:
        config["ALERT_RECIPIENTS"] = parse_recipients(config["ALERT_EMAILS"])
    except ValueError as exc:
        raise RuntimeError(f"{PREFIX}ALERT_EMAILS : {exc}") from exc
    if config["AUDIT_RETENTION_DAYS"] < MIN_AUDIT_RETENTION_DAYS:
        raise RuntimeError(
            f"{PREFIX}AUDIT_RETENTION_DAYS must be at least {MIN_AUDIT_RETENTION_DAYS} days: "
            "the law keeps lookups and writes 3 months (CASF R146-46)."
        )
    if config["INBOUND_WATERMARK_SECONDS"] < 1:  # Redis refuses a key that lives 0 s
        raise RuntimeError(
            f"{PREFIX}INBOUND_WATERMARK_SECONDS : au moins 1 seconde, pas "
            f"{config['INBOUND_WATERMARK_SECONDS']}."
        )
    # 0 would make redis-py's sockets non-blocking; an infinite one, `settimeout` refuses.
    if not 0 < config["BROKER_TIMEOUT_SECONDS"] <= MAX_BROKER_TIMEOUT_SECONDS:
        raise RuntimeError(
            f"{PREFIX}BROKER_TIMEOUT_SECONDS : un délai de plus de 0 seconde et d'au plus "
            f"{MAX_BROKER_TIMEOUT_SECONDS} secondes, pas "
            f"{config['BROKER_TIMEOUT_SECONDS']}."
        )
    broker = config["BROKER_URL"]
    config["RATELIMIT_STORAGE_URL"] = config.get("RATELIMIT_STORAGE_URL") or (
        # Without Redis, in the database: every web worker sees the same counts.
        broker if broker.startswith(("redis://", "rediss://")) else "database"
    )
    if config.get("STORAGE", "local") not in {"local", "s3"}:
        raise RuntimeError(f"{PREFIX}STORAGE must be `local` or `s3`.")
    if config.get("STORAGE") == "s3" and not config.get("S3_BUCKET"):
        raise RuntimeError(f"{PREFIX}STORAGE=s3 needs {PREFIX}S3_BUCKET.")
    config["KEYRING"] = Keyring.parse(config["STAGING_KEYS"])
    config["SIGNER"] = HubSigner.parse(config["SIGNING_KEYS"])
    config["RULES"] = load_rulebook(Path(config.get("RULES_DIR") or RULES_DIR))
    config["MAX_CONTENT_LENGTH"] = config["MAX_TRANSFER_BYTES"] + MiB
    config["MAX_FORM_MEMORY_SIZE"] = 4 * MiB


def clock_rules(config: Mapping[str, Any]) -> ClockRules:
    """Build the deadline policies: the default one and those agreed per département pair."""
    kind = config["SLA_DAY_KIND"]
    if kind not in (CALENDAR, WORKING):
        raise RuntimeError(f"{PREFIX}SLA_DAY_KIND: attendu {CALENDAR} ou {WORKING}, pas {kind!r}.")
    try:
        default = Policy(config["SLA_DAYS"], config["WARNING_DAYS"], kind == WORKING)
        return ClockRules.parse(config["SLA_PAIRS"], default)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from exc
