"""Submit a transfer (or its correction): validate, seal the payload at rest, record it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, cast

from marshmallow import ValidationError
from sqlalchemy import (
    Engine,
    Integer,
    String,
    Table,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import BIGINT, BOOLEAN, JSON
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import TypeEngine

import schemas
from mdph_bridge.blobpaths import staged_piece, staging_prefix
from mdph_bridge.domain.clock import ClockRules
from mdph_bridge.domain.filetypes import SNIFF_BYTES, detect_mime
from mdph_bridge.domain.rulesets import RuleBook
from mdph_bridge.domain.sealing import Keyring, seal
from mdph_bridge.domain.states import LABELS, State
from mdph_bridge.models import Transfer, TransferDocument, utcnow
from mdph_bridge.models.base import load_json
from mdph_bridge.services.audit import (
    entry_insert,
    entry_values,
    note_committed_alone,
    note_created,
)
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.clock import transfer_deadlines
from mdph_bridge.services.driver import DriverStatement, autocommitted, in_session_transaction
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.harmonisation import aid_problems
from mdph_bridge.services.keys import destination_problems
from mdph_bridge.services.queue import BROKER, wake_after_commit, wake_processing
from mdph_bridge.services.sending import get_outbound
from mdph_bridge.services.staging import drop_unneeded_staging
from mdph_bridge.services.transitions import (
    NO_DETAIL,
    TRANSFERS,
    add_event,
    insert_event_from,
    move,
)
from mdph_bridge.storage import Storage
from schemas.clock import today
from schemas.dossier import DossierSchema
from schemas.errors import error, flatten
from schemas.trusted import Loader, trusted_loader
from schemas.warnings import dossier_warnings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedUpload:
    """An uploaded part, already sealed into a blob while it streamed in."""

    key: str
    size: int
    sha256: str
    mime: str | None  # type recognised from the first bytes; None if not an accepted one


@dataclass
class Staging:
    """The new transfer whose staging keys a request writes its documents under as they stream
    in (`staging/<id>.piece-<k>`, k their order among the parts): no upload file renamed into
    staging, nor deleted after. Until the submission stages them (`taken`), from when they are
    its to keep or drop, the request deletes them (a refusal, a replay)."""

    transfer_id: uuid.UUID = field(default_factory=uuid.uuid4)
    taken: bool = False


@dataclass(frozen=True)
class Submission:
    """What the sending MDPH sent: the dossier JSON and its documents by part name."""

    dossier: bytes
    uploads: Mapping[str, StagedUpload]
    idempotency_key: str | None = None
    staging: Staging | None = None  # where the documents were written as they came, if so


@dataclass(frozen=True)
class Intake:
    """Where and how submissions are kept: storage, staging keys, deadlines, digest key."""

    storage: Storage
    keyring: Keyring
    clock: ClockRules
    digest_key: bytes
    rules: RuleBook


class FirstEvent(NamedTuple):
    """A new transfer's first event, as its statement wrote it."""

    at: datetime
    from_state: str | None
    to_state: str
    actor: str
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class Created:
    """A transfer its submission just wrote, read from the values written: what its answer shows,
    without the unattached ORM `Transfer`, document and event that cost ~0.15 to 0.2 ms of CPU per
    submission to build. A column the row leaves out reads as its default (None if it has none),
    as the table's insert wrote it."""

    row: Mapping[str, Any]
    documents: Sequence[Mapping[str, Any]]
    events: tuple[FirstEvent]

    def __getattr__(self, name: str) -> Any:
        """The transfer's column `name`, as the row gave it or its default."""
        table_column = TRANSFERS.c.get(name)
        if table_column is None:
            raise AttributeError(name)
        if name in self.row:
            return self.row[name]
        default = table_column.default
        return default.arg if isinstance(default, ScalarElementColumnDefault) else None

    @property
    def documents_size(self) -> int:
        """Total size of the documents: it picks the worker queue (as `Transfer.documents_size`)."""
        return sum(document["size"] for document in self.documents)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_INSERT_TRANSFER = insert(cast(Table, Transfer.__table__))
