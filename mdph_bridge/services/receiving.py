"""The receiving MDPH's steps: poll, download, acknowledge, complete or return."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import LABELS, State
from mdph_bridge.models import Transfer
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.errors import ServiceError, not_found
from mdph_bridge.services.transitions import move

_SEQ = re.compile(r"[0-9]{1,18}")
DOWNLOADABLE = frozenset({State.READY, State.DOWNLOADED, State.ACKNOWLEDGED, State.COMPLETED})


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


@dataclass(frozen=True)
class InboundPage:
    """A page of inbound transfers and the cursor to poll from next."""

    transfers: list[Transfer]
    cursor: str


def list_inbound(
    session: Session, principal: Principal, cursor: str | None, limit: int
) -> InboundPage:
    """Return the next inbound transfers after `cursor`, in the order they became ready."""
    after = decode_cursor(cursor)
    rows = list(
        session.scalars(
            select(Transfer)
            .where(Transfer.dest_code == principal.departement, Transfer.inbound_seq > after)
            .order_by(Transfer.inbound_seq)
            .limit(limit)
        )
    )
    last = rows[-1].inbound_seq if rows else None
    return InboundPage(rows, encode_cursor(last or after))


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
    if medical and principal.role != "doctor":
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


def acknowledge(
    session: Session, principal: Principal, transfer_id: uuid.UUID, sha256: str
) -> Transfer:
    """Record that the package with this SHA-256 was received intact."""
    transfer = get_inbound(session, principal, transfer_id)
    if not hmac.compare_digest(sha256, transfer.package_sha256 or ""):
        raise ServiceError.one(422, "sha256_paquet", "transfert.sha256_paquet")
    if transfer.state in (State.ACKNOWLEDGED, State.COMPLETED):
        return transfer
    if not move(session, transfer_id, [State.DOWNLOADED], State.ACKNOWLEDGED, principal.actor):
        raise _refuse_state(transfer)
    session.commit()
    session.refresh(transfer)
    return transfer


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


def return_to_sender(
    session: Session, principal: Principal, transfer_id: uuid.UUID, reason: dict[str, Any]
) -> Transfer:
    """Refuse the transfer (e.g. jurisdiction) with a reason the sending MDPH will see."""
    transfer = get_inbound(session, principal, transfer_id)
    if transfer.state == State.RETURNED:
        if transfer.return_reason != reason:
            raise ServiceError.one(409, "motif", "transfert.motif_different")
        return transfer
    sources = [State.READY, State.DOWNLOADED, State.ACKNOWLEDGED]
    if not move(
        session,
        transfer_id,
        sources,
        State.RETURNED,
        principal.actor,
        detail={"motif": reason["motif"]},
        return_reason=reason,
    ):
        raise _refuse_state(transfer)
    session.commit()
    session.refresh(transfer)
    return transfer
