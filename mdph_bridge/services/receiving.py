"""The receiving MDPH's steps: poll, download, acknowledge, complete or return."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import STOPPED, Deadlines, Level, level_at
from mdph_bridge.domain.reception import FAILURE
from mdph_bridge.domain.roles import Role
from mdph_bridge.domain.signing import ALGORITHM, digest, verify
from mdph_bridge.domain.states import AT_DESTINATION, DOWNLOADABLE, LABELS, State, on_the_way
from mdph_bridge.models import DepartementKey, Transfer, TransferEvent, utcnow
from mdph_bridge.services import audit
from mdph_bridge.services.audit import LISTED_ENTRIES
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.driver import autocommitted
from mdph_bridge.services.errors import ServiceError, not_found
from mdph_bridge.services.sending import get_outbound
from mdph_bridge.services.transitions import move

# A receipt was given: a repeated one with the same signature is answered as a success.
ACKNOWLEDGED_OR_LATER = on_the_way(State.ACKNOWLEDGED, State.COMPLETED)
_SEQ = re.compile(r"[0-9]{1,18}")


def encode_cursor(seq: int) -> str:
    """Make the opaque polling cursor for a position in the destination's inbound sequence."""
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Read a polling cursor back; an absent cursor means the beginning."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error) as exc:
        raise ServiceError.one(400, "cursor", "requete.curseur") from exc
    version, _, seq = text.partition(":")
    if version != "v1" or not _SEQ.fullmatch(seq):
        raise ServiceError.one(400, "cursor", "requete.curseur")
    return int(seq)


# What a list shows (`presenters.listed_inbound`), read as rows: no ORM object per transfer.
LISTED = (
    Transfer.id,
    Transfer.inbound_seq,
    Transfer.state,
    Transfer.state_changed_at,
    Transfer.origin_code,
    Transfer.dest_code,
    Transfer.numero_dossier_origine,
    Transfer.motif,
    Transfer.submitted_at,
    Transfer.warn_at,
    Transfer.due_at,
    Transfer.ready_at,
    Transfer.numero_dossier_destination,
    Transfer.return_reason,
    Transfer.warnings,
    Transfer.harmonisation,
    Transfer.package_key,
    Transfer.package_size,
    Transfer.package_sha256,
    Transfer.package_key_ids,
    Transfer.medical_package_key,
    Transfer.medical_package_size,
    Transfer.medical_package_sha256,
    Transfer.medical_package_key_ids,
)


# Built once: a statement made at each call costs more CPU than PostgreSQL's lookup (its cache
# key is computed from every literal). One lookup in the unique (dest_code, inbound_seq) index,
# even when nothing is new.
_PAGE = (
    select(*LISTED)
    .where(Transfer.dest_code == bindparam("dest"), Transfer.inbound_seq > bindparam("after"))
    .order_by(Transfer.inbound_seq)
    .limit(bindparam("limit"))
)


# On PostgreSQL the database writes each listed transfer's JSON text as the page shows it
# (compact, keys sorted, dates as Python's `isoformat` writes them in UTC), but for the values
# Python keeps the rules of: the level (the clock), the state's label and the stored lists,
# which go through their schemas. Its text comes in pieces (`WRITTEN`), with the values Python
# adds in between (`presenters.written_inbound`); links come from templates bound per page.
def _date(column: str) -> str:
    """An instant as JSON text, microseconds only when not zero (`null` for none)."""
    text = f"""to_char(timezone('UTC', {column}), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    return f"""coalesce('"' || replace({text}, '.000000+', '+') || '"', 'null')"""


def _text(column: str) -> str:
    """A text column as JSON text: PostgreSQL escapes it as orjson does (`null` for none)."""
    return f"coalesce(to_json({column})::text, 'null')"


def _link(endpoint: str) -> str:
    """A transfer's link: its page's template (bound, JSON-escaped) around the transfer's id."""
    return f"""'"' || %({endpoint}_head)s || uid || %({endpoint}_tail)s || '"'"""


