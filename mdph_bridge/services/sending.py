"""The sending MDPH's view of its outbound transfers, and cancellation."""

from __future__ import annotations

import uuid

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import CANCELLABLE, LABELS, WAITING_FOR_SENDER, State
from mdph_bridge.models import Transfer
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.errors import ServiceError, not_found
from mdph_bridge.services.transitions import move

# What the sender must act on: correct and resend, or see why it came back.
NEEDS_ACTION = WAITING_FOR_SENDER | {State.RETURNED}


def list_outbound(
    session: Session,
    principal: Principal,
    state: str | None,
    page: int,
    per_page: int,
    dest: str | None = None,
    action_first: bool = False,
) -> tuple[list[Transfer], int]:
    """Return one page of the caller's outbound transfers, newest first, and the total count.

    With `action_first`, those waiting for the sender (rejected, returned, failed) come first.
    """
    query = select(Transfer).where(Transfer.origin_code == principal.departement)
    if state:
        query = query.where(Transfer.state == state)
    if dest:
        query = query.where(Transfer.dest_code == dest)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = [Transfer.submitted_at.desc(), Transfer.id]
    if action_first:
        order.insert(0, case((Transfer.state.in_([s.value for s in NEEDS_ACTION]), 0), else_=1))
    rows = session.scalars(query.order_by(*order).limit(per_page).offset((page - 1) * per_page))
    return list(rows), total


def get_outbound(
    session: Session, principal: Principal, transfer_id: uuid.UUID, *, lock: bool = False
) -> Transfer:
    """Return an outbound transfer of the caller's département, or 404 whatever the reason.

    With `lock`, the row is read afresh and locked until the transaction ends, so that a
    concurrent change of the same transfer waits for this one and then sees its outcome.
    """
    if lock:
        transfer = session.get(Transfer, transfer_id, with_for_update=True, populate_existing=True)
    else:
        transfer = session.get(Transfer, transfer_id)
    if transfer is None or transfer.origin_code != principal.departement:
        raise not_found()
    return transfer


def ensure_outbound(session: Session, principal: Principal, transfer_id: uuid.UUID) -> None:
    """Refuse (404) before an upload streams in, then end the read transaction (SQLite's lock)."""
    get_outbound(session, principal, transfer_id)
    session.commit()


def cancel(session: Session, principal: Principal, transfer_id: uuid.UUID) -> Transfer:
    """Cancel an outbound transfer that the destination has not downloaded yet."""
    transfer = get_outbound(session, principal, transfer_id)
    if transfer.state == State.CANCELLED:
        return transfer
    if not move(
        session,
        transfer_id,
        CANCELLABLE,
        State.CANCELLED,
        principal.actor,
        dossier_sha256=None,
        sealed_dossier=None,  # the staged payload is no longer needed (its files: the sweeper's)
    ):
        raise ServiceError.one(409, "", "transfert.etat", etat=LABELS[State(transfer.state)])
    session.commit()
    session.refresh(transfer)
    return transfer