DOCUMENTS = cast(Table, TransferDocument.__table__)
_INSERT_DOCUMENTS = insert(DOCUMENTS)
# The documents' columns, bound together as one JSON array of objects on PostgreSQL (any
# number in one statement): psycopg dumped six arrays for ~40 us of client CPU more.
_DOCUMENT_COLUMNS: dict[str, TypeEngine[Any]] = {
    "position": Integer(),
    "type_piece": String(),
    "medical": BOOLEAN(),
    "size": BIGINT(),
    "sha256": String(),
    "mime": String(),
}
_created: dict[tuple[tuple[str, ...], bool], DriverStatement] = {}


def _create_in_one_statement(columns: tuple[str, ...], audited: bool) -> DriverStatement:
    """The transfer, its documents, its first event and, for an audited call, the call's entry in
    one statement (PostgreSQL), built once per set of columns: data-modifying CTEs, three round
    trips fewer than four inserts; run prepared by the driver (`services/driver.py`)."""
    if (found := _created.get((columns, audited))) is not None:
        return found
    values: dict[str, Any] = {
        name: bindparam(name, type_=TRANSFERS.c[name].type) for name in columns
    }
    # A CTE's insert gets no Python-side default: the scalar ones written as the table's are,
    # and a callable one (which SQLite's path would apply) must come with the row.
    for table_column in TRANSFERS.c:
        name, default = table_column.name, table_column.default
        if name in values or default is None:
            continue
        if not isinstance(default, ScalarElementColumnDefault):
            raise TypeError(f"transfers.{name}: a callable default, give it in the row")
        values[name] = literal(default.arg, type_=table_column.type)
    created = (
        insert(TRANSFERS)
        .values(values)
        .returning(TRANSFERS.c.id, TRANSFERS.c.state, TRANSFERS.c.state_changed_at)
        .cte("created")
    )
    rows = (
        func.json_to_recordset(bindparam("documents", type_=JSON()))
        .table_valued(*(column(n, t) for n, t in _DOCUMENT_COLUMNS.items()))
        .render_derived(with_types=True)
    )
    documents = (
        insert(DOCUMENTS)
        .from_select(
            ["transfer_id", *_DOCUMENT_COLUMNS],
            select(created.c.id, *(rows.c[n] for n in _DOCUMENT_COLUMNS)).select_from(
                created.join(rows, true())
            ),
        )
        .cte("documents")
    )
    statement = insert_event_from(
        created.c.id,
        created.c.state_changed_at,
        null(),
        created.c.state,
        bindparam("event_actor", type_=String()),
        NO_DETAIL,
    ).add_cte(documents)
    if audited:
        statement = statement.add_cte(entry_insert(created.c.id).cte("entry"))
    found = _created[columns, audited] = DriverStatement(statement)
    return found


_schemas = threading.local()


def dossier_schema() -> DossierSchema:
    """This thread's dossier schema, built once: building it costs 2 to 4 ms of CPU.

    A load keeps no state on the schema ("today" is read at each validation).
    """
    schema: DossierSchema | None = getattr(_schemas, "dossier", None)
    if schema is None:
        schema = _schemas.dossier = DossierSchema()
    return schema


def trusted_dossier_loader() -> Loader:
    """This thread's loader of dossiers the schema already accepted (built once, as the schema)."""
    loader: Loader | None = getattr(_schemas, "trusted", None)
    if loader is None:
        loader = _schemas.trusted = trusted_loader(dossier_schema())
    return loader


def _validating_code() -> bytes:
    """SHA-256 of what decides whether a dossier is valid: the schemas, the domain rules they call
    and the territories' data; bound into each digest, so a dossier validated by another
    release's rules (queued across a deployment) is validated again by the worker's."""
    package = Path(__file__).parents[1]
    sources = [
        *sorted(Path(schemas.__file__).parent.glob("*.py")),
        *sorted((package / "domain").glob("*.py")),
        package / "territoires.py",
        package / "data" / "territoires.json",
    ]
    digest = hashlib.sha256()
    for source in sources:
        digest.update(f"{source.name}:{hashlib.sha256(source.read_bytes()).hexdigest()}\n".encode())
    return digest.digest()


VALIDATING_CODE = _validating_code()


def dossier_digest(raw: bytes) -> str:
    """SHA-256 of the exact dossier bytes validated and staged, as the worker reads them back,
    and of the code that validated them (`VALIDATING_CODE`).

    The plaintext, not the sealed blob: resealing the staging under another key keeps it.
    """
    return hashlib.sha256(VALIDATING_CODE + raw).hexdigest()