def _package(prefix: str, endpoint: str) -> str:
    """A package as `presenters.packages` shows it, link included; `null` when there is none.

    Its key ids as the schema dumps them, a list of strings (`null` when not a list).
    """
    ids = f"{prefix}key_ids"
    listed = (
        f"(SELECT coalesce('[' || string_agg({_text('e')}, ',' ORDER BY n) || ']', '[]')"  # noqa: S608 - constant
        f" FROM json_array_elements_text({ids}) WITH ORDINALITY AS k(e, n))"
    )
    # One key id as stored, of no character to escape or space, is written as it is (most
    # packages, 0.2 ms of PostgreSQL's CPU per page less than the general case).
    plain = rf"""{ids}::text ~ '^\["[^"\\\s]*"\]$'"""
    cles = (
        f"CASE WHEN {plain} THEN {ids}::text"
        f" WHEN json_typeof({ids}) = 'array' THEN {listed} ELSE 'null' END"
    )
    return (
        f"""CASE WHEN coalesce({prefix}key, '') <> '' THEN '{{"cles":' || {cles}"""
        f""" || ',"lien":' || {_link(endpoint)} || ',"sha256":' || {_text(f"{prefix}sha256")}"""
        f""" || ',"taille":' || coalesce({prefix}size::text, 'null') || '}}' ELSE 'null' END"""
    )


# The pieces between the values Python adds, in the order of the keys (the output's order).
_PIECES = (
    f"""'{{"a_risque_le":' || {_date("warn_at")} || ',"avertissements":'""",
    f"""',"echeance":' || {_date("due_at")}""",
    # ,"etat": and ,"etat_libelle": (Python's, from the state), ,"harmonisation": (constant)
    f"""',"id":"' || uid || '","lien":' || {_link("detail")}"""
    """ || ',"mdph_destination":' || %(dest_json)s"""
    f""" || ',"mdph_origine":' || {_text("origin_code")} || ',"motif":' || {_text("motif")}"""
    """ || ',"motif_retour":'""",
    # ,"niveau": (constant, in Python)
    f"""',"numero_dossier_destination":' || {_text("numero_dossier_destination")}"""
    f""" || ',"numero_dossier_origine":' || {_text("numero_dossier_origine")}"""
    f""" || ',"paquet":' || {_package("package_", "package")}"""
    f""" || ',"paquet_medical":' || {_package("medical_package_", "medical")}"""
    f""" || ',"pret_le":' || {_date("ready_at")} || ',"soumis_le":' || {_date("submitted_at")}"""
    """ || '}'""",
)
# The finished states, whose level stops at their last change (`presenters.written_inbound`).
_STOPPED = ", ".join(f"'{state.value}'" for state in sorted(STOPPED))
# Per row: position, id, state and dates (the level; the last change only for a finished
# transfer: 100 dates fewer for psycopg to read on a page of pending ones), the stored lists as
# text when not empty, then the pieces. The page's rows are a subquery, so a plan that sorts
# (table not analysed yet) cannot write a text per pending transfer; it gives the id's text once
# for its three uses, and the destination, the page's own, is bound once as JSON text. Sent as
# text by `exec_driver_sql`: no Core statement to compile, no ORM result (0.2 ms of CPU less).
_WRITTEN_COLUMNS = f"""SELECT inbound_seq, uid, state,
 CASE WHEN state IN ({_STOPPED}) THEN state_changed_at END, warn_at, due_at,
 nullif(warnings::text, '[]'), nullif(harmonisation::text, 'null'),
 nullif(return_reason::text, 'null'), {", ".join(_PIECES)}"""
# The page's rows carry the columns written above, not `*`: materialised (`WRITTEN_AND_LISTED`),
# every column, the signed manifest and the receipt among them, was copied for nothing (PostgreSQL's
# CPU per page 7-16 % lower with manifests of ~700 bytes, docs/PERFORMANCE.md).
# The id goes as its text (`uid`) and the destination is the page's own.
_PAGE_COLUMNS = ", ".join(c.key for c in LISTED if c.key not in ("id", "dest_code"))
_PAGE_ROWS = f"""SELECT {_PAGE_COLUMNS}, id::text AS uid FROM transfers
 WHERE dest_code = %(dest)s AND inbound_seq > %(after)s ORDER BY inbound_seq LIMIT %(limit)s"""  # noqa: S608 - constant
WRITTEN = f"{_WRITTEN_COLUMNS}\nFROM ({_PAGE_ROWS}) AS page ORDER BY inbound_seq"
# The same, with the page's audit entries written by the statement (in autocommit: one round
# trip, one commit, and no `record_call` after it). The page is materialised: read once.
WRITTEN_AND_LISTED = (
    f"WITH page AS MATERIALIZED ({_PAGE_ROWS}),\n listed AS ({LISTED_ENTRIES})\n"
    f"{_WRITTEN_COLUMNS}\nFROM page ORDER BY inbound_seq"
)


