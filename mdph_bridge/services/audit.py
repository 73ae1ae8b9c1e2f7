"""The audit log: record who did what in the same transaction, seal it, check it, purge it.

Writers only insert a pending entry, in the transaction of the change (or read) it records, with no
lock. One sequencer at a time (it locks the chain's row; writers never touch it) moves the pending
entries into the hash chain in batches and signs a checkpoint of the new head with the hub's key.
Checkpoints kept outside the database (by the receiving MDPHs, the DPO) are what a deletion, a cut
or a rollback is caught against: see docs/SECURITY.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Engine,
    Insert,
    String,
    Table,
    bindparam,
    delete,
    event,
    func,
    insert,
    literal,
    null,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import ORMExecuteState, Session

from mdph_bridge.config import MIN_AUDIT_RETENTION_DAYS
from mdph_bridge.domain.checkpoints import (
    GENESIS,
    Checkpoint,
    CheckpointError,
    link,
    open_note,
    sign,
)
from mdph_bridge.domain.roles import Role
from mdph_bridge.domain.signing import HubSigner
from mdph_bridge.models import (
    AuditChain,
    AuditCheckpoint,
    AuditEntry,
    AuditPending,
    Transfer,
    utcnow,
)
from mdph_bridge.services.driver import autocommitted

CHAIN_ID = 1
BATCH = 5000
# What each entry's leaf hash covers, in this order.
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
    "client",
)
CONTENT = FIELDS[1:]  # what a writer gives; the sequencer adds the number
_PENDING = cast(Table, AuditPending.__table__)
_ENTRIES = cast(Table, AuditEntry.__table__)


@dataclass(frozen=True)
class Actor:
    """Who acts, by id only: a token or account id, or the hub itself, with role and département."""

    id: str
    role: str | None = None
    departement: str | None = None


SYSTEM = Actor("systeme")
CLI = Actor("cli", Role.ADMIN)
ANONYMOUS = Actor("anonyme")


def leaf_hash(fields: Mapping[str, Any]) -> str:
    """Hash an entry's canonical fields (its leaf in the chain)."""
    return _leaf([fields[name] for name in FIELDS])


def _leaf(values: list[Any]) -> str:
    """Hash the values of FIELDS, in that order (the list's date is replaced by its text)."""
    values[1] = values[1].isoformat(timespec="microseconds")
    return hashlib.sha256(_CANONICAL.encode(values).encode()).hexdigest()


_CANONICAL = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))  # built once, not per entry


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = None,
    outcome: str = "ok",
    at: datetime | None = None,
    client: str | None = None,
) -> None:
    """Add an entry to the caller's transaction: it commits with the change, or not at all.

    Inserted by Core on the session's connection: no unit of work to flush, and no session event
    takes the entry for a change of its own.
    """
    entry = {
        "at": at or utcnow(),
        "actor": actor.id,
        "role": actor.role,
        "departement": actor.departement,
        "action": action,
        "object_type": object_type,
        "object_id": _text(object_id),
        "outcome": outcome,
        "client": client,
    }
    session.connection().execute(_INSERT_ENTRY, entry)


_INSERT_ENTRY = insert(_PENDING)


@dataclass
class Call:
    """An audited API or page call: what its entries say, and whether a commit carried them."""

    actor: Actor
    action: str
    object_type: str
    object_id: object = None
    created: list[object] = field(default_factory=list)  # ids of the transfers it created
    wrote: bool = False  # the open transaction changed something
    adding: bool = False
    recorded: bool = False  # a committed change carries the call's entry
    listed: bool = False  # the statement that read the objects it lists wrote their entries
    entered: bool = False  # the open transaction's entry was written by the statement that wrote


def _changes(session: Session) -> Iterator[object]:
    yield from (*session.new, *session.dirty, *session.deleted)


_CALL = "mdph_bridge.audit.call"  # the call a session's changes are recorded for, if any


