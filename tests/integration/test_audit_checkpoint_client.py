"""The receiving client keeps the hub's latest audit checkpoint and warns when a newer one does not
extend it; the hub serves checkpoints and the proof between two of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from audit_tampering import tamper
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from test_inbound_pull import Pull, hub_url, pull_62  # noqa: F401 - fixtures

from mdph_bridge.client.checkpoints import KEPT
from mdph_bridge.domain.checkpoints import extends, open_note
from mdph_bridge.services.audit import SYSTEM, publics_of, record, seal_all

pytestmark = pytest.mark.integration


def entries(session: Session, signer: Any, count: int) -> None:
    for i in range(count):
        record(session, SYSTEM, "inbound.detail", "transfer", i, "200")
        session.commit()
    seal_all(session, signer)


def test_the_hub_serves_its_checkpoint_and_the_proof_since_an_older_one(
    app: Any, client: FlaskClient, session: Session
) -> None:
    assert client.get("/api/v1/audit/checkpoint").get_json()["point_de_controle"] is None
    signer, publics = app.config["SIGNER"], publics_of(app.config["SIGNER"])
    entries(session, signer, 3)
    first = open_note(
        client.get("/api/v1/audit/checkpoint").get_json()["point_de_controle"], publics
    )
    entries(session, signer, 4)
    answer = client.get("/api/v1/audit/checkpoint?depuis=3").get_json()
    newer = open_note(answer["point_de_controle"], publics)
    assert (first.size, newer.size, len(answer["preuve"])) == (3, 7, 4)
    assert extends(first, newer, answer["preuve"])
    assert client.get("/api/v1/audit/checkpoint?depuis=-1").status_code == 422


def test_pull_keeps_the_latest_checkpoint_and_warns_when_the_log_was_rewritten(
    app: Any,
    session: Session,
    tmp_path: Path,
    pull_62: Pull,  # noqa: F811 - the fixture imported above
) -> None:
    signer, out = app.config["SIGNER"], tmp_path / "out"
    entries(session, signer, 10)
    first = pull_62(out)
    assert first.exit_code == 0, first.output
    assert open_note((out / KEPT).read_text(), publics_of(signer)).size >= 10
    entries(session, signer, 2)
    assert "ATTENTION" not in (second := pull_62(out)).output, second.output
    kept = (out / KEPT).read_text()
    tamper(session, "edit")  # the log rewritten in the database, then sealed and signed again
    entries(session, signer, 1)
    warned = pull_62(out)
    assert "ATTENTION : le journal d'audit de la plateforme ne prolonge pas" in warned.output
    assert (out / KEPT).read_text() == kept
