"""The receivers' list and the deadline alerts read one rule: late from the due instant on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from histories import add_transfer
from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import Level
from mdph_bridge.domain.states import State
from mdph_bridge.models import Transfer, TransferAlert
from mdph_bridge.services import alerts, receiving

pytestmark = pytest.mark.unit
SUBMITTED = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def alert_levels(session: Session) -> list[str]:
    return sorted(session.scalars(select(TransferAlert.level)))


def test_the_receivers_list_and_the_alerts_agree_on_a_transfer_exactly_at_its_due_time(
    session: Session,
) -> None:
    transfer = session.get(
        Transfer, add_transfer(session, "59", "62", SUBMITTED, state=State.READY)
    )
    assert transfer is not None
    session.commit()
    just_before = transfer.due_at - timedelta(seconds=1)

    alerts.decide(session, just_before)
    assert alert_levels(session) == [Level.AT_RISK.value]
    assert receiving.urgency(transfer, just_before) == "at_risk"

    alerts.decide(session, transfer.due_at)
    assert alert_levels(session) == [Level.AT_RISK.value, Level.LATE.value]
    assert receiving.urgency(transfer, transfer.due_at) == "late"
