"""What the review asked to prove: ordering, races, hostile input, corrections."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis
from dossiers import PDF, dossier, multipart, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import run, sealed_dossier
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from support import bearer, failing_statement

from mdph_bridge.blobpaths import staged_dossier, staged_piece, staging_prefix
from mdph_bridge.domain.age import generate_identity
from mdph_bridge.domain.sealing import Keyring, SealReader, generate_staging_key, unseal
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer, TransferDocument
from mdph_bridge.services import processing, submission
from mdph_bridge.services.keys import register_key, revoke_key
from mdph_bridge.services.queue import QUEUE
from mdph_bridge.services.staging import reseal_staging
from mdph_bridge.services.sweeper import remove_orphans

pytestmark = pytest.mark.integration
FILES = {"piece_identite.pdf": PDF}


def post(
    client: FlaskClient, token: str, data: Any, files: dict[str, bytes], **headers: str
) -> Any:
    return client.post(
        "/api/v1/transfers", **multipart(data, files), headers={**bearer(token), **headers}
    )


def count(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Transfer)) or 0


def test_the_task_is_published_only_once_the_transfer_is_committed(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    observer = create_engine(database_url)  # another connection sees only committed rows
    seen: list[int] = []
    send = redis.connection.AbstractConnection.send_command

    def check(connection: redis.Connection, *args: Any, **kwargs: Any) -> None:
        """Look for the transfer as its message is sent to the broker."""
        if args[0] == "LPUSH":
            body = json.loads(base64.b64decode(json.loads(args[2])["body"]))
            transfer_id = uuid.UUID(body[0][0])
            with observer.connect() as conn:
                query = select(Transfer.id).where(Transfer.id == transfer_id)
                seen.append(len(conn.execute(query).all()))
        send(connection, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_command", check)
    try:
        assert post(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES).status_code == 202
    finally:
        observer.dispose()
    assert seen == [1]


def test_concurrent_submissions_with_one_idempotency_key_make_one_transfer(
    app: Flask, demo: dict[str, Any], session: Session, backends: Backends
) -> None:
    barrier = threading.Barrier(4)
    ids: list[str] = []

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        response = post(
            client,
            demo["59"]["jetons"]["caseworker"],
            dossier(),
            FILES,
            **{"Idempotency-Key": "same"},
        )
        ids.append(response.get_json()["id"])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    assert count(session) == 1
    assert backends.storage.list("staging") == [f"staging/{ids[0]}.piece-0"]


def test_reusing_an_idempotency_key_for_another_dossier_is_refused(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    assert post(client, token, dossier(), FILES, **{"Idempotency-Key": "k"}).status_code == 202
    other = dossier()
    other["transfert"]["numero_dossier_origine"] = "59-2024-009999"
    response = post(client, token, other, FILES, **{"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert response.get_json()["erreurs"][0]["code"] == "requete.cle_idempotence_reutilisee"
    assert count(session) == 1


def test_a_failure_after_the_ready_commit_keeps_the_package(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
) -> None:
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    lost = psycopg.OperationalError("connection lost after the server committed")
    # `ready` runs in autocommit: committed as its statement ends, then the answer is lost.
    with (
        failing_statement("UPDATE departements", lost, after=True) as failed,
        pytest.raises(processing.AttemptFailedError),
    ):
        run(app, backends, transfer_id)
    assert failed

    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert transfer is not None
    assert transfer.state == State.READY
    assert backends.storage.list_starting(f"packages/{transfer_id}.") == [transfer.package_key]
    assert run(app, backends, transfer_id) is None  # the retry finds nothing to do
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    with client.get(f"/api/v1/inbound/{transfer_id}/package", headers=receiver) as response:
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("change", "chemin", "code"),
    [
        (
            lambda d: d["transfert"].update(numero_dossier_origine="59\u0000"),
            "transfert.numero_dossier_origine",
            "champ.caracteres",
        ),
        (
            lambda d: d["transfert"].update(numero_dossier_origine="59-\u202e1234"),
            "transfert.numero_dossier_origine",
            "champ.caracteres_invisibles",
        ),
        (
            lambda d: d["transfert"].update(numero_dossier_origine="59-\u20661234\u2069"),
            "transfert.numero_dossier_origine",
            "champ.caracteres_invisibles",
        ),
        (
            lambda d: d["beneficiaire"]["adresse_nouvelle"].update(commune="Arras\x85"),
            "beneficiaire.adresse_nouvelle.commune",
            "champ.caracteres_invisibles",
        ),
        (
            lambda d: d["transfert"].update(numero_dossier_origine="\ud800"),
            "dossier",
            "requete.dossier_json",
        ),
        (
            lambda d: d["beneficiaire"].update(nom_naissance="\udc00"),
            "dossier",
            "requete.dossier_json",
        ),
    ],
)
def test_unstorable_characters_are_refused_at_submission(
    client: FlaskClient, demo: dict[str, Any], session: Session, change: Any, chemin: str, code: str
) -> None:
    data = dossier()
    change(data)
    raw = json.dumps(data).encode()  # escapes survive as \\u sequences
    response = post(client, demo["59"]["jetons"]["caseworker"], raw, FILES)
    assert response.status_code == 422
    assert (
        response.get_json()["erreurs"][0]["chemin"],
        response.get_json()["erreurs"][0]["code"],
    ) == (chemin, code)
    assert count(session) == 0


def test_hostile_headers_and_bodies_get_4xx(client: FlaskClient, demo: dict[str, Any]) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    spaced = post(client, token, dossier(), FILES, **{"Idempotency-Key": "a b"})
    assert spaced.status_code == 400
    assert spaced.get_json()["erreurs"][0]["code"] == "requete.cle_idempotence"
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    url = f"/api/v1/inbound/{uuid.uuid4()}/complete"
    broken = client.post(url, data=b"{oops", headers=receiver, content_type="application/json")
    assert broken.status_code == 400
    assert broken.get_json()["erreurs"][0]["code"] == "requete.json"
    nul = client.post(url, json={"numero_dossier_destination": "62\u0000"}, headers=receiver)
    assert nul.status_code == 422
    assert nul.get_json()["erreurs"][0]["code"] == "champ.caracteres"
    many = {f"f{i}.pdf": b"x" for i in range(250)}
    too_many = post(client, token, dossier(files=many), many)
    assert too_many.status_code == 413
    assert too_many.get_json()["erreurs"][0]["code"] == "requete.trop_grande"


def test_head_does_not_count_as_a_download(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    run(app, backends, transfer_id)
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    with client.head(f"/api/v1/inbound/{transfer_id}/package", headers=receiver) as head:
        assert head.status_code == 200
    assert (
        client.get(f"/api/v1/inbound/{transfer_id}", headers=receiver).get_json()["etat"] == "ready"
    )


def test_a_doctor_of_another_departement_gets_404_on_the_medical_package(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    medical = {"certificat.pdf": PDF + b"m"}
    transfer_id = submit(
        client,
        demo["59"]["jetons"]["caseworker"],
        dossier(files=FILES, medical=medical),
        {**FILES, **medical},
    )
    run(app, backends, transfer_id)
    url = f"/api/v1/inbound/{transfer_id}/medical-package"
    assert client.get(url, headers=bearer(demo["59"]["jetons"]["doctor"])).status_code == 404


def test_a_rejected_transfer_is_corrected_under_the_same_id(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    url = f"/api/v1/transfers/{transfer_id}/correction"
    too_early = client.post(url, **multipart(dossier(), FILES), headers=sender)
    assert too_early.status_code == 409
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    assert run(app, backends, transfer_id) == State.REJECTED
    _, recipient = generate_identity()
    register_key(session, "62", "receiver", recipient)  # 62 fixed its key

    elsewhere = dossier(dest="80")
    moved = client.post(url, **multipart(elsewhere, FILES), headers=sender)
    assert moved.status_code == 422
    assert moved.get_json()["erreurs"][0]["code"] == "transfert.destination_modifiee"
    fixed = dossier(files={"justificatif.pdf": PDF})
    response = client.post(url, **multipart(fixed, {"justificatif.pdf": PDF}), headers=sender)
    assert response.status_code == 202
    assert response.get_json()["etat"] == "received"
    assert response.get_json()["erreurs"] == []
    assert run(app, backends, transfer_id) == State.READY
    steps = [
        e["vers"]
        for e in client.get(f"/api/v1/transfers/{transfer_id}", headers=sender).get_json()[
            "evenements"
        ]
    ]
    assert steps == ["received", "validating", "rejected", "received", "validating", "ready"]


def rejected_transfer(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> uuid.UUID:
    """A transfer from 59 rejected by the worker (62 had no valid key), 62's key then fixed."""
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    assert run(app, backends, transfer_id) == State.REJECTED
    register_key(session, "62", "receiver", generate_identity()[1])
    return transfer_id


