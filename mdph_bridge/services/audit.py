"""The audit log: record who did what, verify the hash chain, export it, purge it past retention.

Every entry's hash covers the previous entry's hash and its own fields, so a modified, deleted or
reordered entry breaks the chain. Writers take one lock (a PostgreSQL transaction-level advisory
lock; on SQLite every write transaction is already exclusive), so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, text
from sqlalchemy.orm import Session

from mdph_bridge.domain.roles import Role
from mdph_bridge.models import AuditChain, AuditEntry, utcnow

GENESIS = "0" * 64
CHAIN_ID = 1
LOCK_KEY = 0x6D647068_61756474  # "mdphaudt": the advisory lock of the audit chain
# What each entry's hash covers, after the previous entry's hash, in this order.
FIELDS = (
    "seq",
    "at",
    "actor",
    "role",
    "departement",
    "action",
    "object_type",
    "object_id",
    "outcome",
)


@dataclass(frozen=True)
class Actor:
    """Who acts, by id only: a token or account id, or the hub itself, with role and département."""

    id: str
    role: str | None = None
    departement: str | None = None


SYSTEM = Actor("systeme")
CLI = Actor("cli", Role.ADMIN)


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """Hash the previous hash and an entry's canonical fields."""
    values = [fields[name] for name in FIELDS]
    values[1] = values[1].isoformat(timespec="microseconds")
    canonical = json.dumps([prev_hash, *values], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _head(session: Session) -> AuditChain:
    """Take the chain lock and return its head (created on first use); held until commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    head = session.get(AuditChain, CHAIN_ID, populate_existing=True)
    if head is None:
        head = AuditChain(
            id=CHAIN_ID, last_seq=0, last_hash=GENESIS, anchor_seq=0, anchor_hash=GENESIS
        )
        session.add(head)
    return head


def _append(
    session: Session,
    head: AuditChain,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | None,
    outcome: str,
    at: datetime | None,
) -> AuditEntry:
    fields = {
        "seq": head.last_seq + 1,
        "at": at or utcnow(),
        "actor": actor.id,
        "role": actor.role,
        "departement": actor.departement,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "outcome": outcome,
    }
    entry = AuditEntry(**fields, prev_hash=head.last_hash, hash=entry_hash(head.last_hash, fields))
    session.add(entry)
    head.last_seq, head.last_hash = entry.seq, entry.hash
    session.flush()
    return entry


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = None,
    outcome: str = "ok",
    at: datetime | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction; the caller commits (soon: it holds the lock)."""
    oid = None if object_id is None else str(object_id)
    return _append(session, _head(session), actor, action, object_type, oid, outcome, at)


def record_call(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_ids: Iterable[object],
    outcome: str,
) -> None:
    """Record an HTTP call, one entry per object it read, in its own short transaction."""
    session.rollback()  # whatever the view left open; its own work is already committed
    for object_id in object_ids:
        record(session, actor, action, object_type, object_id, outcome)
    session.commit()


@dataclass(frozen=True)
class Verification:
    """The outcome of a chain check: how many entries were read, and the first bad one if any."""

    checked: int
    bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the whole chain is intact."""
        return self.problem is None


def verify(session: Session) -> Verification:
    """Walk the chain from the purge anchor to the head; name the first entry that breaks it."""
    head = session.get(AuditChain, CHAIN_ID, populate_existing=True)
    if head is None:
        first = session.scalar(select(func.min(AuditEntry.seq)))
        if first is None:
            return Verification(0)
        return Verification(0, first, "la tête de la chaîne a disparu")
    query = select(AuditEntry).order_by(AuditEntry.seq)
    # populate_existing: check what the database holds now, not what this session remembers.
    entries = session.scalars(query.execution_options(yield_per=1000, populate_existing=True))
    try:
        return _walk(head, entries)
    finally:
        entries.close()  # a server-side cursor, left open by an early return


def _walk(head: AuditChain, entries: Iterable[AuditEntry]) -> Verification:
    expected, prev, checked = head.anchor_seq + 1, head.anchor_hash, 0
    for entry in entries:
        if entry.seq != expected:
            if entry.seq < expected:
                return Verification(checked, entry.seq, "entrée antérieure à l'ancre de purge")
            return Verification(checked, expected, "entrée supprimée")
        if entry.prev_hash != prev:
            problem = "ne suit pas l'entrée précédente (ordre changé ou précédente remplacée)"
            return Verification(checked, entry.seq, problem)
        fields = {name: getattr(entry, name) for name in FIELDS}
        if entry_hash(prev, fields) != entry.hash:
            return Verification(checked, entry.seq, "entrée modifiée")
        prev, expected, checked = entry.hash, expected + 1, checked + 1
    if expected - 1 != head.last_seq or prev != head.last_hash:
        return Verification(checked, expected, "entrée supprimée (fin de la chaîne)")
    return Verification(checked)


def entries(
    session: Session, since: datetime | None = None, until: datetime | None = None
) -> Iterator[AuditEntry]:
    """Yield the entries recorded in [since, until), in chain order."""
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    yield from session.scalars(query.execution_options(yield_per=1000))


def as_row(entry: AuditEntry) -> dict[str, Any]:
    """Give an entry as a flat record for export (French column names for the DPO)."""
    return {
        "numero": entry.seq,
        "date": entry.at.isoformat(),
        "acteur": entry.actor,
        "role": entry.role,
        "departement": entry.departement,
        "action": entry.action,
        "type_objet": entry.object_type,
        "objet": entry.object_id,
        "resultat": entry.outcome,
        "empreinte_precedente": entry.prev_hash,
        "empreinte": entry.hash,
    }


def purge(session: Session, before: datetime, now: datetime | None = None) -> int:
    """Delete the entries older than `before`; the last deleted hash stays as the chain's anchor."""
    head = _head(session)
    last = session.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.at < before))
    if last is None:
        session.rollback()
        return 0
    anchor = select(AuditEntry.hash).where(AuditEntry.seq == last)
    anchor_hash = session.execute(anchor).scalar_one()
    head.anchor_seq, head.anchor_hash = last, anchor_hash
    if session.get_bind().dialect.name == "postgresql":  # the trigger lets only the purge delete
        session.execute(text("SET LOCAL mdph.audit_purge = 'on'"))
    doomed = delete(AuditEntry).where(AuditEntry.seq <= last)
    result = session.execute(doomed.execution_options(synchronize_session=False))
    deleted: int = cast(CursorResult[Any], result).rowcount
    _append(session, head, SYSTEM, "audit.purge", "audit", str(last), "ok", now)
    session.commit()
    return deleted
