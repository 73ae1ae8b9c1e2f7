"""Départements' public keys: registration, revocation, and which ones a package is sealed to."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.age import AgeError, check_recipient
from mdph_bridge.domain.keyids import key_id
from mdph_bridge.domain.signing import check_public_key
from mdph_bridge.models import Departement, DepartementKey, utcnow
from mdph_bridge.services.audit import CLI, Actor, record
from schemas.dossier import has_medical_content
from schemas.errors import error

ENCRYPTION_USAGES = ("receiver", "doctor")
USAGES = (*ENCRYPTION_USAGES, "signing")  # signing: the Ed25519 key its receipts are signed with
# How long a process reuses a destination's keys before reading them again. Registering or revoking
# a key forgets them at once in the process that did it; other processes see it within this delay.
KEYS_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class PublicKey:
    """A département's key as read from the database, shared by the threads of a process."""

    id: str
    usage: str
    public_key: str
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None

    def is_valid(self, at: datetime) -> bool:
        """Tell whether the key may be used at `at`."""
        return (
            self.revoked_at is None
            and self.valid_from <= at
            and (self.valid_until is None or at < self.valid_until)
        )


# Per database (engine): département -> (when read, monotonic; its keys).
_cache: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, list[PublicKey]]]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def forget_keys(session: Session) -> None:
    """Drop this process's copy of the keys of the session's database (after a change)."""
    with _cache_lock:
        _cache.pop(session.get_bind().engine, None)


def _departement_keys(session: Session, departement: str) -> list[PublicKey]:
    """A département's keys, from this process's copy if it is fresh, else from the database."""
    engine = session.get_bind().engine
    with _cache_lock:
        cached = _cache.get(engine, {}).get(departement)
    if cached is not None and time.monotonic() - cached[0] < KEYS_CACHE_SECONDS:
        return cached[1]
    read_at = time.monotonic()
    k = DepartementKey
    rows = session.execute(
        select(k.id, k.usage, k.public_key, k.valid_from, k.valid_until, k.revoked_at)
        .where(DepartementKey.departement_code == departement)
        .order_by(DepartementKey.id)
    ).all()
    keys = [PublicKey(*row) for row in rows]
    with _cache_lock:
        _cache.setdefault(engine, {})[departement] = (read_at, keys)
    return keys


def register_key(
    session: Session,
    departement: str,
    usage: str,
    public_key: str,
    valid_until: datetime | None = None,
    valid_from: datetime | None = None,
    actor: Actor = CLI,
) -> DepartementKey:
    """Register a département's age public key; the private key never reaches the hub."""
    if usage not in USAGES:
        raise ValueError(f"Usage de clé inconnu {usage!r} : attendu {', '.join(USAGES)}.")
    if session.get(Departement, departement) is None:
        raise ValueError(f"Département non raccordé : {departement!r}.")
    encryption = usage in ENCRYPTION_USAGES
    try:
        recipient = check_recipient(public_key) if encryption else check_public_key(public_key)
    except (AgeError, ValueError) as exc:
        expected = "une clé age « age1… »" if encryption else "une clé Ed25519 (base64)"
        raise ValueError(f"Clé publique invalide : {expected} est attendue.") from exc
    key = DepartementKey(
        id=key_id(departement, usage, recipient),
        departement_code=departement,
        usage=usage,
        public_key=recipient,
        valid_from=valid_from or utcnow(),
        valid_until=valid_until,
    )
    if session.get(DepartementKey, key.id) is not None:
        raise ValueError(f"Cette clé est déjà enregistrée (identifiant {key.id}).")
    session.add(key)
    record(session, actor, "key.register", "key", key.id)
    session.commit()
    forget_keys(session)
    return key


def revoke_key(session: Session, identifier: str, actor: Actor = CLI) -> bool:
    """Revoke a key; packages already sealed to it stay readable by its owner."""
    key = session.get(DepartementKey, identifier)
    if key is None:
        return False
    key.revoked_at = key.revoked_at or utcnow()
    record(session, actor, "key.revoke", "key", identifier)
    session.commit()
    forget_keys(session)
    return True


def list_keys(session: Session, departement: str, actor: Actor = CLI) -> list[DepartementKey]:
    """Every key of a département, oldest first; the reading is audited."""
    query = select(DepartementKey).where(DepartementKey.departement_code == departement)
    keys = list(session.scalars(query.order_by(DepartementKey.created_at)))
    record(session, actor, "key.list", "departement", departement)
    session.commit()
    return keys


def valid_keys(session: Session, departement: str, usage: str) -> list[DepartementKey]:
    """Return the keys of `departement` usable now for `usage`."""
    now = utcnow()
    keys = session.scalars(
        select(DepartementKey)
        .where(DepartementKey.departement_code == departement, DepartementKey.usage == usage)
        .order_by(DepartementKey.id)
    )
    return [key for key in keys if key.is_valid(now)]


def keys_by_usage(session: Session, departement: str) -> dict[str, list[PublicKey]]:
    """Return the keys of `departement` usable now, by usage (hot path: cached per process)."""
    now = utcnow()
    keys: dict[str, list[PublicKey]] = {usage: [] for usage in USAGES}
    for key in _departement_keys(session, departement):
        if key.is_valid(now):
            keys.setdefault(key.usage, []).append(key)
    return keys


def destination_problems(
    session: Session,
    dossier: dict[str, Any],
    keys: dict[str, list[PublicKey]] | None = None,
) -> list[dict[str, str]]:
    """List why the dossier cannot be addressed to its destination now (empty if it can).

    `keys` are the destination's `keys_by_usage`, when the caller already has them.
    """
    code = dossier["transfert"]["mdph_destination"]
    chemin = "transfert.mdph_destination"
    keys = keys_by_usage(session, code) if keys is None else keys
    # A département with keys exists (foreign key): look it up only when it has none.
    if not any(keys.values()) and session.get(Departement, code) is None:
        return [error(chemin, "transfert.destination_inconnue", departement=code)]
    problems = []
    if not keys["receiver"]:
        problems.append(error(chemin, "transfert.destination_sans_cle", departement=code))
    if has_medical_content(dossier) and not keys["doctor"]:
        problems.append(error(chemin, "transfert.destination_sans_cle_medicale", departement=code))
    return problems


def expiring_keys(session: Session, within: timedelta) -> list[DepartementKey]:
    """Return the valid keys ending within `within`: their MDPH must register new ones first."""
    now = utcnow()
    keys = session.scalars(
        select(DepartementKey)
        .where(
            DepartementKey.revoked_at.is_(None),
            DepartementKey.valid_until.is_not(None),
            DepartementKey.valid_until <= now + within,
        )
        .order_by(DepartementKey.valid_until)
    )
    return [key for key in keys if key.is_valid(now)]