@dataclass(frozen=True)
class InboundPage:
    """A page of inbound transfers and the cursor to poll from next.

    Rows of `WRITTEN` when `written` (PostgreSQL, the driver's tuples for a page with its audit
    entries), else of `LISTED`.
    """

    transfers: Sequence[Any]
    cursor: str
    written: bool = False

    @property
    def ids(self) -> list[Any]:
        """The ids of the transfers listed (as text when written)."""
        return [row[1] if self.written else row.id for row in self.transfers]


def page_rows(
    session: Session,
    dest: str,
    after: int,
    limit: int,
    links: dict[str, str] | None = None,
    entries: dict[str, Any] | None = None,
) -> Sequence[Any]:
    """The next `limit` transfers for `dest` after `after`, as rows of `WRITTEN` or `LISTED`.

    `WRITTEN` (PostgreSQL) when given the page's link templates (`presenters.written_links`),
    with the page's audit entries when given their values (`audit.listing`).
    """
    values: dict[str, Any] = {"dest": dest, "after": after, "limit": limit}
    if links is None:
        return session.execute(_PAGE, values).all()
    values["dest_json"] = orjson.dumps(dest).decode()
    if entries is None:
        return session.connection().exec_driver_sql(WRITTEN, values | links).all()
    # Alone in its transaction, on the driver (`services/driver.py`): no session transaction,
    # execution context or result to build for a statement of constant text (~0.2-0.3 ms of the
    # web's CPU per page served, docs/PERFORMANCE.md); the entries durable when it returns.
    bind = cast(Engine, session.get_bind())
    return autocommitted(bind, WRITTEN_AND_LISTED, values | links | entries)


def list_inbound(
    session: Session,
    principal: Principal,
    cursor: str | None,
    limit: int,
    last: int | None = None,
    links: Callable[[], dict[str, str]] | None = None,
) -> InboundPage:
    """Return the next inbound transfers after `cursor`, in the order they became ready.

    `last`, the destination's last inbound position when known (its watermark), answers a
    caught-up poll without reading the transfers. On PostgreSQL, given what makes the page's
    link templates (`links`, called only for a page read), the database writes their text.
    """
    after = decode_cursor(cursor)
    if last is not None and after >= last:
        return InboundPage([], encode_cursor(after))
    templates, entries = None, None
    if session.get_bind().dialect.name == "postgresql":
        templates = None if links is None else links()
        if templates is not None and not session.in_transaction():
            # The page and its audit entries are one statement, its own transaction: no BEGIN
            # nor COMMIT to send, and the entries durable before the answer is written.
            entries = audit.listing(session)
    rows = page_rows(session, principal.departement, after, limit, templates, entries)
    last = None if not rows else rows[-1][0] if templates else rows[-1].inbound_seq
    return InboundPage(rows, encode_cursor(last or after), templates is not None)


# Most urgent first; within a group, the nearest due date first.
URGENCY = ("late", "at_risk", "new", "in_progress", "done")
_URGENT = {Level.LATE: "late", Level.AT_RISK: "at_risk"}


def urgency(transfer: Transfer, now: datetime) -> str:
    """Say how urgent an inbound transfer is for its receiver: late, at risk, new, …, done.

    The same clock as the alerts and the metrics: at risk from `warn_at`, late from `due_at`.
    """
    if State(transfer.state) not in AT_DESTINATION:
        return "done"
    level = level_at(Deadlines(transfer.warn_at, transfer.due_at), now)
    if level in _URGENT:
        return _URGENT[level]
    return "new" if transfer.state == State.READY else "in_progress"


def worklist(session: Session, principal: Principal, done_within: timedelta) -> list[Transfer]:
    """The département's inbound transfers for its agents: late, at risk and new ones first.

    Finished ones (completed, returned, cancelled) are kept while they changed within
    `done_within`.
    """
    now = utcnow()
    rows = session.scalars(
        select(Transfer).where(
            Transfer.dest_code == principal.departement,
            Transfer.inbound_seq.is_not(None),
            Transfer.state.in_([s.value for s in AT_DESTINATION])
            | (Transfer.state_changed_at > now - done_within),
        )
    )

    def key(transfer: Transfer) -> tuple[int, float]:
        group = URGENCY.index(urgency(transfer, now))
        moment = transfer.due_at if group < URGENCY.index("done") else transfer.state_changed_at
        return group, moment.timestamp() * (1 if group < URGENCY.index("done") else -1)

    return sorted(rows, key=key)


