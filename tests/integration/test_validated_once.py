"""The dossier is validated once, at submission or correction; the worker checks its hash.

Through the real worker path on PostgreSQL: the schema's `load` is made to fail once the web has
validated, so any call the worker makes to it shows.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from dossiers import PDF, dossier, multipart, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import identity, restage_dossier, run, sealed_dossier, unpack
from sqlalchemy import update
from sqlalchemy.orm import Session
from support import bearer

from mdph_bridge.domain.age import generate_identity
from mdph_bridge.domain.sealing import Keyring, generate_staging_key, unseal
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer
from mdph_bridge.services.keys import register_key, revoke_key
from mdph_bridge.services.staging import reseal_staging
from mdph_bridge.services.submission import VALIDATING_CODE
from schemas.dossier import DossierSchema

pytestmark = pytest.mark.integration
FILES = {"piece_identite.pdf": PDF}


def sha256(data: dict[str, Any]) -> str:
    """The digest of the bytes `multipart` sends for `data`, validated by this release's code."""
    return hashlib.sha256(VALIDATING_CODE + json.dumps(data).encode()).hexdigest()


def digest_of(session: Session, transfer_id: uuid.UUID) -> str | None:
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    return transfer.dossier_sha256


@pytest.fixture
def schema_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The dossiers the schema's `load` is given from now on (it still validates them)."""
    calls: list[object] = []
    real_load = DossierSchema.load

    def counted(self: DossierSchema, data: Any, **kwargs: Any) -> Any:
        calls.append(data)
        return real_load(self, data, **kwargs)

    monkeypatch.setattr(DossierSchema, "load", counted)
    return calls


def refuse_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the dossier was validated again")

    monkeypatch.setattr(DossierSchema, "load", refuse)


def restage(app: Flask, session: Session, transfer_id: uuid.UUID, data: dict[str, Any]) -> None:
    """Replace the staged dossier behind the digest's back (it stays the submission's)."""
    restage_dossier(session, app.config["KEYRING"], transfer_id, json.dumps(data).encode())


def test_the_worker_checks_the_hash_and_does_not_validate_again(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = dossier()
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], data, FILES)
    assert digest_of(session, transfer_id) == sha256(data)
    refuse_the_schema(monkeypatch)

    assert run(app, backends, transfer_id) == State.READY

    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    assert transfer.dossier_sha256 is None  # kept no longer than the worker needs it
    blob = (backends.storage.root / transfer.package_key).read_bytes()  # type: ignore[operator]
    sent = json.loads(unpack(blob, [identity(demo, "62", "receiver")])["dossier.json"])
    # What the schema's load makes of it: numbers as floats, defaults filled in.
    hours = next(d["pch"]["heures_mensuelles"] for d in sent["droits"] if d["pch"])
    assert hours["prestataire"] == 60.0
    assert hours["mandataire_gestes_soins"] == 0
    assert sent["transfert"]["date_demenagement"] == data["transfert"]["date_demenagement"]


def test_resealing_the_staging_keeps_the_dossier_bound(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    rotated = Keyring.parse(f"{generate_staging_key('next')},{app.config['STAGING_KEYS']}")
    assert reseal_staging(session, backends.storage, rotated) == 2
    monkeypatch.setitem(app.config, "KEYRING", rotated)
    refuse_the_schema(monkeypatch)
    assert run(app, backends, transfer_id) == State.READY


def test_a_staged_dossier_not_the_one_validated_is_validated_in_full(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    schema_loads: list[object],
) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    valid, refused = (submit(client, token, dossier(), FILES) for _ in range(2))
    other = dossier()
    other["transfert"]["numero_dossier_origine"] = "59-2026-000001"
    restage(app, session, valid, other)
    changed = dossier()
    changed["beneficiaire"]["date_naissance"] = "1984-03-14"  # the NIR gives another year
    restage(app, session, refused, changed)
    del schema_loads[:]

    assert run(app, backends, valid) == State.READY
    assert len(schema_loads) == 1
    assert run(app, backends, refused) == State.REJECTED
    assert len(schema_loads) == 2
    transfer = session.get(Transfer, refused, populate_existing=True)
    assert transfer is not None
    assert transfer.dossier_sha256 is None  # the staging is shredded; a correction binds its own
    assert [p["code"] for p in transfer.problems] == ["beneficiaire.nir_annee"]


def test_a_transfer_staged_before_the_digest_is_validated_in_full(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    schema_loads: list[object],
) -> None:
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    session.execute(update(Transfer).where(Transfer.id == transfer_id).values(dossier_sha256=None))
    session.commit()
    del schema_loads[:]
    assert run(app, backends, transfer_id) == State.READY
    assert len(schema_loads) == 1


def test_a_correction_binds_the_corrected_dossier(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = dossier()
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], first, FILES)
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    assert run(app, backends, transfer_id) == State.REJECTED
    assert sealed_dossier(session, transfer_id) is None  # not kept past the rejection
    register_key(session, "62", "receiver", generate_identity()[1])
    files = {"justificatif.pdf": PDF}
    fixed = dossier(files=files)
    response = client.post(
        f"/api/v1/transfers/{transfer_id}/correction",
        **multipart(fixed, files),
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert response.status_code == 202, response.get_json()
    assert digest_of(session, transfer_id) == sha256(fixed) != sha256(first)
    sealed = sealed_dossier(session, transfer_id)  # the correction's, sealed in the row
    assert sealed is not None
    assert unseal(sealed, app.config["KEYRING"]) == json.dumps(fixed).encode()
    refuse_the_schema(monkeypatch)
    assert run(app, backends, transfer_id) == State.READY


def test_a_cancelled_transfer_keeps_no_digest_nor_sealed_dossier(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    transfer_id = submit(client, token, dossier(), FILES)
    cancelled = client.post(f"/api/v1/transfers/{transfer_id}/cancel", headers=bearer(token))
    assert cancelled.get_json()["etat"] == "cancelled"
    assert digest_of(session, transfer_id) is None
    assert sealed_dossier(session, transfer_id) is None
