"""The worker's use case on real PostgreSQL: package, encrypt, mark ready exactly once."""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import (
    LIMITS,
    MEDICAL_PDF,
    identity,
    restage_dossier,
    run,
    sealed_dossier,
    staged_as_before_0018,
    unpack,
)
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Update
from support import bearer, files_under, sent_statements

from mdph_bridge import storage as storage_module
from mdph_bridge.blobpaths import in_staging_folder, staged_dossier, staged_piece
from mdph_bridge.domain.age import AgeError
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import AuditPending, Departement, Transfer, TransferEvent, utcnow
from mdph_bridge.services import keys, processing
from mdph_bridge.services.keys import revoke_key
from mdph_bridge.services.processing import (
    AttemptFailedError,
    claim,
    retry_failed,
)
from mdph_bridge.services.staging import drop_unneeded_staging
from mdph_bridge.services.sweeper import remove_orphans, stale_transfers

pytestmark = pytest.mark.integration


def events(session: Session, transfer_id: uuid.UUID) -> list[str]:
    session.expire_all()
    query = (
        select(TransferEvent.to_state)
        .where(TransferEvent.transfer_id == transfer_id)
        .order_by(TransferEvent.id)
    )
    return list(session.scalars(query))


def test_processing_makes_packages_only_the_destination_can_read(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    files = {"piece_identite.pdf": PDF}
    data = dossier(
        files=files, medical={"certificat.pdf": MEDICAL_PDF}, evaluation={"diagnostic": "G80.1"}
    )
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], data, {**files, "certificat.pdf": MEDICAL_PDF}
    )

    assert run(app, backends, transfer_id) == State.READY

    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    assert transfer.state == State.READY
    assert events(session, transfer_id) == ["received", "validating", "ready"]
    # The milestone, the destination's sequence and the lease, as the transition to ready sets them.
    assert transfer.ready_at == transfer.state_changed_at
    assert transfer.inbound_seq is not None
    assert transfer.lease_token is None
    assert transfer.lease_until is None
    assert transfer.attempts == 1
    assert transfer.package_key_ids == [demo["62"]["cles"]["receiver"]["id"]]
    assert transfer.medical_package_key_ids == [demo["62"]["cles"]["doctor"]["id"]]
    admin_blob = (backends.storage.root / transfer.package_key).read_bytes()  # type: ignore[operator]
    medical_blob = (backends.storage.root / transfer.medical_package_key).read_bytes()  # type: ignore[operator]
    assert len(admin_blob) == transfer.package_size

    admin = unpack(admin_blob, [identity(demo, "62", "receiver")])
    assert set(admin) == {
        "dossier.json",
        "pieces/01-piece_identite.pdf",
        "rapport_harmonisation.json",
        "rapport_harmonisation.html",
    }
    assert admin["pieces/01-piece_identite.pdf"] == PDF
    sent = json.loads(admin["dossier.json"])
    assert sent["beneficiaire"]["prenoms"] == ["Camille"]
    assert "evaluation_medicale" not in sent
    assert [p["nom_fichier"] for p in sent["pieces"]] == ["piece_identite.pdf"]

    medical = unpack(medical_blob, [identity(demo, "62", "doctor")])
    assert medical["pieces/02-certificat.pdf"] == MEDICAL_PDF
    assert json.loads(medical["medical.json"])["evaluation_medicale"] == {"diagnostic": "G80.1"}
    for wrong in (identity(demo, "62", "receiver"), identity(demo, "59", "doctor")):
        with pytest.raises(AgeError):
            unpack(medical_blob, [wrong])
    with pytest.raises(AgeError):
        unpack(admin_blob, [identity(demo, "59", "receiver")])

    # The staging payload is shredded; only the two packages remain.
    assert [
        p.relative_to(backends.storage.root).parts[0] for p in files_under(backends.storage.root)
    ] == [
        "packages",
        "packages",
    ]