def load_staged_dossier(raw: bytes, validated_digest: str | None) -> dict[str, Any]:
    """The staged dossier as the schema's `load` returns it; validated again only when these are
    not the bytes its submission (or correction) validated, or when that was not recorded.

    Raises the schema's ValidationError when a dossier validated again is refused. Parsed by
    orjson, with the standard library's results (`load_json`).
    """
    data = load_json(raw)
    if validated_digest is not None and dossier_digest(raw) == validated_digest:
        return trusted_dossier_loader()(data)
    # Should not happen for a transfer staged since the digest exists: the staged blob is sealed
    # by authenticated encryption and replaced, with its digest, only under the row's lock. A
    # blob and a row out of step (a fault, a restore of one without the other) are validated in
    # full, as every transfer was before: the safe side. No digest: staged before migration 0015.
    loaded: dict[str, Any] = dossier_schema().load(data)
    return loaded


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_dossier(raw: bytes) -> dict[str, Any]:
    """Decode and validate the dossier JSON, listing every problem at once."""
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_refuse_constant)
        # `\ud800` escapes decode to lone surrogates, which no UTF-8 output can hold; only such
        # an escape can bring one (UTF-8 cannot), so a text without one is not encoded again.
        if _SURROGATE_ESCAPE.search(text):
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    # ValueError also covers integers past Python's digit limit and NaN/Infinity.
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise ServiceError.one(422, "dossier", "requete.dossier_json") from exc
    try:
        loaded: dict[str, Any] = dossier_schema().load(data)
    except ValidationError as exc:
        raise ServiceError(422, flatten(exc.messages)) from exc
    return loaded


_MAX_NAME_BYTES = 255  # what common file systems accept


def _plain_file_name(name: str) -> bool:
    """Tell a bare file name from one that could leave its folder, hide characters or not fit."""
    return (
        name not in {".", ".."}
        and not any(c in "/\\" or unicodedata.category(c) in {"Cc", "Cf"} for c in name)
        and len(name.encode()) <= _MAX_NAME_BYTES
    )


def documents_problems(
    dossier: dict[str, Any], uploads: Mapping[str, StagedUpload]
) -> list[dict[str, str]]:
    """Check that each declared document was sent once, intact, of an accepted type, well named."""
    problems = []
    declared = set()
    for index, piece in enumerate(dossier["pieces"]):
        name = piece["nom_fichier"]
        declared.add(name)
        upload = uploads.get(name)
        if not _plain_file_name(name):
            problems.append(error(f"pieces[{index}].nom_fichier", "piece.nom_invalide"))
        elif upload is None:
            problems.append(
                error(f"pieces[{index}].nom_fichier", "piece.fichier_manquant", nom=name)
            )
        else:
            if upload.mime is None:
                problems.append(
                    error(f"pieces[{index}].nom_fichier", "piece.type_non_autorise", nom=name)
                )
            if upload.sha256 != piece["sha256"]:
                problems.append(error(f"pieces[{index}].sha256", "piece.empreinte_differente"))
    for name in sorted(set(uploads) - declared):
        problems.append(error("pieces", "piece.fichier_non_declare", nom=name))
        if uploads[name].mime is None:
            problems.append(error(name, "piece.type_non_autorise", nom=name))
    return problems


def folder_uploads(folder: Path) -> dict[str, StagedUpload]:
    """Describe a local folder's files as if uploaded: an integrator checks them before sending."""
    uploads = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
            digest.update(head)
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        uploads[path.name] = StagedUpload(
            str(path), path.stat().st_size, digest.hexdigest(), detect_mime(head)
        )
    return uploads


def _accepted_dossier(
    session: Session, intake: Intake, principal: Principal, submission: Submission
) -> dict[str, Any]:
    """Return the validated dossier, or refuse it with every problem found."""
    dossier = parse_dossier(submission.dossier)
    problems = []
    if dossier["transfert"]["mdph_origine"] != principal.departement:
        problems.append(
            error("transfert.mdph_origine", "transfert.origine", departement=principal.departement)
        )
    problems += destination_problems(session, dossier)
    problems += aid_problems(intake.rules, dossier)
    problems += documents_problems(dossier, submission.uploads)
    if problems:
        raise ServiceError(422, problems)
    return dossier


