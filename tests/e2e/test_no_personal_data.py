"""After a full transfer the hub holds no personal data in clear: database, Redis, disk, logs."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import REDIS_DB
from dossiers import PDF, dossier, multipart
from flask.testing import FlaskClient
from processes import Process
from sqlalchemy import text
from sqlalchemy.orm import Session
from support import REDIS_URL, bearer, redis_values, signed_receipt

from mdph_bridge.extensions import Backends
from mdph_bridge.models import Base, Transfer

pytestmark = pytest.mark.e2e
SURNAME = "Zorglubovna"
FIRST_NAME = "Quetzalie"
STREET = "7 impasse Marqueurunique"
DOCUMENT_MARKER = b"MARQUEUR-PIECE-7f3a9c"


def test_full_transfer_leaves_no_personal_data_in_clear(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    processes: dict[str, Process],
    e2e_settings: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    document = PDF + DOCUMENT_MARKER
    data = dossier(files={"piece.pdf": document})
    data["beneficiaire"]["nom_naissance"] = SURNAME
    data["beneficiaire"]["prenoms"] = [FIRST_NAME]
    data["beneficiaire"]["adresse_nouvelle"]["ligne1"] = STREET
    nir = data["beneficiaire"]["nir"]
    response = client.post(
        "/api/v1/transfers",
        **multipart(data, {"piece.pdf": document}),
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert response.status_code == 202
    transfer_id = uuid.UUID(response.get_json()["id"])
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    deadline = time.monotonic() + 60
    while client.get(f"/api/v1/inbound/{transfer_id}", headers=receiver).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    base = f"/api/v1/inbound/{transfer_id}"
    with client.get(f"{base}/package", headers=receiver) as package:
        assert package.status_code == 200
    manifest = client.get(f"{base}/manifest", headers=receiver).get_json()
    signed = signed_receipt(manifest, demo["62"]["cles"]["signing"])
    assert client.post(f"{base}/receipt", json=signed, headers=receiver).status_code == 200
    # refusals must not log what was sent either: a bad file, a wrong token, a hostile body
    refused = dossier(files={"piece.pdf": document})
    refused["beneficiaire"]["date_naissance"] = SURNAME
    refused["beneficiaire"]["nom_naissance"] = SURNAME
    bad = client.post(
        "/api/v1/transfers",
        **multipart(refused, {"piece.pdf": document}),
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert bad.status_code == 422
    assert client.get(base, headers=bearer(f"mdphb_{SURNAME}")).status_code == 401
    hostile = client.post(
        f"{base}/return",
        data="{" + f'"motif": "{SURNAME}", ' * 3000 + "}",
        content_type="application/json",
        headers=receiver,
    )
    assert hostile.status_code in (400, 413)

    needles = [
        SURNAME.encode(),
        FIRST_NAME.encode(),
        STREET.encode(),
        nir.encode(),
        DOCUMENT_MARKER,
    ]
    haystacks: dict[str, bytes] = {}
    with backends.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            query = f"SELECT row_to_json(t)::text FROM {table.name} t"  # noqa: S608 - our tables
            rows = conn.execute(text(query)).scalars()
            haystacks[f"table {table.name}"] = "\n".join(rows).encode()
    store = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
    haystacks["redis"] = b"\n".join(redis_values(store))
    store.close()
    for path in Path(backends.storage.root).rglob("*"):
        if path.is_file():
            haystacks[f"blob {path.relative_to(backends.storage.root)}"] = path.read_bytes()
    for name in ("worker.log", "beat.log"):
        haystacks[name] = (Path(e2e_settings["VAR_DIR"]) / name).read_bytes()
    haystacks["web logs"] = caplog.text.encode()

    assert any(name.startswith("blob packages/") for name in haystacks)  # the scan saw the package
    audit = haystacks["table audit_entries"] + haystacks["table audit_pending"]
    assert str(transfer_id).encode() in audit  # and the audit log, sealed or not yet
    assert session.get(Transfer, transfer_id) is not None
    found = [
        (where, needle) for where, hay in haystacks.items() for needle in needles if needle in hay
    ]
    assert found == []