def test_replaying_processing_is_a_no_op(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert run(app, backends, transfer_id) == State.READY
    assert run(app, backends, transfer_id) is None
    assert events(session, transfer_id) == ["received", "validating", "ready"]


def test_concurrent_deliveries_process_once(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    results: list[State | None] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        with app.app_context():
            barrier.wait()
            results.append(run(app, backends, transfer_id))
            backends.sessions.remove()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results, key=str) == [None, None, None, State.READY]
    assert events(session, transfer_id).count("ready") == 1
    assert len(backends.storage.list_starting(f"packages/{transfer_id}.")) == 1


def test_an_expired_lease_is_taken_over_and_leftovers_are_removed(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """The attempt that wins removes a lost attempt's folder of the layout before 2026-12-05 (of
    a transfer staged before 0018); a lost attempt's package under the new names is the orphan
    sweeper's (finding it at `ready` would read the shared `packages/` folder whole)."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    staged_as_before_0018(session, backends, transfer_id)
    claimed = claim(session, transfer_id, LIMITS)
    assert claimed is not None
    token = claimed.token
    assert claim(session, transfer_id, LIMITS) is None  # lease still held
    with backends.storage.writer(f"packages/{transfer_id}/{token}/dossier.age") as blob:
        blob.write(b"half-written by a worker that died, before 2026-12-05")
    lost = f"packages/{transfer_id}.{token}-dossier.age"
    with backends.storage.writer(lost) as blob:
        blob.write(b"written by a worker that died before ready")
    session.execute(
        update(Transfer)
        .where(Transfer.id == transfer_id)
        .values(lease_until=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert stale_transfers(session, timedelta(0)) == [transfer_id]

    assert run(app, backends, transfer_id) == State.READY
    assert events(session, transfer_id) == ["received", "validating", "validating", "ready"]
    # The folder of the layout before 2026-12-05 goes with the attempt that wrote there.
    assert backends.storage.list(f"packages/{transfer_id}") == []
    remaining = backends.storage.list_starting(f"packages/{transfer_id}.")
    assert len(remaining) == 2
    assert lost in remaining
    keyring = app.config["KEYRING"]
    assert remove_orphans(session, backends.storage, keyring, timedelta(seconds=-1)) == 1
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    assert backends.storage.list_starting(f"packages/{transfer_id}.") == [transfer.package_key]


def test_the_ready_statement_s_json_is_written_by_orjson_and_read_back_the_same(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """The `ready` statement's JSON columns are written by orjson (compact, UTF-8), not by the
    standard library's encoder; what is read back is what the worker wrote."""
    data = dossier(
        files={"piece_identite.pdf": PDF},
        medical={"certificat.pdf": MEDICAL_PDF},
        evaluation={"diagnostic": "G80.1"},
    )
    files = {"piece_identite.pdf": PDF, "certificat.pdf": MEDICAL_PDF}
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], data, files)
    assert run(app, backends, transfer_id) == State.READY
    columns = ("package_key_ids", "medical_package_key_ids", "manifest", "harmonisation")
    as_stored = (
        "SELECT package_key_ids::text, medical_package_key_ids::text, manifest::text,"
        " harmonisation::text FROM transfers WHERE id = :id"
    )
    stored = session.execute(text(as_stored), {"id": transfer_id}).one()
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    for column, written in zip(columns, stored, strict=True):
        value = getattr(transfer, column)
        assert value
        assert written == orjson.dumps(value).decode()
    assert "é" in stored[3]  # a label of the summary, not escaped