def _digest(intake: Intake, submission: Submission) -> str:
    """Keyed fingerprint of a request: tells a retry from a different dossier under the same key."""
    return hmac.new(intake.digest_key, submission.dossier, hashlib.sha256).hexdigest()


def _replay(existing: Transfer, intake: Intake, submission: Submission) -> Transfer:
    if not hmac.compare_digest(existing.request_digest or "", _digest(intake, submission)):
        raise ServiceError.one(422, "Idempotency-Key", "requete.cle_idempotence_reutilisee")
    return existing


def find_by_idempotency_key(session: Session, origin: str, key: str) -> Transfer | None:
    """Return the transfer an earlier submission with this key created, if any."""
    return session.scalar(
        select(Transfer).where(Transfer.origin_code == origin, Transfer.idempotency_key == key)
    )


# The Idempotency-Key's read by the driver (`services/driver.py`): the id of the transfer an
# earlier submission with the key created.
_KEYED = DriverStatement(
    select(TRANSFERS.c.id).where(
        TRANSFERS.c.origin_code == bindparam("origin", type_=String()),
        TRANSFERS.c.idempotency_key == bindparam("key", type_=String()),
    )
)


def _earlier(session: Session, origin: str, key: str) -> Transfer | None:
    """The transfer an earlier submission with this key created, if any.

    On PostgreSQL outside a transaction the key is looked up by the driver, prepared, in
    autocommit: the session takes no connection for a new submission, and reads the transfer in
    autocommit only for a replay (a transaction left open would be rolled back at the request's
    end, which drops the connection's prepared statements in psycopg).
    """
    bind = cast(Engine, session.get_bind())
    if bind.dialect.name != "postgresql" or session.in_transaction():
        return find_by_idempotency_key(session, origin, key)
    compiled = _KEYED.compiled(bind.dialect)
    rows = autocommitted(bind, compiled.sql, compiled.params({"origin": origin, "key": key}))
    if not rows:
        return None
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session.get(Transfer, rows[0][0])


def submit(
    session: Session, intake: Intake, principal: Principal, submission: Submission
) -> tuple[Transfer | Created, bool]:
    """Create the transfer (or return the one this Idempotency-Key created); True if new.

    A new transfer wakes a worker once it is committed.
    """
    # On PostgreSQL, outside a transaction under way, the Idempotency-Key's read and the one
    # statement that writes go by the driver in autocommit, each alone on a pooled connection:
    # each is a transaction of its own, as READ COMMITTED gives them anyway, and PostgreSQL
    # commits the statement as it ends, as durable as a `COMMIT`, without the `BEGIN` and
    # `COMMIT` round trips. A read meanwhile (the destination's keys, when this process's copy
    # is older than `KEYS_CACHE_SECONDS`) is committed before the payload is staged: no
    # transaction stays open while files are written, and the statement still goes alone.
    alone = not session.in_transaction()
    key = submission.idempotency_key
    if key is not None and (existing := _earlier(session, principal.departement, key)):
        return _replay(existing, intake, submission), False
    dossier = _accepted_dossier(session, intake, principal, submission)
    if alone and session.in_transaction():
        session.commit()

    staging = submission.staging
    transfer_id = staging.transfer_id if staging else uuid.uuid4()
    prefix = staging_prefix(transfer_id)
    committed = False
    try:
        if staging:
            staging.taken = True  # from here, this function keeps or drops them (below)
        sealed = _stage(intake, transfer_id, submission, dossier)
        transfer, committed = _insert(
            session, intake, principal, submission, dossier, transfer_id, sealed
        )
        if committed and not session.in_transaction():
            # Committed alone: the session has nothing to commit, so the commit's hooks are not
            # paid (~0.1 ms); the call's entry rode in the statement, the worker is woken now.
            note_committed_alone(session)
            wake_processing(session.info[BROKER], transfer_id, transfer.documents_size)
        else:
            wake_after_commit(session, transfer_id, transfer.documents_size)
            session.commit()
    except IntegrityError:
        session.rollback()
        storage_cleanup(intake, prefix)
        existing = find_by_idempotency_key(session, principal.departement, key) if key else None
        if not existing:
            raise
        return _replay(existing, intake, submission), False
    except BaseException as exc:
        session.rollback()
        # A transfer committed alone keeps its payload (the sweeper wakes it); so does one whose
        # commit's answer was lost with the connection: it may be committed, and the sweeper
        # deletes a staging folder no transfer uses.
        if not (committed or _maybe_committed(exc)):
            storage_cleanup(intake, prefix)
        raise
    log.info("transfer %s received %s -> %s", transfer_id, transfer.origin_code, transfer.dest_code)
    return transfer, True


