"""A transfer as its submission just wrote it (`submission.Created`), as the answer reads it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from mdph_bridge.services.submission import Created, FirstEvent

pytestmark = pytest.mark.unit


def test_a_created_transfer_reads_its_row_then_its_columns_defaults() -> None:
    """A column the row gave reads as given, one it left out as the insert wrote it (its scalar
    default, else None); a name that is no column of `transfers` is no attribute."""
    transfer_id = uuid.uuid4()
    first = FirstEvent(datetime.now(UTC), None, "received", "59/caseworker/t", None)
    created = Created(
        {"id": transfer_id, "state": "received"}, [{"size": 3}, {"size": 4}], (first,)
    )

    assert (created.id, created.state) == (transfer_id, "received")
    assert (created.rolled_up, created.attempts, created.ready_at) == (False, 0, None)
    assert created.documents_size == 7
    with pytest.raises(AttributeError):
        _ = created.no_such_column
