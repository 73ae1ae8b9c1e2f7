"""Process a transfer in a worker: claim it, check it again, package and encrypt it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, cast

import orjson
from marshmallow import ValidationError
from psycopg.types.json import Json
from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    CursorResult,
    Engine,
    Table,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from mdph_bridge.blobpaths import (
    attempt_package,
    attempt_prefix,
    package_folder,
    staged_dossier,
    staged_piece,
    staging_folder,
)
from mdph_bridge.domain.filenames import safe_name, with_type_extension
from mdph_bridge.domain.filetypes import EXTENSIONS
from mdph_bridge.domain.manifest import manifest, part
from mdph_bridge.domain.rulesets import RuleBook
from mdph_bridge.domain.sealing import Keyring, SealReader, unseal
from mdph_bridge.domain.signing import HubSigner
from mdph_bridge.domain.states import State
from mdph_bridge.models import Departement, Transfer, TransferDocument, utcnow
from mdph_bridge.services.audit import CLI, SYSTEM, record, system_entry_insert
from mdph_bridge.services.driver import (
    DriverStatement,
    autocommitted,
    in_session_transaction,
)
from mdph_bridge.services.harmonisation import aid_problems, mapping, report_entries
from mdph_bridge.services.keys import destination_problems, keys_by_usage
from mdph_bridge.services.packaging import Entry, Package, build_package, json_entry
from mdph_bridge.services.queue import wake_after_commit
from mdph_bridge.services.staging import drop_unneeded_staging, open_staged
from mdph_bridge.services.submission import load_staged_dossier
from mdph_bridge.services.sweeper import documents_sizes, remove_attempts
from mdph_bridge.services.transitions import NO_DETAIL, TRANSFERS, add_event, event_cte, move
from mdph_bridge.services.watermarks import raise_watermark
from mdph_bridge.storage import Storage
from schemas.dossier import has_medical_content
from schemas.errors import error, flatten, for_storage

log = logging.getLogger(__name__)
ACTOR = "worker"
AUDIT_ACTION = "transfer.process"  # the audit action of the worker's outcomes (not the task)
OUTCOMES = (State.READY, State.REJECTED, State.FAILED)
DOCUMENTS = cast(Table, TransferDocument.__table__)
DEPARTEMENTS = cast(Table, Departement.__table__)


@dataclass(frozen=True)
class Limits:
    """How long a worker may hold a transfer and how many attempts it gets."""

    lease: timedelta
    max_attempts: int


class AttemptFailedError(Exception):
    """Processing failed in a way another attempt may fix; the transfer was released."""


@dataclass(frozen=True)
class Claimed:
    """A transfer taken for one attempt: the lease token and what packaging needs of its row."""

    token: str
    origin_code: str
    dest_code: str
    documents: list[Document]
    dossier_sha256: str | None  # of the staged dossier as validated; None if staged before 0015
    sealed_dossier: bytes | None  # the staged dossier, sealed; None if staged before 0018 (a file)


@dataclass(frozen=True)
class Document:
    """One staged document, as recorded at submission."""

    position: int
    mime: str
    size: int


def claim(session: Session, transfer_id: uuid.UUID, limits: Limits) -> Claimed | None:
    """Take the transfer for processing, in one commit; None if there is nothing to do.

    A received transfer (the usual case) is taken by one `UPDATE … RETURNING` (on PostgreSQL
    with its event and the documents read in the same statement); a transfer whose lease expired
    or whose attempts are spent goes through the slower path that reads it first.
    """
    now = utcnow()
    token = uuid.uuid4().hex
    params = {"transfer_id": transfer_id, "max": limits.max_attempts, "now": now, "token": token}
    params["until"] = now + limits.lease
    if _on_postgresql(session):
        return _claim_in_one_statement(session, transfer_id, limits, token, now, params)
    taken = session.execute(_CLAIM, params).first()
    if taken is None:
        return _claim_slowly(session, transfer_id, limits, token, now)
    source, target = State.RECEIVED.value, State.VALIDATING.value
    add_event(session, transfer_id, now, source, target, ACTOR, {"tentative": taken.attempts})
    return _claimed(session, transfer_id, token, taken)


def _claim_in_one_statement(
    session: Session,
    transfer_id: uuid.UUID,
    limits: Limits,
    token: str,
    now: datetime,
    params: dict[str, Any],
) -> Claimed | None:
    """The usual claim on PostgreSQL: the update, its event and the documents read in one
    statement (data-modifying CTEs), committed before anything else runs (the slower path too)."""
    rows = _committed_alone(session, _CLAIM_WITH_EVENT, params)
    if not rows:
        return _claim_slowly(session, transfer_id, limits, token, now)
    _, origin, dest, dossier_sha256, sealed = rows[0][:5]
    documents = [Document(*row[5:]) for row in rows if row[5] is not None]
    return Claimed(token, origin, dest, documents, dossier_sha256, sealed)


def _committed_alone(
    session: Session, statement: DriverStatement, values: dict[str, Any]
) -> list[Any]:
    """Run one statement on the driver and commit it; alone in its transaction, in autocommit.

    A statement alone needs no `BEGIN` nor `COMMIT`: in autocommit PostgreSQL commits it as it
    ends, durable when it returns as a commit is, two round trips fewer; the session holds no
    connection meanwhile. In a transaction under way (a caller's reads), the statement joins
    it, as it did before, and the session commits it.
    """
    bind = cast(Engine, session.get_bind())
    compiled = statement.compiled(bind.dialect)
    if not session.in_transaction():
        return autocommitted(bind, compiled.sql, compiled.params(values))
    rows = in_session_transaction(session, compiled, values)
    session.commit()
    return rows


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lease_free(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return or_(TRANSFERS.c.lease_until.is_(None), TRANSFERS.c.lease_until <= now)


_NOW = bindparam("now", type_=TRANSFERS.c.state_changed_at.type)
# The usual claim, built once (Core, bound parameters): a received transfer, lease free.
_CLAIM = (
    update(TRANSFERS)
    .where(
        TRANSFERS.c.id == bindparam("transfer_id"),
        TRANSFERS.c.state == State.RECEIVED.value,
        TRANSFERS.c.attempts < bindparam("max"),
        _lease_free(_NOW),
    )
    .values(
        state=State.VALIDATING.value,
        state_changed_at=_NOW,
        lease_token=bindparam("token"),
        lease_until=bindparam("until", type_=TRANSFERS.c.lease_until.type),
        attempts=TRANSFERS.c.attempts + 1,
    )
    .returning(
        TRANSFERS.c.id,
        TRANSFERS.c.attempts,
        TRANSFERS.c.origin_code,
        TRANSFERS.c.dest_code,
        TRANSFERS.c.dossier_sha256,
        TRANSFERS.c.sealed_dossier,
    )
)
# What packaging needs of the row, as the claim returns it.
_TAKEN = select(
    TRANSFERS.c.origin_code,
    TRANSFERS.c.dest_code,
    TRANSFERS.c.dossier_sha256,
    TRANSFERS.c.sealed_dossier,
).where(TRANSFERS.c.id == bindparam("id"))
_DOCUMENTS = (
    select(DOCUMENTS.c.position, DOCUMENTS.c.mime, DOCUMENTS.c.size)
    .where(DOCUMENTS.c.transfer_id == bindparam("id"))
    .order_by(DOCUMENTS.c.position)
)


def _event_of(moved: Any, source: State, target: State, detail: ColumnElement[Any]) -> CTE:
    """The worker's event of a transfer a CTE moved, written by the same statement."""
    literals = (literal(source.value), literal(target.value), literal(ACTOR))
    return event_cte(f"{target.value}_event", moved.c.id, _NOW, *literals, detail)


# The usual claim on PostgreSQL, one statement: the claim, its event, the documents to package;
# run by the driver (`services/driver.py`), its rows read by position.
_CLAIMED = _CLAIM.cte("claimed")
_CLAIM_WITH_EVENT = DriverStatement(
    select(
        _CLAIMED.c.attempts,
        _CLAIMED.c.origin_code,
        _CLAIMED.c.dest_code,
        _CLAIMED.c.dossier_sha256,
        # The sealed dossier on the first row only (positions start at 0; none: no document),
        # not sent again with each document's row.
        case((func.coalesce(DOCUMENTS.c.position, 0) == 0, _CLAIMED.c.sealed_dossier)),
        DOCUMENTS.c.position,
        DOCUMENTS.c.mime,
        DOCUMENTS.c.size,
    )
    .select_from(_CLAIMED.outerjoin(DOCUMENTS, DOCUMENTS.c.transfer_id == _CLAIMED.c.id))
    .order_by(DOCUMENTS.c.position)
    .add_cte(
        _event_of(
            _CLAIMED,
            State.RECEIVED,
            State.VALIDATING,
            func.json_build_object("tentative", _CLAIMED.c.attempts),
        )
    )
)
_READY_COLUMNS = (
    "inbound_seq",
    "package_key",
    "package_size",
    "package_sha256",
    "package_key_ids",
    "medical_package_key",
    "medical_package_size",
    "medical_package_sha256",
    "medical_package_key_ids",
    "manifest",
    "harmonisation",
)
# Its JSON columns: on PostgreSQL their values are written by orjson (`_as_json`).
_READY_JSON = ("package_key_ids", "medical_package_key_ids", "manifest", "harmonisation")
# The usual end of an attempt, built once: `ready` (its milestone too) if the lease is still ours.
_READY_WHERE = (
    TRANSFERS.c.id == bindparam("transfer_id"),
    TRANSFERS.c.state == State.VALIDATING.value,
    TRANSFERS.c.lease_token == bindparam("token"),
)
_READY_VALUES: dict[str, Any] = {
    "state": State.READY.value,
    "state_changed_at": _NOW,
    "ready_at": _NOW,
    "lease_token": None,
    "lease_until": None,
    "dossier_sha256": None,  # only the worker needs it, and only until `ready`
    "sealed_dossier": None,  # packaged: the staged dossier is no longer needed
}
_READY = (
    update(TRANSFERS)
    .where(*_READY_WHERE)
    .values(
        **_READY_VALUES,
        **{name: bindparam(f"b_{name}", type_=TRANSFERS.c[name].type) for name in _READY_COLUMNS},
    )
)
_NEXT_SEQ = (
    update(DEPARTEMENTS)
    .where(DEPARTEMENTS.c.code == bindparam("dest"))
    .values(inbound_seq=DEPARTEMENTS.c.inbound_seq + 1)
    .returning(DEPARTEMENTS.c.inbound_seq)
)
# The usual end of an attempt on PostgreSQL, one statement in autocommit: the destination's next
# position, `ready` with that position, and the event. PostgreSQL does not promise in which
# order a statement's data-modifying parts lock their rows; none is needed: only this statement
# locks a destination's row, and each locks one transfer besides, its own. The destination's row
# lock, held until the statement commits, makes its positions visible in order.
# With no transaction to roll back, the position is taken only if the lease is still ours in the
# statement's snapshot. One race remains: a takeover (another attempt claiming the transfer once
# this one's lease expired) committed after that snapshot; the move then re-checks the newer row
# and moves nothing, and the position is taken for no transfer. A gap is harmless: pollers page
# by `inbound_seq > after`, the watermark is raised only for a moved transfer, and the last
# position read from PostgreSQL is the transfers' own.
_LEASE_OURS = select(TRANSFERS.c.id).where(*_READY_WHERE).exists()
_SEQ = _NEXT_SEQ.where(_LEASE_OURS).cte("seq")
_READY_MOVED = (
    update(TRANSFERS)
    .where(*_READY_WHERE)
    .values(
        **_READY_VALUES,
        inbound_seq=select(_SEQ.c.inbound_seq).scalar_subquery(),
        **{
            f: bindparam(f"b_{f}", type_=TRANSFERS.c[f].type)
            for f in _READY_COLUMNS
            if f != "inbound_seq"
        },
    )
    .returning(TRANSFERS.c.id, TRANSFERS.c.inbound_seq)
    .cte("moved")
)
# The audit entry rides in it too: the hub's own writes are audited in the same commit. Run by
# the driver (`services/driver.py`) in autocommit, outside the session.
_READY_WITH_EVENT = DriverStatement(
    select(_READY_MOVED.c.inbound_seq).add_cte(
        _event_of(_READY_MOVED, State.VALIDATING, State.READY, NO_DETAIL),
        system_entry_insert(_NOW, AUDIT_ACTION, _READY_MOVED.c.id, State.READY.value).cte("entry"),
    ),
    given=[f"b_{name}" for name in _READY_JSON],
)


def _claimed(session: Session, transfer_id: uuid.UUID, token: str, taken: Any) -> Claimed:
    """Read the documents in the claim's transaction, then commit it: one commit per claim.

    `taken` is what the claim read of the row it took (returned by the update, or read after it).
    """
    origin, dest, digest, sealed = (
        taken.origin_code,
        taken.dest_code,
        taken.dossier_sha256,
        taken.sealed_dossier,
    )
    documents = [Document(*row) for row in session.execute(_DOCUMENTS, {"id": transfer_id})]
    session.commit()
    return Claimed(token, origin, dest, documents, digest, sealed)


def _claim_slowly(
    session: Session, transfer_id: uuid.UUID, limits: Limits, token: str, now: datetime
) -> Claimed | None:
    """Retake a transfer whose lease expired, or fail it once its attempts are spent.

    The row is read under its lock: the attempts counted against `max_attempts` and numbered in
    the event are those the update then increments, not a value another attempt changed since.
    """
    transfer = session.get(Transfer, transfer_id, populate_existing=True, with_for_update=True)
    if transfer is None or transfer.state not in (State.RECEIVED, State.VALIDATING):
        session.rollback()
        return None
    if transfer.lease_until is not None and transfer.lease_until > now:
        session.rollback()
        return None
    state = State(transfer.state)
    if transfer.attempts >= limits.max_attempts:
        problems = [error("", "traitement.echec")]
        move_failed = _move(session, transfer_id, state, State.FAILED, problems=problems)
        session.commit()
        if move_failed:
            log.error("transfer %s failed after %d attempts", transfer_id, transfer.attempts)
        return None
    claimed = _move(
        session,
        transfer_id,
        state,
        State.VALIDATING,
        guard=[_lease_free(now)],
        detail={"tentative": transfer.attempts + 1},
        lease_token=token,
        lease_until=now + limits.lease,
        attempts=TRANSFERS.c.attempts + 1,
    )
    if not claimed:
        session.commit()
        return None
    # What packaging needs, under the row lock taken above (the sealed dossier is not loaded
    # with the row: only a claim that moved it needs it).
    taken = session.execute(_TAKEN, {"id": transfer_id}).one()
    return _claimed(session, transfer_id, token, taken)


def _move(
    session: Session, transfer_id: uuid.UUID, source: State, target: State, **kwargs: Any
) -> bool:
    moved = move(session, transfer_id, [source], target, ACTOR, **kwargs) is not None
    if moved and target in OUTCOMES:  # the hub's own writes are audited too, in the same commit
        record(session, SYSTEM, AUDIT_ACTION, "transfer", transfer_id, target.value)
    return moved


def process_transfer(
    session: Session,
    storage: Storage,
    keyring: Keyring,
    signer: HubSigner,
    rules: RuleBook,
    limits: Limits,
    transfer_id: uuid.UUID,
) -> State | None:
    """Run one processing attempt; return the state reached, or None if there was nothing to do."""
    claimed = claim(session, transfer_id, limits)
    if claimed is None:
        return None
    token = claimed.token
    prefix = attempt_prefix(transfer_id, token)
    try:
        reached = _check_and_package(
            session, storage, keyring, signer, rules, transfer_id, claimed, prefix
        )
    except Exception as exc:
        # The packages of this attempt are left to the orphan sweeper: deleting them here could
        # destroy a package whose `ready` commit reached the database before the error.
        session.rollback()
        _release(session, transfer_id, token, type(exc).__name__)
        log.warning("transfer %s attempt failed: %s", transfer_id, type(exc).__name__)
        raise AttemptFailedError(type(exc).__name__) from exc
    if reached == State.READY:
        _drop_leftovers(storage, transfer_id, claimed, keep=prefix)
    return reached


def _release(session: Session, transfer_id: uuid.UUID, token: str, reason: str) -> None:
    try:
        _move(
            session,
            transfer_id,
            State.VALIDATING,
            State.RECEIVED,
            guard=[TRANSFERS.c.lease_token == token],
            detail={"erreur": reason},
            lease_token=None,
            lease_until=None,
        )
        session.commit()
    except Exception:
        session.rollback()
        log.warning("transfer %s could not be released; its lease will expire", transfer_id)


def _load_dossier(
    storage: Storage, keyring: Keyring, transfer_id: uuid.UUID, claimed: Claimed
) -> bytes:
    """The staged dossier's plaintext, from the sealed bytes the claim returned; from its file
    for a transfer staged before migration 0018 (kept for those: nothing rewrites them)."""
    if claimed.sealed_dossier is not None:
        return unseal(claimed.sealed_dossier, keyring)
    with open_staged(storage, staged_dossier(transfer_id)) as blob:
        return SealReader(blob, keyring).read()


def _check_and_package(
    session: Session,
    storage: Storage,
    keyring: Keyring,
    signer: HubSigner,
    rules: RuleBook,
    transfer_id: uuid.UUID,
    claimed: Claimed,
    prefix: str,
) -> State | None:
    token = claimed.token
    raw = _load_dossier(storage, keyring, transfer_id, claimed)
    try:
        dossier = load_staged_dossier(raw, claimed.dossier_sha256)
        keys = keys_by_usage(session, dossier["transfert"]["mdph_destination"])
        problems = destination_problems(session, dossier, keys) + aid_problems(rules, dossier)
    except ValidationError as exc:
        problems = flatten(exc.messages)
    if problems:
        return _reject(session, storage, transfer_id, token, problems)
    report, brief = mapping(rules, dossier)

    admin, medical = _split(storage, keyring, transfer_id, claimed.documents, dossier)
    # A correction keeps its destination: the dossier's is the transfer's.
    receivers = {k.id: k.public_key for k in keys["receiver"]}
    doctors = {k.id: k.public_key for k in keys["doctor"]}
    if session.in_transaction():  # the keys were read now, not taken from the process's copy
        session.commit()  # hold no transaction (nor SQLite's lock) while encrypting

    entries = [*admin, *report_entries(report)]
    with_medical = has_medical_content(dossier)
    # Both packages are named in one folder: the last one written flushes it, once for both.
    package = build_package(
        storage,
        attempt_package(prefix, "dossier.age"),
        receivers,
        entries,
        flush_folder=not with_medical,
    )
    medical_package: Package | None = None
    if with_medical:
        medical_package = build_package(
            storage, attempt_package(prefix, "medical.age"), doctors, medical
        )
    signed = _signed_manifest(
        signer, transfer_id, claimed, package, medical_package, report["versions_regles"]
    )
    if not _mark_ready(session, transfer_id, claimed, package, medical_package, signed, brief):
        log.info("transfer %s was taken over by another attempt", transfer_id)
        return None
    log.info("transfer %s ready for %s", transfer_id, claimed.dest_code)
    return State.READY


def _split(
    storage: Storage,
    keyring: Keyring,
    transfer_id: uuid.UUID,
    documents: list[Document],
    dossier: dict[str, Any],
) -> tuple[list[Entry], list[Entry]]:
    """Separate what the destination's agents may read from what only its doctors may (R146-41)."""
    admin_pieces: list[dict[str, Any]] = []
    medical_pieces: list[dict[str, Any]] = []
    admin_files: list[Entry] = []
    medical_files: list[Entry] = []
    for document, piece in zip(documents, dossier["pieces"], strict=True):
        safe = safe_name(document.position, piece["nom_fichier"])
        name = f"pieces/{with_type_extension(safe, EXTENSIONS[document.mime])}"
        blob_key = staged_piece(transfer_id, document.position)
        entry = Entry(name, document.size, _opener(storage, keyring, blob_key))
        (medical_pieces if piece["medical"] else admin_pieces).append({**piece, "fichier": name})
        (medical_files if piece["medical"] else admin_files).append(entry)
    admin_dossier = {
        key: value for key, value in dossier.items() if key not in ("evaluation_medicale", "pieces")
    }
    admin_dossier["pieces"] = admin_pieces
    medical_part = {"evaluation_medicale": dossier["evaluation_medicale"], "pieces": medical_pieces}
    return (
        [json_entry("dossier.json", admin_dossier), *admin_files],
        [json_entry("medical.json", medical_part), *medical_files],
    )


def _opener(
    storage: Storage, keyring: Keyring, key: str
) -> Callable[[], AbstractContextManager[BinaryIO]]:
    @contextmanager
    def open_plain() -> Iterator[BinaryIO]:
        with open_staged(storage, key) as blob:
            yield SealReader(blob, keyring)  # type: ignore[misc]

    return open_plain


def _signed_manifest(
    signer: HubSigner,
    transfer_id: uuid.UUID,
    claimed: Claimed,
    package: Package,
    medical: Package | None,
    rule_versions: list[str],
) -> dict[str, Any]:
    """Describe both envelopes and sign the description with the hub's current key."""
    parts = [
        part(
            name,
            f"{transfer_id}{suffix}.age",
            p.sha256,
            p.size,
            p.plain_sha256,
            p.plain_size,
            p.key_ids,
        )
        for name, suffix, p in (("dossier", "", package), ("medical", "-medical", medical))
        if p is not None
    ]
    body = manifest(
        str(transfer_id), claimed.origin_code, claimed.dest_code, utcnow(), parts, rule_versions
    )
    return {"manifeste": body, "signature": signer.sign(body)}


def _mark_ready(
    session: Session,
    transfer_id: uuid.UUID,
    claimed: Claimed,
    package: Package,
    medical: Package | None,
    signed_manifest: dict[str, Any],
    harmonisation: dict[str, Any],
) -> bool:
    """Move the transfer to `ready` as `_move` would, by the statements built once for it, and
    commit; False, with the transfer unmoved, if the lease was lost to another attempt.

    On PostgreSQL the position, the move, its event and its audit entry are one statement
    (data-modifying CTEs): three round trips fewer. It runs in autocommit on the driver, outside
    the session, which must hold no transaction (its locks would be waited for): no `BEGIN` nor
    `COMMIT`, two round trips fewer; committed, as durable as a commit, when it returns. The
    watermark is raised after it (`services/watermarks.py` says what a lag costs).
    """
    now = utcnow()
    values = {
        "package_key": package.key,
        "package_size": package.size,
        "package_sha256": package.sha256,
        "package_key_ids": package.key_ids,
        "medical_package_key": medical and medical.key,
        "medical_package_size": medical and medical.size,
        "medical_package_sha256": medical and medical.sha256,
        "medical_package_key_ids": medical and medical.key_ids,
        "manifest": signed_manifest,
        "harmonisation": harmonisation,
    }
    params = {f"b_{name}": value for name, value in values.items()}
    params |= {"transfer_id": transfer_id, "token": claimed.token, "now": now}
    params["dest"] = claimed.dest_code
    if _on_postgresql(session):
        bind = cast(Engine, session.get_bind())
        if session.in_transaction():  # usually none: the keys came from the process's copy
            session.commit()  # ends what the attempt read: no lock of it for `ready` to wait on
        compiled = _READY_WITH_EVENT.compiled(bind.dialect)
        params |= {f"b_{name}": _as_json(values[name]) for name in _READY_JSON}
        moved = autocommitted(bind, compiled.sql, compiled.params(params))
        if not moved:
            return False
        raise_watermark(session, claimed.dest_code, moved[0][0])
        return True
    seq = session.execute(_NEXT_SEQ, params).scalar_one()
    params["b_inbound_seq"] = seq
    if cast(CursorResult[Any], session.execute(_READY, params)).rowcount != 1:
        session.rollback()
        return False
    add_event(session, transfer_id, now, State.VALIDATING.value, State.READY.value, ACTOR)
    record(session, SYSTEM, AUDIT_ACTION, "transfer", transfer_id, State.READY.value)
    session.commit()
    raise_watermark(session, claimed.dest_code, seq)
    return True


def _as_json(value: Any) -> Json:
    """A JSON value as psycopg sends it, written by orjson: the standard library's encoder,
    which SQLAlchemy's JSON type has psycopg use, took ~10 µs for the manifest alone. The values
    are the hub's own (strings, integers, lists, objects), read back the same by either."""
    return Json(value, orjson.dumps)


def _reject(
    session: Session,
    storage: Storage,
    transfer_id: uuid.UUID,
    token: str,
    problems: list[dict[str, str]],
) -> State | None:
    rejected = _move(
        session,
        transfer_id,
        State.VALIDATING,
        State.REJECTED,
        guard=[TRANSFERS.c.lease_token == token],
        detail={"codes": sorted({p["code"] for p in problems})},
        lease_token=None,
        lease_until=None,
        dossier_sha256=None,  # a correction binds its own; the staging is shredded below
        sealed_dossier=None,
        problems=for_storage(problems),
    )
    session.commit()
    if not rejected:
        return None
    drop_unneeded_staging(session, storage, transfer_id)  # unless corrected meanwhile
    log.info("transfer %s rejected", transfer_id)
    return State.REJECTED


def _drop_leftovers(storage: Storage, transfer_id: uuid.UUID, claimed: Claimed, keep: str) -> None:
    """Shred the staging payload, by its keys: finding names in the one staging folder would
    read it whole. The other attempts' packages are the orphan sweeper's.

    Only a transfer staged before migration 0018 (its dossier in a file) may have a folder of
    the layouts before 2026-12-05 (0018 came after them): that folder goes whole, its staging
    and the packages of the attempts not kept. A transfer staged since has none to look for
    (two folder lookups per transfer); one a correction left of an older staging is the
    sweeper's too.
    """
    try:
        keys = [staged_piece(transfer_id, document.position) for document in claimed.documents]
        if claimed.sealed_dossier is not None:
            storage.delete_many(keys)
            return
        storage.delete_many([*keys, staged_dossier(transfer_id)])
        storage.delete_prefix(staging_folder(transfer_id))
        remove_attempts(storage, storage.stamps(package_folder(transfer_id)), {keep})
    except Exception as exc:
        log.warning("transfer %s leftovers not removed: %s", transfer_id, type(exc).__name__)


def retry_failed(session: Session, transfer_id: uuid.UUID, actor: str) -> bool:
    """Give a failed transfer a fresh set of attempts (after a human fixed the cause)."""
    size = documents_sizes(session, [transfer_id]).get(transfer_id, 0)
    moved = move(
        session, transfer_id, [State.FAILED], State.RECEIVED, actor, attempts=0, problems=[]
    )
    if moved:
        record(session, CLI, "transfer.retry", "transfer", transfer_id)
        wake_after_commit(session, transfer_id, size)
    session.commit()
    return moved is not None