def _maybe_committed(exc: BaseException) -> bool:
    """Whether the database may have committed what it was sent before the error: the
    connection was lost, so the answer of a statement or a `COMMIT` may have been."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _insert(
    session: Session,
    intake: Intake,
    principal: Principal,
    submission: Submission,
    dossier: dict[str, Any],
    transfer_id: uuid.UUID,
    sealed: bytes,
) -> tuple[Created, bool]:
    """Insert the transfer, its documents and its first event; return what was written, and
    whether the statement committed as it ended (alone, in autocommit).

    No unit of work to flush, no ORM object: the values written carry what the answer shows.
    They are gathered before the statement, which comes last: committed alone, the statement
    leaves nothing after it that could fail and have the staged payload deleted.
    """
    now = utcnow()
    dest = dossier["transfert"]["mdph_destination"]
    deadline = transfer_deadlines(intake.clock, principal.departement, dest, now)
    row = {
        "id": transfer_id,
        "origin_code": principal.departement,
        "dest_code": dest,
        "state": State.RECEIVED.value,
        "idempotency_key": submission.idempotency_key,
        "request_digest": _digest(intake, submission),
        "submitted_by": principal.token_id,
        "submitted_at": now,
        "warn_at": deadline.warn_at,
        "due_at": deadline.due_at,
        "state_changed_at": now,
        "attempts": 0,
        "sender_wait_seconds": 0,
        "problems": [],
        **_metadata(intake, dossier, submission),
        "sealed_dossier": sealed,
    }
    documents = _documents(dossier, submission)
    event = FirstEvent(now, None, State.RECEIVED.value, principal.actor, None)
    transfer = Created(row, documents, (event,))
    note_created(session, transfer_id)  # forgotten with the rest if the statement fails
    if session.get_bind().dialect.name == "postgresql":
        params: dict[str, Any] = {**row, "documents": documents, "event_actor": principal.actor}
        entry = entry_values(session)  # the call's audit entry rides in the same statement
        params |= entry or {}
        statement = _create_in_one_statement(tuple(row), entry is not None)
        return transfer, _created_alone(session, statement, params)
    session.execute(_INSERT_TRANSFER, row)
    if documents:  # an empty list would insert one row of defaults
        rows = [{"transfer_id": transfer_id, **d} for d in documents]
        session.execute(_INSERT_DOCUMENTS, rows)
    add_event(session, transfer_id, now, None, State.RECEIVED.value, principal.actor)
    return transfer, False


def _created_alone(session: Session, statement: DriverStatement, params: dict[str, Any]) -> bool:
    """Run the submission's statement prepared on the driver; whether it committed as it ended.

    Outside a transaction it goes alone, in autocommit, on a pooled connection: the session's
    connection, its execution and its commit's bookkeeping are not paid. Inside one (a
    transaction under way, a read since) it joins it.
    """
    bind = cast(Engine, session.get_bind())
    compiled = statement.compiled(bind.dialect)
    if not session.in_transaction():
        autocommitted(bind, compiled.sql, compiled.params(params))
        return True
    driver: Any = session.connection().connection.driver_connection
    in_session_transaction(session, compiled, params)
    return bool(driver.autocommit)


def correct(
    session: Session,
    intake: Intake,
    principal: Principal,
    transfer_id: uuid.UUID,
    submission: Submission,
) -> Transfer:
    """Replace the payload of a rejected transfer with a corrected one, under the same transfer.

    The transfer's row stays locked from the first read to the commit: its payload is staged under
    its fixed keys, so a concurrent correction must wait, then see `received` and stage nothing
    (otherwise it would overwrite the winner's files, or delete them on losing the race).
    """
    transfer = get_outbound(session, principal, transfer_id, lock=True)
    if transfer.state != State.REJECTED:
        raise ServiceError.one(409, "", "transfert.etat", etat=LABELS[State(transfer.state)])
    dossier = _accepted_dossier(session, intake, principal, submission)
    if dossier["transfert"]["mdph_destination"] != transfer.dest_code:
        raise ServiceError.one(422, "transfert.mdph_destination", "transfert.destination_modifiee")
    try:
        sealed = _stage(intake, transfer_id, submission, dossier)
        session.execute(delete(TransferDocument).where(TransferDocument.transfer_id == transfer_id))
        session.expire(transfer, ["documents"])
        if not move(
            session,
            transfer_id,
            [State.REJECTED],
            State.RECEIVED,
            principal.actor,
            detail={"correction": True},
            problems=[],
            attempts=0,
            sealed_dossier=sealed,
        ):
            # Cannot happen under the row lock; the payload staged is ours for the except to drop.
            raise ServiceError.one(409, "", "transfert.etat", etat=LABELS[State.RECEIVED])  # noqa: TRY301
        _describe(transfer, intake, dossier, submission)
        wake_after_commit(session, transfer_id, transfer.documents_size)
        session.commit()
    except BaseException:
        session.rollback()  # the row lock goes with it: a correction waiting on it may commit
        drop_unneeded_staging(session, intake.storage, transfer_id)  # so, under the lock again
        raise
    session.refresh(transfer)
    log.info("transfer %s corrected", transfer_id)
    return transfer


def storage_cleanup(intake: Intake, prefix: str) -> None:
    """Remove a payload that was staged for a transaction that did not commit."""
    intake.storage.delete_starting(prefix)


def _stage(
    intake: Intake, transfer_id: uuid.UUID, submission: Submission, dossier: dict[str, Any]
) -> bytes:
    """Stage the documents, durable before the row that points to them is written; return
    the dossier sealed for the row (no file of its own: one file fewer to create, read, delete).

    A document streamed in under its own staging key (`Staging`) is already durable there; one
    streamed in under another's position steps aside first, so that no rename replaces a
    document yet to move.
    """
    moves = []
    for index, piece in enumerate(dossier["pieces"]):
        key, target = submission.uploads[piece["nom_fichier"]].key, staged_piece(transfer_id, index)
        if key != target:
            moves.append((key, target))
    prefix = staging_prefix(transfer_id)
    for number, (key, target) in enumerate(moves):
        if key.startswith(prefix):
            aside = f"{key}-aside"
            intake.storage.move(key, aside, durable=False)
            moves[number] = (aside, target)
    for number, (key, target) in enumerate(moves):
        # Each is flushed where it lands; their folder (the same) once, with the last's name.
        intake.storage.move(key, target, durable=number == len(moves) - 1)
    return seal(submission.dossier, intake.keyring)


def _describe(
    transfer: Transfer, intake: Intake, dossier: dict[str, Any], submission: Submission
) -> None:
    """Copy into the transfer row the metadata it keeps (never personal data)."""
    for name, value in _metadata(intake, dossier, submission).items():
        setattr(transfer, name, value)
    transfer.documents = [TransferDocument(**d) for d in _documents(dossier, submission)]


def _metadata(intake: Intake, dossier: dict[str, Any], submission: Submission) -> dict[str, Any]:
    """The dossier's metadata the transfer row keeps (never personal data), and the digest that
    binds the staged dossier to its validation."""
    return {
        "numero_dossier_origine": dossier["transfert"]["numero_dossier_origine"],
        "warnings": dossier_warnings(dossier, today()),
        "motif": dossier["transfert"]["motif"],
        "staging_key_id": intake.keyring.primary.key_id,
        "dossier_sha256": dossier_digest(submission.dossier),
    }


def _documents(dossier: dict[str, Any], submission: Submission) -> list[dict[str, Any]]:
    """Each declared document's row: type, size, hash, recognised type (never its name)."""
    return [
        {
            "position": index,
            "type_piece": piece["type_piece"],
            "medical": piece["medical"],
            "size": submission.uploads[piece["nom_fichier"]].size,
            "sha256": piece["sha256"],
            "mime": submission.uploads[piece["nom_fichier"]].mime,
        }
        for index, piece in enumerate(dossier["pieces"])
    ]
