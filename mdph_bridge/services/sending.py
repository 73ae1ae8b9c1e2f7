"""The sending MDPH's view of its outbound transfers, and cancellation."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import LABELS, State
from mdph_bridge.models import Transfer
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.errors import ServiceError, not_found
from mdph_bridge.services.transitions import move

CANCELLABLE = (State.RECEIVED, State.REJECTED, State.FAILED, State.READY)


def list_outbound(
    session: Session, principal: Principal, state: str | None, page: int, per_page: int
) -> tuple[list[Transfer], int]:
    """Return one page of the caller's outbound transfers, newest first, and the total count."""
    query = select(Transfer).where(Transfer.origin_code == principal.departement)
    if state:
        query = query.where(Transfer.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Transfer.submitted_at.desc(), Transfer.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(rows), total


def get_outbound(session: Session, principal: Principal, transfer_id: uuid.UUID) -> Transfer:
    """Return an outbound transfer of the caller's département, or 404 whatever the reason."""
    transfer = session.get(Transfer, transfer_id)
    if transfer is None or transfer.origin_code != principal.departement:
        raise not_found()
    return transfer


def cancel(session: Session, principal: Principal, transfer_id: uuid.UUID) -> Transfer:
    """Cancel an outbound transfer that the destination has not downloaded yet."""
    transfer = get_outbound(session, principal, transfer_id)
    if transfer.state == State.CANCELLED:
        return transfer
    if not move(session, transfer_id, CANCELLABLE, State.CANCELLED, principal.actor):
        raise ServiceError.one(409, "", "transfert.etat", etat=LABELS[State(transfer.state)])
    session.commit()
    session.refresh(transfer)
    return transfer
