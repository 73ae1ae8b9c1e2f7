"""The clock as the API shows it: due date at submission, level, who must act, steps."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import run
from support import bearer

from mdph_bridge.domain.clock import PARIS
from mdph_bridge.extensions import Backends

pytestmark = pytest.mark.integration


def test_a_transfer_shows_its_deadlines_and_its_clock(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    transfer_id = submit(
        client, sender["Authorization"][7:], dossier(), {"piece_identite.pdf": PDF}
    )
    body = client.get(f"/api/v1/transfers/{transfer_id}", headers=sender).get_json()
    submitted = datetime.fromisoformat(body["soumis_le"]).astimezone(PARIS)
    due = datetime.fromisoformat(body["echeance"]).astimezone(PARIS)
    warn = datetime.fromisoformat(body["a_risque_le"]).astimezone(PARIS)
    assert (due.date() - submitted.date(), due.time()) == (timedelta(days=15), submitted.time())
    assert warn.date() - submitted.date() == timedelta(days=10)
    assert body["niveau"] == "dans_les_delais"
    assert body["horloge"]["cote_a_agir"] == "plateforme"
    assert body["horloge"]["etapes"]["soumis_pret"] is None

    run(app, backends, transfer_id)
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    inbound = client.get(f"/api/v1/inbound/{transfer_id}", headers=receiver).get_json()
    assert inbound["horloge"]["cote_a_agir"] == "destination"
    assert inbound["horloge"]["etapes"]["soumis_pret"] >= 0
    assert inbound["horloge"]["attente_expediteur_jours"] == 0
    assert inbound["echeance"] == body["echeance"]