def staged_matches_documents(
    app: Flask, backends: Backends, session: Session, transfer_id: uuid.UUID
) -> bool:
    """Whether every committed document of the transfer has its staged file, same size and hash."""
    session.rollback()
    documents = session.scalars(
        select(TransferDocument).where(TransferDocument.transfer_id == transfer_id)
    ).all()
    assert documents
    for document in documents:
        key = staged_piece(transfer_id, document.position)
        if key not in backends.storage.list_starting(staging_prefix(transfer_id)):
            return False
        with backends.storage.open(key) as blob:
            content = SealReader(blob, app.config["KEYRING"]).read()
        if (len(content), hashlib.sha256(content).hexdigest()) != (document.size, document.sha256):
            return False
    return True


def wait_until_done_or_blocked(thread: threading.Thread, database_url: str) -> None:
    """Return once `thread` has ended or a session of the database waits for a lock (bounded)."""
    observer = create_engine(database_url)
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 60
    try:
        while thread.is_alive():
            with observer.connect() as conn:
                if conn.execute(waiting).scalar_one():
                    return
            if time.monotonic() > deadline:
                pytest.fail("the other party neither ended nor waited for a lock in 60 s")
            thread.join(timeout=0.05)
    finally:
        observer.dispose()


def race(
    first: threading.Thread,
    paused: threading.Event,
    second: threading.Thread,
    release: threading.Event,
    database_url: str,
    between: Callable[[], None] = lambda: None,
) -> None:
    """Run `first` until it pauses (sets `paused`), then `second` until it ends or waits for a
    lock; then let `first` go on (`release`), and return once both have ended."""
    first.start()
    assert paused.wait(timeout=60)
    between()
    second.start()
    wait_until_done_or_blocked(second, database_url)
    release.set()
    first.join()
    second.join()