# A listing's entries, written by the statement that reads what it lists (PostgreSQL, a driver's
# statement): one per row of its `page`, named by the row's `uid` text, as `record_call` writes
# them for a call answered 200. For the statement's `WITH`, beside `page AS (…)`.
LISTED_ENTRIES = (
    "INSERT INTO audit_pending (at, actor, role, departement, action, object_type, object_id,"
    " outcome, client) SELECT %(audit_at)s, %(audit_actor)s, %(audit_role)s,"
    " %(audit_departement)s, %(audit_action)s, %(audit_object_type)s, uid, '200', NULL FROM page"
)


def listing(session: Session) -> dict[str, Any] | None:
    """The values of `LISTED_ENTRIES` for the call the session records (None outside a call);
    the call is then listed: its answer, if 200, needs no entry of its own."""
    call: Call | None = session.info.get(_CALL)
    if call is None:
        return None
    call.listed = True
    return _entry_params(call)


def _text(object_id: object) -> str | None:
    """An object's id as the entry names it."""
    return None if object_id is None else str(object_id)


def _entry_params(call: Call) -> dict[str, Any]:
    """The fields an entry of the call shares, named as the statements that carry it bind them."""
    actor = call.actor
    return {
        "audit_at": utcnow(),
        "audit_actor": actor.id,
        "audit_role": actor.role,
        "audit_departement": actor.departement,
        "audit_action": call.action,
        "audit_object_type": call.object_type,
    }


# The columns an entry of a call shares with the call's other entries (`_entry_params`).
_SHARED_COLUMNS = ("at", "actor", "role", "departement", "action", "object_type")


def entry_insert(object_id: ColumnElement[Any]) -> Insert:
    """The call's entry as an insert a statement that writes carries (a CTE beside its own, on
    PostgreSQL), naming `object_id` unless the call names its object; bound by `entry_values`."""
    return insert(_PENDING).from_select(
        [*_SHARED_COLUMNS, "object_id", "outcome", "client"],
        select(
            *(bindparam(f"audit_{n}", type_=_PENDING.c[n].type) for n in _SHARED_COLUMNS),
            func.coalesce(
                bindparam("audit_object_id", type_=String()), sql_cast(object_id, String)
            ),
            literal("ok", String()),
            null(),
        ),
    )


def system_entry_insert(
    at: ColumnElement[datetime], action: str, object_id: ColumnElement[Any], outcome: str
) -> Insert:
    """`record`'s entry of the hub itself on a transfer, as an insert a statement that moves the
    transfer carries (a CTE beside its own, on PostgreSQL): written only for the rows it moved."""
    return insert(_PENDING).from_select(
        ["at", "actor", "role", "departement", "action", "object_type", "object_id", "outcome"],
        select(
            at,
            literal(SYSTEM.id, String()),
            literal(SYSTEM.role, String()),
            literal(SYSTEM.departement, String()),
            literal(action, String()),
            literal("transfer", String()),
            sql_cast(object_id, String),
            literal(outcome, String()),
        ),
    )


def entry_values(session: Session) -> dict[str, Any] | None:
    """The parameters of `entry_insert` for the call the session records, None outside a call.

    The statement that carries the entry writes it, as `record` would at the commit: the commit
    then adds no other one for the call, a round trip fewer.
    """
    call: Call | None = session.info.get(_CALL)
    if call is None:
        return None
    call.wrote = call.entered = True
    return {**_entry_params(call), "audit_object_id": _text(call.object_id)}


def note_created(session: Session, transfer_id: object) -> None:
    """Name a transfer inserted by Core (no ORM object to see) as what the call created."""
    call: Call | None = session.info.get(_CALL)
    if call is not None:
        call.created.append(transfer_id)


def note_committed_alone(session: Session) -> None:
    """The call's statement committed alone, outside the session, with its entry (`entry_values`):
    the call is recorded, as the commit's hooks would say."""
    call: Call | None = session.info.get(_CALL)
    if call is not None:
        call.recorded = call.recorded or call.entered
        call.wrote = call.adding = call.entered = False
        call.created.clear()


