"""The claim on SQLite (the embedded default) hands the worker the staged dossier's digest and
the sealed dossier its row keeps."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import State
from mdph_bridge.models import Transfer, utcnow
from mdph_bridge.services.processing import Limits, claim

pytestmark = pytest.mark.unit
LIMITS = Limits(lease=timedelta(minutes=5), max_attempts=3)
DIGEST = "ab" * 32
SEALED = b"MDPHSEAL1\n sealed bytes"


def add_transfer(session: Session, state: State, **values: object) -> uuid.UUID:
    now = utcnow()
    transfer = Transfer(
        origin_code="59",
        dest_code="62",
        state=state.value,
        numero_dossier_origine="59-2024-004217",
        motif="demenagement",
        warn_at=now + timedelta(days=10),
        due_at=now + timedelta(days=15),
        staging_key_id="k1",
        dossier_sha256=DIGEST,
        sealed_dossier=SEALED,
        **values,
    )
    session.add(transfer)
    session.commit()
    return transfer.id


def test_the_usual_claim_returns_the_digest_and_the_sealed_dossier(session: Session) -> None:
    claimed = claim(session, add_transfer(session, State.RECEIVED), LIMITS)
    assert claimed is not None
    assert (claimed.dossier_sha256, claimed.sealed_dossier) == (DIGEST, SEALED)


def test_a_claim_after_an_expired_lease_returns_the_digest_and_the_sealed_dossier(
    session: Session,
) -> None:
    expired = {"lease_token": "old", "lease_until": utcnow() - timedelta(seconds=1)}
    claimed = claim(session, add_transfer(session, State.VALIDATING, **expired), LIMITS)
    assert claimed is not None
    assert (claimed.dossier_sha256, claimed.sealed_dossier) == (DIGEST, SEALED)