def get_inbound(session: Session, principal: Principal, transfer_id: uuid.UUID) -> Transfer:
    """Return an inbound transfer of the caller's département, or 404 whatever the reason."""
    transfer = session.get(Transfer, transfer_id)
    if (
        transfer is None
        or transfer.dest_code != principal.departement
        or transfer.inbound_seq is None
    ):
        raise not_found()
    return transfer


def _refuse_state(transfer: Transfer) -> ServiceError:
    return ServiceError.one(409, "", "transfert.etat", etat=LABELS[State(transfer.state)])


@dataclass(frozen=True)
class PackageBlob:
    """Where a package is stored, its SHA-256, and the file name to offer."""

    key: str
    sha256: str
    filename: str


def open_package(
    session: Session, principal: Principal, transfer_id: uuid.UUID, medical: bool, fetch: bool
) -> PackageBlob:
    """Check the caller may download the package; the first download marks it `downloaded`."""
    transfer = get_inbound(session, principal, transfer_id)
    if medical and principal.role != Role.DOCTOR:
        raise ServiceError.one(403, "", "auth.role")
    key, sha256 = (
        (transfer.medical_package_key, transfer.medical_package_sha256)
        if medical
        else (transfer.package_key, transfer.package_sha256)
    )
    if key is None or sha256 is None:
        raise not_found()
    if State(transfer.state) not in DOWNLOADABLE:
        raise _refuse_state(transfer)
    if fetch and transfer.state == State.READY:
        # Only a real download (not HEAD) counts; a concurrent cancel or return wins the race.
        if not move(session, transfer_id, [State.READY], State.DOWNLOADED, principal.actor):
            session.rollback()
            session.refresh(transfer)
            if State(transfer.state) not in DOWNLOADABLE:
                raise _refuse_state(transfer)
        session.commit()
    return PackageBlob(key, sha256, f"{transfer_id}{'-medical' if medical else ''}.age")


RECEIPT_CLOCK_SKEW = timedelta(minutes=10)


def acknowledge(
    session: Session, principal: Principal, transfer_id: uuid.UUID, signed: dict[str, Any]
) -> Transfer:
    """Record the receiver's signed receipt of the manifest, after checking it against its key."""
    transfer = get_inbound(session, principal, transfer_id)
    if transfer.state in ACKNOWLEDGED_OR_LATER and transfer.receipt == signed:
        return transfer
    _check_receipt(session, transfer, signed)
    if not move(
        session,
        transfer_id,
        [State.DOWNLOADED],
        State.ACKNOWLEDGED,
        principal.actor,
        receipt=signed,
    ):
        raise _refuse_state(transfer)
    session.commit()
    session.refresh(transfer)
    return transfer


def acknowledge_by_agent(
    session: Session, principal: Principal, transfer_id: uuid.UUID
) -> Transfer:
    """Record an acknowledgement made on the pages by a signed-in agent of the destination.

    The département's signing key stays on its own machines, so this is not a signed receipt:
    the event says it was an agent's confirmation, with the manifest digest it confirms.
    """
    if not principal.agent:
        raise ServiceError.one(403, "", "auth.role")
    transfer = get_inbound(session, principal, transfer_id)
    if transfer.state in ACKNOWLEDGED_OR_LATER:
        return transfer
    detail = {"accuse": "agent", "sha256_manifeste": manifest_digest(transfer)}
    if not move(
        session, transfer_id, [State.DOWNLOADED], State.ACKNOWLEDGED, principal.actor, detail=detail
    ):
        raise _refuse_state(transfer)
    session.commit()
    session.refresh(transfer)
    return transfer


def acknowledged_by_agent(transfer: Transfer) -> bool:
    """Tell whether the acknowledgement was an agent's confirmation rather than a signed receipt."""
    return any(
        e.to_state == State.ACKNOWLEDGED and (e.detail or {}).get("accuse") == "agent"
        for e in transfer.events
    )