@contextmanager
def recorded_with_changes(session: Session, call: Call) -> Iterator[Call]:
    """Add the call's entry to each commit of the block that changes something."""
    session.info[_CALL] = call
    try:
        yield call
    finally:
        session.info.pop(_CALL, None)


# The hooks below serve every session, registered once: a session outside a call (a worker's,
# the CLI's) costs them a dictionary lookup, and a call registers nothing.


def _changed(session: Session, call: Call) -> None:
    """Note what is flushed now, or about to be by the commit."""
    for obj in _changes(session):
        call.wrote = True
        if isinstance(obj, Transfer) and obj in session.new:
            call.created.append(obj.id)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    if (call := session.info.get(_CALL)) is not None:
        _changed(session, call)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if (call := state.session.info.get(_CALL)) is not None and (
        state.is_insert or state.is_update or state.is_delete
    ):
        call.wrote = True


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if (call := session.info.get(_CALL)) is None:
        return
    _changed(session, call)
    if call.wrote:
        if not call.entered:  # else the statement that wrote carried the entry
            oid = call.object_id or (call.created[0] if call.created else None)
            record(session, call.actor, call.action, call.object_type, oid)
        call.adding = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if (call := session.info.get(_CALL)) is not None:
        call.recorded = call.recorded or call.adding
        call.wrote = call.adding = call.entered = False
        call.created.clear()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if (call := session.info.get(_CALL)) is not None:
        call.wrote = call.adding = call.entered = False
        call.created.clear()


def _lock_chain(session: Session) -> AuditChain:
    """Take the chain's row for this transaction: a second sequencer waits here, never forks."""
    if session.get_bind().dialect.name == "postgresql":
        # A frozen sequencer must not hold another one forever: give up, the next run retries.
        session.execute(text("SET LOCAL lock_timeout = '10s'"))
    chain = session.get(AuditChain, CHAIN_ID, with_for_update=True, populate_existing=True)
    if chain is None:
        chain = AuditChain(
            id=CHAIN_ID, last_seq=0, last_hash=GENESIS, anchor_seq=0, anchor_hash=GENESIS
        )
        session.add(chain)
    return chain


# One round trip takes a batch off the pending table (the chain's lock keeps other sequencers out).
_TAKE = (
    delete(_PENDING)
    .where(_PENDING.c.id.in_(select(_PENDING.c.id).order_by(_PENDING.c.id).limit(bindparam("n"))))
    .returning(_PENDING.c.id, *(_PENDING.c[name] for name in CONTENT))
)
SEALED = ("seq", *CONTENT, "prev_hash", "hash")
# PostgreSQL: the batch goes in by COPY on the session's own connection (same transaction).
_COPY_SEALED = f"COPY audit_entries ({', '.join(SEALED)}) FROM STDIN"


