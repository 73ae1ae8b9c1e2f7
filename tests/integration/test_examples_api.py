"""Each published example goes through the hub; warnings come back with the 202 and stay."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from dossiers import EXAMPLES, PDF, dossier, multipart
from flask import Flask
from flask.testing import FlaskClient
from flows import run
from support import bearer

from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends

pytestmark = pytest.mark.integration
CASES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "dossier.json").is_file())


@pytest.mark.parametrize("case", CASES)
def test_example_is_accepted_and_packaged(
    case: str, app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    data = json.loads((EXAMPLES / case / "dossier.json").read_text(encoding="utf-8"))
    files = {p.name: p.read_bytes() for p in (EXAMPLES / case / "pieces").iterdir()}
    origin = data["transfert"]["mdph_origine"]
    response = client.post(
        "/api/v1/transfers",
        **multipart(data, files),
        headers=bearer(demo[origin]["jetons"]["caseworker"]),
    )
    assert response.status_code == 202, response.get_json()
    assert run(app, backends, uuid.UUID(response.get_json()["id"])) == State.READY


def test_warnings_are_returned_and_kept_on_the_transfer(
    client: FlaskClient, demo: dict[str, Any]
) -> None:
    data = dossier(files={"piece_identite.pdf": PDF})
    move = data["transfert"]["date_demenagement"]
    data["droits"][0]["date_echeance"] = move[:8] + "28"  # ends in the month of the move
    token = demo["59"]["jetons"]["caseworker"]
    response = client.post(
        "/api/v1/transfers", **multipart(data, {"piece_identite.pdf": PDF}), headers=bearer(token)
    )
    assert response.status_code == 202, response.get_json()
    warnings = response.get_json()["avertissements"]
    assert ("droits[0].date_echeance", "avertissement.droit_echeance_proche") in {
        (w["chemin"], w["code"]) for w in warnings
    }
    later = client.get(response.headers["Location"], headers=bearer(token)).get_json()
    assert later["avertissements"] == warnings