def correction_sender(
    app: Flask,
    demo: dict[str, Any],
    transfer_id: uuid.UUID,
    payloads: dict[str, dict[str, bytes]],
    outcomes: dict[str, Any],
) -> Callable[[], None]:
    """Post a correction of the transfer as 59's caseworker, with the files named after the
    running thread; its status is kept in `outcomes` under the same name."""

    def send() -> None:
        name = threading.current_thread().name
        files = payloads[name]
        response = app.test_client().post(
            f"/api/v1/transfers/{transfer_id}/correction",
            **multipart(dossier(files=files), files),
            headers=bearer(demo["59"]["jetons"]["caseworker"]),
        )
        outcomes[name] = response.status_code

    return send


def test_concurrent_corrections_keep_the_winners_payload(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transfer_id = rejected_transfer(app, client, demo, backends, session)
    staged, release = threading.Event(), threading.Event()
    real_stage = submission._stage

    def stage_then_pause(*args: Any) -> bytes:
        """Correction A stops once its payload is staged, before its transaction goes on."""
        sealed = real_stage(*args)
        if threading.current_thread().name == "A":
            staged.set()
            assert release.wait(timeout=60)
        return sealed

    monkeypatch.setattr(submission, "_stage", stage_then_pause)
    payloads = {
        "A": {"piece_identite.pdf": PDF},
        "B": {"justificatif.pdf": PDF + b"% B\n", "attestation.pdf": PDF + b"% B, 2\n"},
    }
    statuses: dict[str, int] = {}
    send = correction_sender(app, demo, transfer_id, payloads, statuses)
    first, second = (threading.Thread(target=send, name=name) for name in "AB")
    race(first, staged, second, release, database_url)

    assert sorted(statuses.values()) == [202, 409]
    assert staged_matches_documents(app, backends, session, transfer_id)
    assert run(app, backends, transfer_id) == State.READY


def test_a_correction_that_fails_keeps_the_payload_of_the_one_that_waited(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transfer_id = rejected_transfer(app, client, demo, backends, session)
    staged, release = threading.Event(), threading.Event()
    real_stage, real_describe = submission._stage, submission._describe
    real_delete, second = backends.storage.delete_prefix, threading.Thread()

    def stage_then_pause(*args: Any) -> bytes:
        """Correction A stops once its payload is staged, its row lock held."""
        sealed = real_stage(*args)
        if threading.current_thread().name == "A":
            staged.set()
            assert release.wait(timeout=60)
        return sealed

    def describe_or_fail(*args: Any) -> None:
        if threading.current_thread().name == "A":
            raise RuntimeError("correction A fails after staging")
        real_describe(*args)

    def delete_once_b_is_done_or_blocked(prefix: str) -> None:
        """A's cleanup lets B go as far as it can first: B must not lose its payload to it."""
        if threading.current_thread().name == "A":
            wait_until_done_or_blocked(second, database_url)
        real_delete(prefix)

    monkeypatch.setattr(submission, "_stage", stage_then_pause)
    monkeypatch.setattr(submission, "_describe", describe_or_fail)
    monkeypatch.setattr(backends.storage, "delete_prefix", delete_once_b_is_done_or_blocked)
    payloads = {"A": {"piece_identite.pdf": PDF}, "B": {"justificatif.pdf": PDF + b"% B\n"}}
    statuses: dict[str, int] = {}
    send = correction_sender(app, demo, transfer_id, payloads, statuses)
    first, second = (threading.Thread(target=send, name=name) for name in "AB")
    race(first, staged, second, release, database_url)

    assert statuses == {"A": 500, "B": 202}
    assert staged_matches_documents(app, backends, session, transfer_id)
    assert run(app, backends, transfer_id) == State.READY


def test_a_correction_sent_as_the_worker_rejects_keeps_its_payload(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    rejected, release = threading.Event(), threading.Event()
    real_delete = backends.storage.delete_starting

    def pause_then_delete(prefix: str) -> None:
        """The worker stops once its rejection is committed, before it drops the staged payload."""
        if threading.current_thread().name == "worker" and prefix.startswith("staging/"):
            rejected.set()
            assert release.wait(timeout=60)
        real_delete(prefix)

    monkeypatch.setattr(backends.storage, "delete_starting", pause_then_delete)
    outcomes: dict[str, Any] = {}

    def work() -> None:
        with app.app_context():
            outcomes["worker"] = run(app, backends, transfer_id)
            backends.sessions.remove()

    payloads = {"correction": {"justificatif.pdf": PDF + b"% corrected\n"}}
    correct = correction_sender(app, demo, transfer_id, payloads, outcomes)
    worker = threading.Thread(target=work, name="worker")
    correction = threading.Thread(target=correct, name="correction")
    race(
        worker,
        rejected,
        correction,
        release,
        database_url,
        between=lambda: register_key(session, "62", "receiver", generate_identity()[1]),
    )

    assert outcomes == {"worker": State.REJECTED, "correction": 202}
    assert staged_matches_documents(app, backends, session, transfer_id)
    assert run(app, backends, transfer_id) == State.READY


def test_a_correction_sent_as_the_sweeper_removes_leftovers_keeps_its_payload(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transfer_id = rejected_transfer(app, client, demo, backends, session)
    # The worker died before dropping the rejected payload: an old leftover the sweeper removes.
    leftover = staged_dossier(transfer_id)
    with backends.storage.writer(leftover) as blob:
        blob.write(b"ciphertext")
    os.utime(backends.storage.root / leftover, (1, 1))
    deciding, release = threading.Event(), threading.Event()
    real_delete = backends.storage.delete_starting

    def pause_then_delete(prefix: str) -> None:
        """The sweeper stops once it has chosen what to delete, before deleting it."""
        if threading.current_thread().name == "sweeper":
            deciding.set()
            assert release.wait(timeout=60)
        real_delete(prefix)

    monkeypatch.setattr(backends.storage, "delete_starting", pause_then_delete)
    outcomes: dict[str, Any] = {}

    def sweep() -> None:
        with app.app_context():
            outcomes["sweeper"] = remove_orphans(
                backends.sessions(), backends.storage, app.config["KEYRING"], timedelta(hours=1)
            )
            backends.sessions.remove()

    payloads = {"correction": {"justificatif.pdf": PDF + b"% corrected\n"}}
    correct = correction_sender(app, demo, transfer_id, payloads, outcomes)
    sweeper = threading.Thread(target=sweep, name="sweeper")
    correction = threading.Thread(target=correct, name="correction")
    race(sweeper, deciding, correction, release, database_url)

    assert outcomes == {"sweeper": 1, "correction": 202}
    assert staged_matches_documents(app, backends, session, transfer_id)
    assert run(app, backends, transfer_id) == State.READY


def test_a_correction_sent_while_staging_is_resealed_keeps_its_payload(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    rotated = Keyring.parse(f"{generate_staging_key('next')},{app.config['STAGING_KEYS']}")
    monkeypatch.setitem(app.config, "KEYRING", rotated)
    resealing, release = threading.Event(), threading.Event()
    real_writer = backends.storage.writer

    def pause_then_write(key: str, in_place: bool = False) -> Any:
        """The reseal stops once it has opened the old dossier, before it writes it again."""
        if threading.current_thread().name == "reseal" and not resealing.is_set():
            resealing.set()
            assert release.wait(timeout=60)
        return real_writer(key, in_place)

    monkeypatch.setattr(backends.storage, "writer", pause_then_write)
    outcomes: dict[str, Any] = {}

    def reseal() -> None:
        with app.app_context():
            outcomes["reseal"] = reseal_staging(backends.sessions(), backends.storage, rotated)
            backends.sessions.remove()

    def work() -> None:
        with app.app_context():
            outcomes["worker"] = run(app, backends, transfer_id)
            backends.sessions.remove()

    files = {"justificatif.pdf": PDF + b"% corrected\n"}

    def correct() -> None:
        register_key(session, "62", "receiver", generate_identity()[1])
        response = client.post(
            f"/api/v1/transfers/{transfer_id}/correction",
            **multipart(dossier(files=files), files),
            headers=bearer(demo["59"]["jetons"]["caseworker"]),
        )
        outcomes["correction"] = response.status_code

    resealer = threading.Thread(target=reseal, name="reseal")
    resealer.start()
    assert resealing.wait(timeout=60)
    worker = threading.Thread(target=work, name="worker")
    worker.start()
    wait_until_done_or_blocked(worker, database_url)
    if not worker.is_alive():
        correct()  # nothing held the worker back: it rejected while the reseal was under way
    release.set()
    resealer.join()
    worker.join()
    if "correction" not in outcomes:
        correct()

    sealed = sealed_dossier(session, transfer_id)
    assert sealed is not None
    assert unseal(sealed, rotated) == json.dumps(dossier(files=files)).encode()
    assert staged_matches_documents(app, backends, session, transfer_id)
    assert outcomes == {"reseal": 2, "worker": State.REJECTED, "correction": 202}
    assert run(app, backends, transfer_id) == State.READY


def test_polling_while_transfers_become_ready_concurrently_sees_each_once(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    ids = [submit(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES) for _ in range(12)]
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    seen: list[str] = []
    done = threading.Event()

    def poll() -> None:
        poller = app.test_client()
        cursor = ""
        while True:
            finished = done.is_set()
            page = poller.get(
                f"/api/v1/inbound?limit=3&cursor={cursor}", headers=receiver
            ).get_json()
            seen.extend(t["id"] for t in page["transferts"])
            cursor = page["cursor"]
            if finished and not page["transferts"]:
                return

    def work(chunk: list[uuid.UUID]) -> None:
        with app.app_context():
            for transfer_id in chunk:
                run(app, backends, transfer_id)
            backends.sessions.remove()

    poller = threading.Thread(target=poll)
    workers = [threading.Thread(target=work, args=(ids[i::3],)) for i in range(3)]
    poller.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    poller.join()
    assert sorted(seen) == sorted(str(i) for i in ids)


def test_redis_queue_holds_ids_only(
    client: FlaskClient, demo: dict[str, Any], redis_client: redis.Redis
) -> None:
    response = post(client, demo["59"]["jetons"]["caseworker"], dossier(), FILES)
    (message,) = redis_client.lrange(QUEUE, 0, -1)
    envelope = json.loads(message)
    body = base64.b64decode(envelope["body"])
    assert json.loads(body)[0] == [response.get_json()["id"]]  # args: the transfer id, nothing else
    everything = message + body + b"".join(redis_client.keys("*"))
    assert b"Camille" not in everything
    assert dossier()["beneficiaire"]["nir"].encode() not in everything