def _chained(chain: AuditChain, taken: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Number and hash each taken entry (id first, then CONTENT) after the chain's head."""
    sealed, seq, head = [], chain.last_seq, chain.last_hash
    for row in taken:
        seq, prev = seq + 1, head
        head = link(prev, _leaf([seq, *row[1:]]))
        sealed.append((seq, *row[1:], prev, head))
    chain.last_seq, chain.last_hash = seq, head
    return sealed


def _seal_pending(session: Session, chain: AuditChain, limit: int) -> int:
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        sealed = _chained(chain, sorted(connection.execute(_TAKE, {"n": limit})))
        if sealed:
            connection.execute(
                insert(_ENTRIES), [dict(zip(SEALED, e, strict=True)) for e in sealed]
            )
        return len(sealed)
    # The driver's rows and COPY: no result processing or bind rendering per row (half the CPU).
    driver: Any = connection.connection.driver_connection  # psycopg's connection, for COPY
    cursor = driver.cursor()
    statement = _TAKE.compile(dialect=connection.dialect)
    cursor.execute(str(statement), statement.construct_params({"n": limit}))
    taken = sorted((i, at.astimezone(UTC), *rest) for i, at, *rest in cursor.fetchall())
    sealed = _chained(chain, taken)
    if sealed:
        with cursor.copy(_COPY_SEALED) as copy:
            for row in sealed:
                copy.write_row(row)
    return len(sealed)


def _checkpoint(
    session: Session, signer: HubSigner, chain: AuditChain, now: datetime
) -> AuditCheckpoint:
    state = Checkpoint(chain.last_seq, chain.last_hash, now, chain.anchor_seq, chain.anchor_hash)
    key = signer.keys[0]
    row = AuditCheckpoint(
        size=state.size,
        head=state.head,
        at=now,
        anchor_size=state.anchor_size,
        note=sign(state, key.key_id, key.secret),
    )
    session.add(row)
    return row


def seal(
    session: Session, signer: HubSigner, limit: int = BATCH, now: datetime | None = None
) -> int:
    """Seal up to `limit` pending entries, in the order they became visible; sign a checkpoint."""
    chain = _lock_chain(session)
    count = _seal_pending(session, chain, limit)
    if count:
        _checkpoint(session, signer, chain, now or utcnow())
        session.commit()
    else:
        session.rollback()
    return count


def seal_all(session: Session, signer: HubSigner, now: datetime | None = None) -> int:
    """Seal the pending entries, batch after batch, until a batch is not full.

    Entries added meanwhile wait for the next round: under a steady stream of calls, a round
    signs one checkpoint for everything pending, not one for every few entries that arrived
    while the last was sealed.
    """
    total = 0
    while count := seal(session, signer, BATCH, now):
        total += count
        if count < BATCH:
            break
    return total


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    """The newest signed checkpoint, if the log was ever sealed."""
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    return session.scalar(query)


def leaves(session: Session, after: int, upto: int) -> list[str] | None:
    """The leaf hashes of entries after+1..upto, which prove upto's head extends after's."""
    query = select(AuditEntry).where(AuditEntry.seq > after, AuditEntry.seq <= upto)
    rows = list(session.scalars(query.order_by(AuditEntry.seq)))
    if len(rows) != upto - after:
        return None  # purged (or missing): no proof
    return [leaf_hash({name: getattr(row, name) for name in FIELDS}) for row in rows]


def lag_seconds(session: Session, now: datetime | None = None) -> float:
    """How long the oldest entry has waited to be sealed (0 when none waits)."""
    oldest = session.scalar(select(func.min(AuditPending.at)))
    return max(0.0, ((now or utcnow()) - oldest).total_seconds()) if oldest else 0.0


# One entry: its values, nothing for PostgreSQL to parse (a refusal's, a transfer's read).
_INSERT_ONE = (
    "INSERT INTO audit_pending (at, actor, role, departement, action, object_type, object_id,"
    " outcome, client) VALUES (%(at)s, %(actor)s, %(role)s, %(departement)s, %(action)s,"
    " %(object_type)s, %(object_id)s, %(outcome)s, %(client)s)"
)
# An entry per object id, the other fields shared. The ids go as one JSON text: psycopg quotes a
# list's items one by one, 4× the client's CPU for a page of 100 (docs/PERFORMANCE.md). The
# driver's own statement (PostgreSQL): nothing for SQLAlchemy to compile or bind.
_INSERT_EACH = (
    "INSERT INTO audit_pending (at, actor, role, departement, action, object_type, object_id,"
    " outcome, client) SELECT %(at)s, %(actor)s, %(role)s, %(departement)s, %(action)s,"
    " %(object_type)s, jsonb_array_elements_text(CAST(%(ids)s AS jsonb)), %(outcome)s, %(client)s"
)


def record_call(
    session: Session,
    call: Call,
    outcome: str,
    object_ids: Iterable[object],
    client: str | None = None,
    keep_work: bool = True,
) -> None:
    """Record a call no committed change carried, one entry per object it read, durably.

    With `keep_work`, the entries join the session's transaction, which is committed. Without it
    (a refused or failed call), whatever the view left is rolled back first: nothing of it is
    kept but its entries (on PostgreSQL, one autocommitted statement outside the session).
    """
    bind = cast(Engine, session.get_bind())
    postgresql = bind.dialect.name == "postgresql"
    if not keep_work:
        session.rollback()
    entry = {
        "at": utcnow(),
        "actor": call.actor.id,
        "role": call.actor.role,
        "departement": call.actor.departement,
        "action": call.action,
        "object_type": call.object_type,
        "outcome": outcome,
        "client": client,
    }
    ids = list(object_ids)
    if postgresql:
        statement, params = _INSERT_ONE, {**entry, "object_id": _text(ids[0]) if ids else None}
        if len(ids) != 1:
            # One statement of constant text for a page of a hundred: compiled and prepared
            # once. orjson writes a UUID or a number as `str` does, in C (ids are never booleans).
            statement = _INSERT_EACH
            params = {**entry, "ids": orjson.dumps(ids, default=str).decode()}
        if not keep_work:  # a transaction of its own: one statement, no BEGIN or COMMIT, and
            # none of the session's or SQLAlchemy's bookkeeping
            autocommitted(bind, statement, params)
            return
        session.connection().exec_driver_sql(statement, params)
    elif ids:
        rows = [{**entry, "object_id": _text(i)} for i in ids]
        session.execute(insert(_PENDING), rows)
    session.commit()


@dataclass(frozen=True)
class Verification:
    """The outcome of a check: how many entries were read, and the first problem if any."""

    checked: int
    bad_seq: int | None = None
    problem: str | None = None
    pending: int = 0  # entries not sealed yet: no checkpoint covers them

    @property
    def ok(self) -> bool:
        """Tell whether the log holds everything it should."""
        return self.problem is None


def _trusted_anchor(
    session: Session, publics: Mapping[str, str] | None
) -> tuple[int, str, str | None]:
    """The anchor the latest signed purge checkpoint names, or a problem."""
    if publics is None:
        return 0, GENESIS, None
    query = select(AuditCheckpoint).where(AuditCheckpoint.anchor_size > 0)
    row = session.scalar(query.order_by(AuditCheckpoint.id.desc()).limit(1))
    if row is None:
        return 0, GENESIS, None
    try:
        purge = open_note(row.note, publics)
    except CheckpointError:
        return 0, GENESIS, "point de contrôle de purge non signé par la plateforme"
    return purge.anchor_size, purge.anchor_head, None


def verify(
    session: Session,
    publics: Mapping[str, str] | None = None,
    checkpoints: tuple[Checkpoint, ...] = (),
) -> Verification:
    """Walk the chain from the purge anchor; check it against the signed checkpoints given.

    With the hub's public keys, the anchor must be the one a signed purge checkpoint named and the
    newest stored checkpoint must still be covered; each checkpoint given (kept outside the
    database) must still be covered too.
    """
    session.expire_all()  # check what the database holds now, not what this session remembers
    pending = session.scalar(select(func.count()).select_from(AuditPending)) or 0
    chain = session.get(AuditChain, CHAIN_ID)
    if chain is None:
        first = session.scalar(select(func.min(AuditEntry.seq)))
        if first is None:
            return Verification(0, pending=pending)
        return Verification(0, first, "la tête de la chaîne a disparu", pending)
    anchor_seq, anchor_hash, problem = _trusted_anchor(session, publics)
    if problem:
        return Verification(0, None, problem, pending)
    if publics is not None and (chain.anchor_seq, chain.anchor_hash) != (anchor_seq, anchor_hash):
        problem = "entrées supprimées au début du journal hors purge signée"
        return Verification(0, anchor_seq + 1, problem, pending)
    wanted = list(checkpoints)
    if publics is not None and (stored := latest_checkpoint(session)) is not None:
        try:
            wanted.append(open_note(stored.note, publics))
        except CheckpointError:
            return Verification(0, None, "point de contrôle enregistré non signé", pending)
    heads: dict[int, str] = {cp.size: "" for cp in wanted}
    result = _walk(session, chain, heads)
    if result.ok:
        result = _covers(result, wanted, heads, chain)
    return Verification(result.checked, result.bad_seq, result.problem, pending)


def _walk(session: Session, chain: AuditChain, heads: dict[int, str]) -> Verification:
    query = select(AuditEntry).order_by(AuditEntry.seq)
    rows = session.scalars(query.execution_options(yield_per=1000))
    expected, prev, checked = chain.anchor_seq + 1, chain.anchor_hash, 0
    try:
        for entry in rows:
            if entry.seq != expected:
                if entry.seq < expected:
                    return Verification(checked, entry.seq, "entrée antérieure à l'ancre de purge")
                return Verification(checked, expected, "entrée supprimée")
            if entry.prev_hash != prev:
                problem = "ne suit pas l'entrée précédente (ordre changé ou précédente remplacée)"
                return Verification(checked, entry.seq, problem)
            fields = {name: getattr(entry, name) for name in FIELDS}
            if link(prev, leaf_hash(fields)) != entry.hash:
                return Verification(checked, entry.seq, "entrée modifiée")
            prev, expected, checked = entry.hash, expected + 1, checked + 1
            if entry.seq in heads:
                heads[entry.seq] = entry.hash
    finally:
        rows.close()  # a server-side cursor, left open by an early return
    if expected - 1 != chain.last_seq or prev != chain.last_hash:
        return Verification(checked, expected, "entrée supprimée (fin de la chaîne)")
    return Verification(checked)


def _covers(
    result: Verification, wanted: list[Checkpoint], heads: dict[int, str], chain: AuditChain
) -> Verification:
    for cp in sorted(wanted, key=lambda c: -c.size):
        if cp.size <= chain.anchor_seq:
            continue  # everything it covered was purged past retention, under a signed purge
        if cp.size > chain.last_seq:
            problem = (
                f"journal raccourci ou revenu en arrière : le point de contrôle du "
                f"{cp.at:%d/%m/%Y %H:%M} couvre {cp.size} entrée(s), il n'en reste que "
                f"{chain.last_seq}"
            )
            return Verification(result.checked, chain.last_seq + 1, problem)
        if heads.get(cp.size) != cp.head:
            problem = (
                f"le journal ne contient plus ce que couvrait le point de contrôle du "
                f"{cp.at:%d/%m/%Y %H:%M} (entrée modifiée, supprimée ou déplacée avant elle)"
            )
            return Verification(result.checked, cp.size, problem)
    return result


def entries(
    session: Session, since: datetime | None = None, until: datetime | None = None
) -> Iterator[AuditEntry]:
    """Yield the sealed entries recorded in [since, until), in chain order."""
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
        "client": entry.client,
        "empreinte_precedente": entry.prev_hash,
        "empreinte": entry.hash,
    }