def _check_receipt(session: Session, transfer: Transfer, signed: dict[str, Any]) -> None:
    recu = signed["recu"]
    if recu["transfert"] != str(transfer.id):
        raise ServiceError.one(422, "recu.transfert", "recu.transfert")
    if not hmac.compare_digest(recu["sha256_manifeste"], manifest_digest(transfer)):
        raise ServiceError.one(422, "recu.sha256_manifeste", "recu.manifeste")
    try:
        signed_at = datetime.fromisoformat(recu["date"])
    except ValueError:
        signed_at = None
    now = utcnow()
    if (
        signed_at is None
        or signed_at.tzinfo is None
        or not transfer.state_changed_at - RECEIPT_CLOCK_SKEW
        <= signed_at
        <= now + RECEIPT_CLOCK_SKEW
    ):
        raise ServiceError.one(422, "recu.date", "recu.date")
    key = session.get(DepartementKey, signed["cle"])
    if (
        key is None
        or key.departement_code != transfer.dest_code
        or key.usage != "signing"
        or not key.is_valid(now)
    ):
        raise ServiceError.one(422, "cle", "recu.cle")
    if not verify(key.public_key, signed["signature"], recu):
        raise ServiceError.one(422, "signature", "recu.signature")


def receipt_of(session: Session, principal: Principal, transfer_id: uuid.UUID) -> dict[str, Any]:
    """Give the sender the receipt with the public key that verifies it offline."""
    transfer = get_outbound(session, principal, transfer_id)
    if transfer.receipt is None:
        code = (
            "transfert.recu_agent" if acknowledged_by_agent(transfer) else "transfert.recu_absent"
        )
        raise ServiceError.one(404, "", code)
    key = session.get(DepartementKey, transfer.receipt["cle"])  # revoked keys are kept
    public = key.public_key if key else ""
    return {**transfer.receipt, "algorithme": ALGORITHM, "cle_publique": public}


def manifest_digest(transfer: Transfer) -> str:
    """SHA-256 of the transfer's manifest body, as a receipt must quote it."""
    return digest(transfer.manifest["manifeste"]) if transfer.manifest else ""


def signed_manifest(
    session: Session, principal: Principal, transfer_id: uuid.UUID
) -> dict[str, Any]:
    """Return the signed manifest to the sending or the receiving side (404 before `ready`)."""
    sender = principal.role == Role.CASEWORKER
    transfer = (get_outbound if sender else get_inbound)(session, principal, transfer_id)
    if transfer.manifest is None:
        raise not_found()
    return transfer.manifest


def complete(
    session: Session, principal: Principal, transfer_id: uuid.UUID, numero: str
) -> Transfer:
    """Record that the receiving MDPH integrated the file under its own file number."""
    transfer = get_inbound(session, principal, transfer_id)
    if transfer.state == State.COMPLETED:
        if transfer.numero_dossier_destination != numero:
            raise ServiceError.one(409, "numero_dossier_destination", "transfert.numero_different")
        return transfer
    if not move(
        session,
        transfer_id,
        [State.ACKNOWLEDGED],
        State.COMPLETED,
        principal.actor,
        numero_dossier_destination=numero,
    ):
        raise _refuse_state(transfer)
    session.commit()
    session.refresh(transfer)
    return transfer


# A receiving client reports a failure while the transfer waits for it: ready or downloaded.
FAILURE_STATES = frozenset({State.READY, State.DOWNLOADED})


def report_failure(
    session: Session, principal: Principal, transfer_id: uuid.UUID, code: str
) -> Transfer:
    """Add a reception failure to the timeline (a code, not free text); the state stays as it is.

    A report repeating the last event of the timeline adds nothing, so a client may resend it.
    """
    transfer = get_inbound(session, principal, transfer_id)
    if State(transfer.state) not in FAILURE_STATES:
        raise _refuse_state(transfer)
    last = transfer.events[-1] if transfer.events else None
    if last is None or (last.detail or {}).get(FAILURE) != code:
        transfer.events.append(
            TransferEvent(
                from_state=transfer.state,
                to_state=transfer.state,
                actor=principal.actor,
                detail={FAILURE: code},
            )
        )
        session.commit()
        session.refresh(transfer)
    return transfer


def return_to_sender(
    session: Session, principal: Principal, transfer_id: uuid.UUID, reason: dict[str, Any]
) -> Transfer:
    """Refuse the transfer (e.g. jurisdiction) with a reason the sending MDPH will see."""
    transfer = get_inbound(session, principal, transfer_id)
    if transfer.state == State.RETURNED:
        if transfer.return_reason != reason:
            raise ServiceError.one(409, "motif", "transfert.motif_different")
        return transfer
    if not move(
        session,
        transfer_id,
        AT_DESTINATION,
        State.RETURNED,
        principal.actor,
        detail={"motif": reason["motif"]},
        return_reason=reason,
    ):
        raise _refuse_state(transfer)
    session.commit()
    session.refresh(transfer)
    return transfer