def test_a_transfer_staged_since_0018_is_not_looked_for_in_older_layouts_the_sweeper_is(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """The worker looks for no folder of the layouts before 2026-12-05 for a transfer staged
    since migration 0018 (which came after them); one left anyway (by hand here) is removed by
    the orphan sweeper."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    storage = backends.storage
    left = (f"staging/{transfer_id}/piece-0", f"packages/{transfer_id}/0123abcd-dossier.age")
    for key in left:
        with storage.writer(key) as blob:
            blob.write(b"left by hand in a layout before 2026-12-05")

    assert run(app, backends, transfer_id) == State.READY
    assert storage.list_starting(f"staging/{transfer_id}.") == []
    assert [*storage.list(f"staging/{transfer_id}"), *storage.list(f"packages/{transfer_id}")] == [
        left[0],
        left[1],
    ]
    keyring = app.config["KEYRING"]
    assert remove_orphans(session, storage, keyring, timedelta(seconds=-1)) == 2
    assert storage.list(f"staging/{transfer_id}") == storage.list(f"packages/{transfer_id}") == []


def claimed_then_lapsed(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> tuple[uuid.UUID, Update]:
    """A transfer claimed once whose lease has run out: the next claim is the slower one. With
    the update of its row, for the tests to change it behind that claim."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert claim(session, transfer_id, LIMITS) is not None
    row = update(Transfer).where(Transfer.id == transfer_id)
    session.execute(row.values(lease_until=utcnow() - timedelta(seconds=1)))
    session.commit()
    return transfer_id, row


def test_a_takeover_hands_over_the_dossier_of_the_row_it_claimed_not_of_its_first_read(
    client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """The slower claim reads the row under its lock, then moves it. A row changed just before
    (here, as if a correction had staged another dossier and its attempt's lease had expired)
    hands over the dossier of the row the claim took."""
    transfer_id, expired = claimed_then_lapsed(client, demo, session)
    other = {"sealed_dossier": b"MDPHSEAL1\n another dossier", "dossier_sha256": "cd" * 32}
    changed: list[bool] = []

    def change_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        """Just before the claim's read of the row, another connection changes it."""
        if changed or not statement.endswith("FOR UPDATE"):
            return
        changed.append(True)
        with backends.engine.begin() as elsewhere:
            elsewhere.execute(expired.values(**other))

    event.listen(backends.engine, "before_cursor_execute", change_first)
    try:
        claimed = claim(session, transfer_id, LIMITS)
    finally:
        event.remove(backends.engine, "before_cursor_execute", change_first)

    assert changed
    assert claimed is not None
    assert (claimed.sealed_dossier, claimed.dossier_sha256) == tuple(other.values())


def test_the_slower_claim_counts_the_attempts_of_the_row_it_locked(
    client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """Another attempt cannot count attempts between the slower claim's read of the row and its
    update (here, up to the limit): the event numbers the attempt the row counts, within
    `max_attempts`."""
    transfer_id, expired = claimed_then_lapsed(client, demo, session)
    tried: list[bool] = []

    def spend_after_read(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        """Just after the claim read the row, another connection spends its attempts."""
        if tried or not statement.startswith("SELECT transfers."):
            return
        tried.append(True)
        try:
            with backends.engine.begin() as elsewhere:
                elsewhere.execute(text("SET LOCAL lock_timeout = '200ms'"))
                elsewhere.execute(expired.values(attempts=LIMITS.max_attempts))
        except OperationalError:  # the row is locked until the claim commits
            pass

    event.listen(backends.engine, "after_cursor_execute", spend_after_read)
    try:
        claim(session, transfer_id, LIMITS)
    finally:
        event.remove(backends.engine, "after_cursor_execute", spend_after_read)

    assert tried
    session.expire_all()
    attempts = session.scalar(select(Transfer.attempts).where(Transfer.id == transfer_id))
    last = select(TransferEvent.detail).where(TransferEvent.transfer_id == transfer_id)
    detail = session.scalars(last.order_by(TransferEvent.id.desc()).limit(1)).one()
    assert attempts is not None
    assert attempts <= LIMITS.max_attempts
    assert detail == {"tentative": attempts}


def test_failed_attempts_release_the_transfer_then_fail_it(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    staged = backends.storage.root / staged_piece(transfer_id, 0)
    good = staged.read_bytes()
    staged.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # corrupt the sealed blob

    for _ in range(LIMITS.max_attempts):
        with pytest.raises(AttemptFailedError):
            run(app, backends, transfer_id)
        transfer = session.get(Transfer, transfer_id, populate_existing=True)
        assert transfer is not None
        assert transfer.state == State.RECEIVED
    assert run(app, backends, transfer_id) is None
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    assert transfer.state == State.FAILED
    assert transfer.problems[0]["code"] == "traitement.echec"
    assert backends.storage.list_starting(f"packages/{transfer_id}.") == []

    staged.write_bytes(good)  # a human fixed the cause
    assert retry_failed(session, transfer_id, "admin:test")
    assert run(app, backends, transfer_id) == State.READY


def test_destination_key_revoked_before_processing_rejects_with_reasons(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])

    assert run(app, backends, transfer_id) == State.REJECTED

    detail = client.get(
        f"/api/v1/transfers/{transfer_id}", headers=bearer(demo["59"]["jetons"]["caseworker"])
    )
    body = detail.get_json()
    assert body["etat"] == "rejected"
    assert body["erreurs"][0]["code"] == "transfert.destination_sans_cle"
    assert backends.storage.list("staging") == []


def test_a_worker_rejection_keeps_no_personal_data_on_the_hub(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    # The staged dossier no longer passes (as if the rules had changed since the submission):
    # its NIR gives another birth year, and a file name, a person's name, is declared twice.
    changed = dossier(files={"dupont_jeanne.pdf": PDF})
    changed["pieces"] *= 2
    changed["beneficiaire"]["date_naissance"] = "1984-03-14"
    restage_dossier(session, app.config["KEYRING"], transfer_id, json.dumps(changed).encode())

    assert run(app, backends, transfer_id) == State.REJECTED
    assert sealed_dossier(session, transfer_id) is None  # not kept past the rejection
    assert backends.storage.list("staging") == []

    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    codes = {p["code"] for p in transfer.problems}
    assert {"beneficiaire.nir_annee", "piece.nom_double"} <= codes
    stored = json.dumps(transfer.problems, ensure_ascii=False)
    for personal in ("285035935012357", "85", "1984", "dupont", "piece_identite.pdf"):
        assert personal not in stored, personal
    assert "L'année de naissance inscrite dans le NIR (…)" in stored


def test_stale_received_transfers_are_found_by_the_sweeper(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert stale_transfers(session, timedelta(minutes=5)) == []
    session.execute(
        update(Transfer)
        .where(Transfer.id == transfer_id)
        .values(state_changed_at=utcnow() - timedelta(minutes=6))
    )
    session.commit()
    assert stale_transfers(session, timedelta(minutes=5)) == [transfer_id]
    # Woken once: not sent again before another quiet period, so a long outage does not
    # flood the queue with copies.
    assert stale_transfers(session, timedelta(minutes=5)) == []
    session.execute(
        update(Transfer)
        .where(Transfer.id == transfer_id)
        .values(woken_at=utcnow() - timedelta(minutes=6))
    )
    session.commit()
    assert stale_transfers(session, timedelta(minutes=5)) == [transfer_id]


def test_orphan_blobs_from_crashes_are_removed_and_live_ones_kept(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    storage = backends.storage
    done = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert run(app, backends, done) == State.READY
    waiting = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    ghost, old_ghost = uuid.uuid4(), uuid.uuid4()  # the web process died before its commit
    live = set(storage.list_starting(f"packages/{done}."))
    # A web process killed while a document streamed in under its new transfer's staging key.
    (storage.root / staged_piece(uuid.uuid4(), 0)).write_bytes(b"half a document")
    for key in (
        f"incoming/{uuid.uuid4().hex}",
        staged_dossier(ghost),
        f"staging/{old_ghost}/dossier",  # a transfer's own folder, before 2026-12-05
        staged_piece(done, 3),  # what a correction cut short left, after its packaging
        f"packages/{done}.dead-dossier.age",
        f"packages/{done}.dead-medical.age",
        f"packages/{done}/hdead-dossier.age",  # the transfer's own folder, before 2026-12-05
        f"packages/{done}/olddead/dossier.age",  # an attempt's own folder, before that
    ):
        with storage.writer(key) as blob:
            blob.write(b"ciphertext")
    # A worker killed while writing a package leaves an unfinished blob of its attempt.
    packages = storage.root / "packages"
    (packages / f"{done}.killed-dossier.age.0f1e2d.partial").write_bytes(b"half a package")
    (packages / str(done) / "oldkilled").mkdir()
    (packages / str(done) / "oldkilled" / "dossier.age.0f1e2d.partial").write_bytes(b"half")

    keyring = app.config["KEYRING"]
    assert remove_orphans(session, storage, keyring, timedelta(hours=1)) == 0  # too recent
    assert remove_orphans(session, storage, keyring, timedelta(seconds=-1)) == 10
    assert files_under(packages) == [storage.root / key for key in sorted(live)]

    assert storage.list("incoming") == []
    assert storage.list("staging") == [staged_piece(waiting, 0)]  # its dossier is in its row
    assert run(app, backends, waiting) == State.READY


def test_a_transfer_s_blobs_have_no_folder_of_their_own(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """`staging/<id>.piece-<n>`, `packages/<id>.<lease token>-dossier.age`: no folder to create
    (an inode more, a slow one on a file system without a journal) and delete per transfer; the
    dossier, sealed, in the transfer's row (no file to create, read and delete at all)."""
    files = {"piece_identite.pdf": PDF}
    data = dossier(files=files, medical={"certificat.pdf": MEDICAL_PDF})
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], data, {**files, "certificat.pdf": MEDICAL_PDF}
    )
    root = backends.storage.root
    assert sorted(p.name for p in (root / "staging").iterdir()) == [
        f"{transfer_id}.piece-0",
        f"{transfer_id}.piece-1",
    ]
    assert run(app, backends, transfer_id) == State.READY
    assert sealed_dossier(session, transfer_id) is None  # cleared by `ready`
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    token = transfer.package_key.split(".")[1].split("-")[0]  # type: ignore[union-attr]
    assert (transfer.package_key, transfer.medical_package_key) == (
        f"packages/{transfer_id}.{token}-dossier.age",
        f"packages/{transfer_id}.{token}-medical.age",
    )
    assert sorted(p.name for p in (root / "packages").iterdir()) == [
        f"{transfer_id}.{token}-dossier.age",
        f"{transfer_id}.{token}-medical.age",
    ]
    assert list((root / "staging").iterdir()) == []


def test_the_worker_reads_the_dossier_the_claim_returns_and_opens_only_the_documents(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sealed dossier comes with the claim's own statement: no file of it is opened."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert sealed_dossier(session, transfer_id) is not None
    opened: list[str] = []
    real_open = backends.storage.open

    def noted(key: str) -> Any:
        opened.append(key)
        return real_open(key)

    monkeypatch.setattr(backends.storage, "open", noted)
    assert run(app, backends, transfer_id) == State.READY
    assert opened == [staged_piece(transfer_id, 0)]
    assert sealed_dossier(session, transfer_id) is None


def test_a_transfer_staged_before_its_dossier_was_kept_in_its_row_is_read_from_its_file(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """Staged before migration 0018, the dossier is a file (`staging/<id>.dossier`): it is
    read there, whether claimed in one statement or retaken after a lease expired, then shredded
    with the documents."""
    token = demo["59"]["jetons"]["caseworker"]
    fresh, retaken = (
        submit(client, token, dossier(), {"piece_identite.pdf": PDF}) for _ in range(2)
    )
    for transfer_id in (fresh, retaken):
        staged_as_before_0018(session, backends, transfer_id)
    assert claim(session, retaken, LIMITS) is not None  # a worker that died: its lease expires
    session.execute(update(Transfer).where(Transfer.id == retaken).values(lease_until=utcnow()))
    session.commit()

    for transfer_id in (fresh, retaken):
        assert run(app, backends, transfer_id) == State.READY
    assert backends.storage.list("staging") == []


def test_a_staged_dossier_left_in_a_row_that_no_longer_needs_it_is_cleared(
    client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """Each step out of the states that need the staging clears it; the sweeper's deletion
    under the row lock clears one any other way left (here, a state set by hand)."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    session.execute(update(Transfer).where(Transfer.id == transfer_id).values(state="rejected"))
    session.commit()
    assert drop_unneeded_staging(session, backends.storage, transfer_id)
    assert sealed_dossier(session, transfer_id) is None
    assert backends.storage.list("staging") == []


def test_a_payload_staged_in_its_transfer_s_folder_is_packaged_and_removed(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """A transfer staged before 2026-12-05, in `staging/<id>/`, is read there, then shredded."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    staged_as_before_0018(session, backends, transfer_id)
    storage = backends.storage
    for key in (staged_dossier(transfer_id), staged_piece(transfer_id, 0)):
        storage.move(key, in_staging_folder(key))
    assert storage.list("staging") == [
        f"staging/{transfer_id}/dossier",
        f"staging/{transfer_id}/piece-0",
    ]
    assert run(app, backends, transfer_id) == State.READY
    assert list((storage.root / "staging").iterdir()) == []
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    with storage.open(transfer.package_key) as blob:  # type: ignore[arg-type]
        sent = json.loads(unpack(blob.read(), [identity(demo, "62", "receiver")])["dossier.json"])
    assert [p["nom_fichier"] for p in sent["pieces"]] == ["piece_identite.pdf"]


def test_documents_are_named_by_their_real_type_in_the_package(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    files = {"certificat.hta": PDF}  # a PDF disguised as an HTML application
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)
    assert run(app, backends, transfer_id) == State.READY
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    blob = (backends.storage.root / transfer.package_key).read_bytes()  # type: ignore[operator]
    assert set(unpack(blob, [identity(demo, "62", "receiver")])) == {
        "dossier.json",
        "pieces/01-certificat.pdf",
        "rapport_harmonisation.json",
        "rapport_harmonisation.html",
    }


def test_both_packages_are_written_in_place_flushed_then_their_folder_once_before_ready(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each package is written under its key (no temporary name to rename) and flushed, then
    their one folder once, before the `ready` that points to them: durable, one folder flush."""
    files = {"piece_identite.pdf": PDF}
    data = dossier(
        files=files, medical={"certificat.pdf": MEDICAL_PDF}, evaluation={"diagnostic": "G80.1"}
    )
    caseworker = demo["59"]["jetons"]["caseworker"]
    transfer_id = submit(client, caseworker, data, {**files, "certificat.pdf": MEDICAL_PDF})
    packages = backends.storage.root / "packages"
    events: list[tuple[str, Path]] = []
    fsync, fsync_path, replace = os.fsync, storage_module.fsync_path, os.replace
    execute = psycopg.Cursor.execute

    def flushed_file(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.is_file():  # a folder's flush is seen by `fsync_path`
            events.append(("flush file", path))
        fsync(fd)

    def flushed(path: Path) -> None:
        events.append(("flush folder", Path(path)))
        fsync_path(path)

    def renamed(src: Any, dst: Any) -> None:
        replace(src, dst)
        events.append(("rename", Path(dst)))

    def sent(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if "UPDATE departements" in str(query):
            events.append(("ready", packages))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(storage_module.os, "fsync", flushed_file)
    monkeypatch.setattr(storage_module, "fsync_path", flushed)
    monkeypatch.setattr(storage_module.os, "replace", renamed)
    monkeypatch.setattr(psycopg.Cursor, "execute", sent)
    assert run(app, backends, transfer_id) == State.READY
    monkeypatch.undo()

    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    root = backends.storage.root
    assert [(kind, p) for kind, p in events if packages in (p, p.parent)] == [
        ("flush file", (root / transfer.package_key).resolve()),  # type: ignore[operator]
        ("flush file", (root / transfer.medical_package_key).resolve()),  # type: ignore[operator]
        ("flush folder", packages),
        ("ready", packages),
    ]


def test_the_claim_and_the_ready_statement_each_run_in_autocommit(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """The claim's one statement and the `ready` one, its audit entry in it, each run in
    autocommit (no BEGIN, no COMMIT round trip), on a connection given back to the pool as it
    was."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    with sent_statements() as sent:
        assert run(app, backends, transfer_id) == State.READY
    autocommit = [
        (writes, s.autocommit)
        for s in sent
        for writes in ("UPDATE transfers", "INSERT INTO audit_")
        if writes in s.sql
    ]

    if backends.engine.dialect.name == "postgresql":
        assert autocommit == [
            ("UPDATE transfers", True),  # the claim
            ("UPDATE transfers", True),  # ready
            ("INSERT INTO audit_", True),  # its audit entry, in the same statement
        ]
        with backends.engine.connect() as pooled:
            assert pooled.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]


def test_the_claim_and_the_ready_statement_go_by_the_driver_prepared(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    """On PostgreSQL the worker's two statements are built once and sent by psycopg itself,
    prepared: SQLAlchemy's execution, which cost as much client CPU again, never sees them."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    executed: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        executed.append(statement)

    event.listen(backends.engine, "before_cursor_execute", seen)
    try:
        with sent_statements() as sent:
            assert run(app, backends, transfer_id) == State.READY
    finally:
        event.remove(backends.engine, "before_cursor_execute", seen)
    moves = [s for s in sent if "UPDATE transfers" in s.sql]
    assert len(moves) == 2
    assert all(s.prepare for s in moves)
    assert not [sql for sql in executed if "UPDATE transfers" in sql]


def test_the_driver_s_statements_run_on_the_cursor_their_connection_keeps(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The claim and the `ready` statement of each attempt run on one cursor per pooled
    connection, kept with it, not on a cursor made for each statement."""
    caseworker = demo["59"]["jetons"]["caseworker"]
    ids = [submit(client, caseworker, dossier(), {"piece_identite.pdf": PDF}) for _ in range(3)]
    backends.engine.dispose()  # a pool that starts empty: one connection serves every statement
    cursors: list[psycopg.Cursor[Any]] = []
    execute = psycopg.Cursor.execute

    def sent(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("prepare"):
            cursors.append(self)
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", sent)
    for transfer_id in ids:
        assert run(app, backends, transfer_id) == State.READY
    monkeypatch.undo()

    assert len(cursors) == 6
    connections = {id(cursor.connection) for cursor in cursors}
    assert len({id(cursor) for cursor in cursors}) == len(connections) < len(cursors)


def test_a_claim_inside_a_transaction_joins_it_and_commits_it(
    client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """A caller's reads under way: the claim's statement runs in their transaction (by the
    driver, not in autocommit), which the claim commits as it did."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert session.get(Transfer, transfer_id) is not None  # a read: a transaction under way
    with sent_statements() as sent:
        claimed = claim(session, transfer_id, LIMITS)
    assert claimed is not None
    assert [s.autocommit for s in sent if "UPDATE transfers" in s.sql] == [False]
    assert not session.in_transaction()
    with backends.engine.connect() as other:
        state = other.scalar(select(Transfer.state).where(Transfer.id == transfer_id))
    assert state == State.VALIDATING


def processed_with_statements(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> tuple[uuid.UUID, list[str]]:
    """A transfer submitted, then processed to `ready`; the SQL its processing sent."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    with sent_statements() as sent:
        assert run(app, backends, transfer_id) == State.READY
    return transfer_id, [s.sql for s in sent]


def test_the_claim_and_the_ready_commit_write_their_events_in_the_statement_that_moves(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """On PostgreSQL the claim (its event, the documents read) and the `ready` transaction (the
    destination's next position, its event) are one statement each, committed as before."""
    transfer_id, sent = processed_with_statements(app, client, demo, backends)

    folded = ("transfer_events", "transfer_documents", "departements")
    touching = [s for s in sent if any(f"INTO {t}" in s or f"FROM {t}" in s for t in folded)]
    touching += [s for s in sent if "UPDATE departements" in s or "UPDATE transfers" in s]
    assert len(set(touching)) == 2
    assert all(s.lstrip().startswith("WITH") for s in touching)
    rows = session.execute(
        select(TransferEvent.from_state, TransferEvent.to_state, TransferEvent.detail)
        .where(TransferEvent.transfer_id == transfer_id)
        .order_by(TransferEvent.id)
    ).all()
    assert [tuple(r) for r in rows] == [
        (None, "received", None),
        ("received", "validating", {"tentative": 1}),
        ("validating", "ready", None),
    ]
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    last = session.scalar(select(Departement.inbound_seq).where(Departement.code == "62"))
    assert transfer.inbound_seq == last
    assert transfer.ready_at == transfer.state_changed_at


def test_the_ready_statement_carries_its_audit_entry_on_postgresql(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """The worker's audit entry of `ready` is inserted by the statement that moves the transfer,
    not by one of its own: one entry, as `record` writes it, one round trip fewer."""
    transfer_id, sent = processed_with_statements(app, client, demo, backends)

    written = [s for s in sent if "INTO audit_pending" in s]
    assert len(written) == 1
    assert "UPDATE transfers " in written[0]
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    entries = session.scalars(
        select(AuditPending).where(
            AuditPending.object_id == str(transfer_id), AuditPending.action == "transfer.process"
        )
    ).all()
    assert [
        (e.at, e.actor, e.role, e.departement, e.object_type, e.outcome, e.client) for e in entries
    ] == [(transfer.ready_at, "systeme", None, None, "transfer", "ready", None)]


def test_an_attempt_that_lost_its_lease_at_ready_takes_no_position_at_the_destination(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another attempt took the lease while this one packaged: its `ready` moves nothing, and
    takes no position at the destination (in autocommit, nothing would roll one back)."""
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    position = select(Departement.inbound_seq).where(Departement.code == "62")
    before = session.scalar(position)
    session.commit()
    build = processing.build_package

    def lease_taken(*args: Any, **kwargs: Any) -> Any:
        other = uuid.uuid4().hex
        with backends.engine.begin() as conn:
            taken = update(Transfer).where(Transfer.id == transfer_id).values(lease_token=other)
            conn.execute(taken)
        return build(*args, **kwargs)

    monkeypatch.setattr(processing, "build_package", lease_taken)

    assert run(app, backends, transfer_id) is None
    assert session.scalar(position) == before
    assert session.scalar(select(Transfer.state).where(Transfer.id == transfer_id)) == "validating"


def test_a_usual_attempt_begins_no_transaction_in_the_session(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the destination's keys in the process's copy, the claim runs in autocommit and
    `ready` on the driver: the session has nothing to commit, and begins no empty transaction
    to commit (~0.06 ms of CPU a transfer)."""
    monkeypatch.setattr(keys, "KEYS_CACHE_SECONDS", 3600.0)
    token = demo["59"]["jetons"]["caseworker"]
    warm = submit(client, token, dossier(), {"piece_identite.pdf": PDF})
    assert run(app, backends, warm) == State.READY  # reads the keys into the process's copy
    transfer_id = submit(client, token, dossier(), {"piece_identite.pdf": PDF})
    begun: list[Any] = []

    def created(_session: Session, transaction: Any) -> None:
        begun.append(transaction)

    event.listen(Session, "after_transaction_create", created)
    try:
        assert run(app, backends, transfer_id) == State.READY
    finally:
        event.remove(Session, "after_transaction_create", created)
    assert begun == []