def purge(
    session: Session, signer: HubSigner, before: datetime, now: datetime | None = None
) -> int:
    """Delete the sealed entries older than `before` and sign a purge checkpoint naming the anchor.

    Runs as the sequencer (it holds the chain's row), so it seals what is pending first.
    """
    now = now or utcnow()
    if before > now - timedelta(days=MIN_AUDIT_RETENTION_DAYS):
        raise ValueError(f"audit entries are kept at least {MIN_AUDIT_RETENTION_DAYS} days")
    chain = _lock_chain(session)
    _seal_pending(session, chain, BATCH)
    last = session.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.at < before))
    if last is None:
        session.commit()
        return 0
    anchor_hash = session.execute(
        select(AuditEntry.hash).where(AuditEntry.seq == last)
    ).scalar_one()
    doomed = delete(AuditEntry).where(AuditEntry.seq <= last)
    result = session.execute(doomed.execution_options(synchronize_session=False))
    deleted: int = cast(CursorResult[Any], result).rowcount
    chain.anchor_seq, chain.anchor_hash = last, anchor_hash
    record(session, SYSTEM, "audit.purge", "audit", last, "ok", now)
    session.flush()
    _seal_pending(session, chain, BATCH)
    _checkpoint(session, signer, chain, now)
    session.commit()
    return deleted


def publics_of(signer: HubSigner) -> dict[str, str]:
    """The hub's public keys by id, to check its checkpoints."""
    return {key.key_id: key.public for key in signer.keys}
