"""The « Transfert reçu » page's opening script and signed receipt, on the real database."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from html import unescape
from typing import Any

from dossiers import PDF, dossier, multipart
from flask import Flask
from flows import run
from sqlalchemy.orm import Session
from support import bearer, sign_in, signed_receipt

from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer

SCRIPT = re.compile(r'<script type="module" src="([^"]+/build/ouverture\.js)" integrity="([^"]+)">')


def ready_transfer(app: Flask, backends: Backends, demo: dict[str, Any]) -> uuid.UUID:
    """A transfer from 59 to 62, packaged and ready to download."""
    files = {"piece_identite.pdf": PDF}
    response = app.test_client().post(
        "/api/v1/transfers",
        **multipart(dossier(files=files), files),
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert response.status_code == 202
    transfer_id = uuid.UUID(response.get_json()["id"])
    assert run(app, backends, transfer_id) == State.READY
    return transfer_id


def test_the_page_loads_the_bundled_script_with_its_integrity_and_names_its_libraries(
    app: Flask,
    web: Flask,
    demo: dict[str, Any],
    agents: dict[tuple[str, str], str],
    backends: Backends,
) -> None:
    transfer_id = ready_transfer(app, backends, demo)
    receiver = web.test_client()
    sign_in(receiver, agents[("62", "receiver")])
    page = receiver.get(f"/recus/{transfer_id}")
    match = SCRIPT.search(page.text)
    assert match is not None
    with receiver.get(match.group(1)) as script:
        assert script.status_code == 200
        served = hashlib.sha384(script.data).digest()
    assert match.group(2) == "sha384-" + base64.b64encode(served).decode()
    assert "Déchiffrement par age-encryption 0.3.1" in unescape(page.text)
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text  # no inline script
    # The medical package is offered to the script on the doctor's page only.
    assert 'data-paquet-medical=""' in page.text


def test_the_signed_receipt_from_the_page_is_checked_like_the_clients(
    app: Flask,
    web: Flask,
    demo: dict[str, Any],
    agents: dict[tuple[str, str], str],
    backends: Backends,
    session: Session,
) -> None:
    transfer_id = ready_transfer(app, backends, demo)
    receiver = web.test_client()
    token = sign_in(receiver, agents[("62", "receiver")])
    base = f"/recus/{transfer_id}"
    manifest = receiver.get(f"{base}/manifeste").get_json()
    assert manifest == session.get(Transfer, transfer_id).manifest  # type: ignore[union-attr]
    signed = signed_receipt(manifest, demo["62"]["cles"]["signing"])
    csrf = {"X-CSRFToken": token}

    assert receiver.post(f"{base}/recu-signe", json=signed).status_code == 400  # no CSRF token
    bad = receiver.post(f"{base}/recu-signe", json={"recu": {"date": ""}}, headers=csrf)
    assert bad.status_code == 422
    assert {e["chemin"] for e in bad.get_json()["erreurs"]} == {
        "recu.transfert",
        "recu.sha256_manifeste",
        "recu.date",
        "cle",
        "signature",
    }
    too_early = receiver.post(f"{base}/recu-signe", json=signed, headers=csrf)
    assert too_early.status_code == 409
    assert "Prêt à être téléchargé" in too_early.get_json()["erreurs"][0]["message"]

    with receiver.get(f"{base}/paquet") as package:
        assert package.status_code == 200
    wrong = signed_receipt(manifest, demo["59"]["cles"]["signing"])
    refused = receiver.post(f"{base}/recu-signe", json=wrong, headers=csrf)
    assert refused.status_code == 422
    assert refused.get_json()["erreurs"][0]["chemin"] == "cle"
    accepted = receiver.post(f"{base}/recu-signe", json=signed, headers=csrf)
    assert accepted.status_code == 200
    assert accepted.get_json() == {"adresse": base}
    session.expire_all()
    transfer = session.get(Transfer, transfer_id)
    assert transfer is not None
    assert (transfer.state, transfer.receipt) == (State.ACKNOWLEDGED, signed)
    page = unescape(receiver.get(base).text)
    assert "Accusé de réception signé par la clé de votre MDPH envoyé" in page

    sender = web.test_client()
    sign_in(sender, agents[("59", "caseworker")])
    assert sender.get(f"{base}/manifeste").status_code == 403
