"""Key rotation: departments' keys that expire, and the hub's staging keys."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import sealed_dossier, staged_as_before_0018
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from mdph_bridge.blobpaths import in_staging_folder, staged_dossier, staged_piece
from mdph_bridge.domain.age import generate_identity
from mdph_bridge.domain.sealing import Keyring, SealReader, generate_staging_key
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import DepartementKey, Transfer, utcnow
from mdph_bridge.services import keys
from mdph_bridge.services.keys import expiring_keys, register_key, revoke_key
from mdph_bridge.services.processing import Limits, process_transfer
from mdph_bridge.services.staging import reseal_staging

pytestmark = pytest.mark.integration


def test_keys_ending_soon_are_listed_and_old_keys_can_be_rotated(
    app: Flask, client: FlaskClient, demo: dict[str, Any], session: Session, backends: Backends
) -> None:
    _, recipient = generate_identity()
    soon = register_key(session, "62", "receiver", recipient, utcnow() + timedelta(days=10))
    assert [k.id for k in expiring_keys(session, timedelta(days=30))] == [soon.id]
    assert expiring_keys(session, timedelta(days=5)) == []

    # Both keys valid: new packages are encrypted to both, so either private key opens them.
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    limits = Limits(timedelta(minutes=5), 3)
    cfg = app.config

    def run(tid: uuid.UUID) -> State | None:
        return process_transfer(
            backends.sessions(),
            backends.storage,
            cfg["KEYRING"],
            cfg["SIGNER"],
            cfg["RULES"],
            limits,
            tid,
        )

    assert run(transfer_id) == State.READY
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    later = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert run(later) == State.READY

    first = session.get(Transfer, transfer_id, populate_existing=True)
    second = session.get(Transfer, later, populate_existing=True)
    assert first is not None
    assert second is not None
    assert sorted(first.package_key_ids or []) == sorted(
        [demo["62"]["cles"]["receiver"]["id"], soon.id]
    )
    assert second.package_key_ids == [soon.id]


def test_staging_blobs_are_resealed_under_the_new_key(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each staged transfer's sealed dossier (in its row; in a file if staged before migration
    0018) and blobs, found by their names in either layout: the shared `staging/` folder is not
    read whole once per transfer (the reseal's cost squared)."""
    transfer_id, before = (
        submit(client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF})
        for _ in range(2)
    )
    staged_as_before_0018(session, backends, before)
    for key in (staged_dossier(before), staged_piece(before, 0)):  # staged before 2026-12-05
        backends.storage.move(key, in_staging_folder(key))
    old = app.config["STAGING_KEYS"]
    rotated = Keyring.parse(f"{generate_staging_key('next')},{old}")
    with monkeypatch.context() as patched:
        patched.setattr(backends.storage, "list_starting", None)  # not to be called
        assert reseal_staging(session, backends.storage, rotated) == 4
    assert reseal_staging(session, backends.storage, rotated) == 0  # idempotent
    assert len(backends.storage.list("staging")) == 3
    for key in backends.storage.list("staging"):
        with backends.storage.open(key) as blob:
            assert SealReader(blob, rotated).key_id == "next"
    in_row = sealed_dossier(session, transfer_id)
    assert in_row is not None
    assert SealReader(io.BytesIO(in_row), rotated).key_id == "next"
    assert sealed_dossier(session, before) is None
    # The old key can now be dropped: the worker processes with the new key alone.
    only_next = Keyring([rotated.get("next")])
    limits = Limits(timedelta(minutes=5), 3)
    for transfer in (transfer_id, before):
        state = process_transfer(
            backends.sessions(),
            backends.storage,
            only_next,
            app.config["SIGNER"],
            app.config["RULES"],
            limits,
            transfer,
        )
        assert state == State.READY


def test_a_destinations_keys_are_read_once_per_process_and_forgotten_on_change(
    backends: Backends, session: Session, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(backends.engine, "before_cursor_execute", count)
    first = keys.keys_by_usage(session, "62")
    again = keys.keys_by_usage(session, "62")
    assert first == again
    assert len(statements) == 1  # the second call used the process's copy

    receiver = first["receiver"][0].id
    revoke_key(session, receiver)
    assert receiver not in {k.id for k in keys.keys_by_usage(session, "62")["receiver"]}

    # A change made by another process is seen once the copy is older than the delay.
    other = register_key(session, "62", "receiver", generate_identity()[1])
    assert other.id in {k.id for k in keys.keys_by_usage(session, "62")["receiver"]}
    session.execute(
        update(DepartementKey).where(DepartementKey.id == other.id).values(revoked_at=utcnow())
    )
    session.commit()
    assert other.id in {k.id for k in keys.keys_by_usage(session, "62")["receiver"]}
    monkeypatch.setattr(keys, "KEYS_CACHE_SECONDS", 0.0)
    assert other.id not in {k.id for k in keys.keys_by_usage(session, "62")["receiver"]}
    event.remove(backends.engine, "before_cursor_execute", count)
