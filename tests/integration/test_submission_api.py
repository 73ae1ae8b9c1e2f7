"""Submitting over HTTP: accepted and sealed, or refused with every problem and no trace."""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from dossiers import PDF, dossier, multipart, readdress
from flask import request, request_finished
from flask.testing import FlaskClient
from flows import run, sealed_dossier
from kombu import Producer
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from support import bearer, failing_statement, files_under, sent_statements, silent_server
from werkzeug.exceptions import RequestTimeout

from mdph_bridge import storage as storage_module
from mdph_bridge.domain.sealing import unseal
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import AuditPending, Transfer, TransferDocument, TransferEvent
from mdph_bridge.services import keys, submission
from mdph_bridge.services.queue import LARGE_QUEUE, QUEUE

pytestmark = pytest.mark.integration


def post(
    client: FlaskClient, token: str, data: Any, files: dict[str, bytes], **headers: str
) -> Any:
    return client.post(
        "/api/v1/transfers",
        **multipart(data, files),
        headers={**bearer(token), **headers},
    )


def queued(redis_client: redis.Redis) -> list[dict[str, Any]]:
    """Messages waiting in the `transfers` queue."""
    return [json.loads(m) for m in redis_client.lrange(QUEUE, 0, -1)]


def test_a_wake_up_goes_to_its_queue_by_name_without_declaring_it(
    client: FlaskClient,
    demo: dict[str, Any],
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wake-up is pushed onto the queue's list through the default exchange, which needs no
    declaration: kombu is not asked to check one per message (the workers declare their queues)."""
    declared: list[object] = []
    monkeypatch.setattr(
        Producer, "maybe_declare", lambda _self, entity, *_a, **_k: declared.append(entity)
    )
    redis_client.delete(QUEUE)
    files = {"justificatif.pdf": PDF}
    response = post(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)
    assert response.status_code == 202
    (message,) = queued(redis_client)
    assert message["headers"]["task"] == "transfers.process"
    assert message["properties"]["delivery_info"] == {"exchange": "", "routing_key": QUEUE}
    assert json.loads(base64.b64decode(message["body"]))[0] == [response.get_json()["id"]]
    assert declared == []


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_submission_is_accepted_sealed_and_queued_after_commit(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    redis_client: redis.Redis,
) -> None:
    data = dossier(files={"piece_identite.pdf": PDF})
    response = post(client, demo["59"]["jetons"]["caseworker"], data, {"piece_identite.pdf": PDF})

    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/transfers/{body['id']}"
    assert body["etat"] == "received"
    assert (body["mdph_origine"], body["mdph_destination"]) == ("59", "62")
    assert [e["vers"] for e in body["evenements"]] == ["received"]
    messages = queued(redis_client)
    assert len(messages) == 1
    assert messages[0]["headers"]["task"] == "transfers.process"
    assert messages[0]["headers"]["argsrepr"] == repr([body["id"]])
    # At rest: only ciphertext, and no personal data in the database. The dossier has no file:
    # it is sealed in the transfer's row.
    blobs = files_under(backends.storage.root)
    assert [p.name for p in blobs] == [f"{body['id']}.piece-0"]
    sealed = sealed_dossier(session, uuid.UUID(body["id"]))
    assert sealed is not None
    assert json.loads(unseal(sealed, client.application.config["KEYRING"])) == data
    for content in (blobs[0].read_bytes(), sealed):
        assert content.startswith(b"MDPHSEAL1\n")
        assert b"Camille" not in content
        assert data["beneficiaire"]["nir"].encode() not in content
        assert PDF not in content
    dump = json.dumps(
        [list(row) for row in session.execute(text("SELECT * FROM transfers")).all()], default=str
    )
    assert "Camille" not in dump
    assert data["beneficiaire"]["nir"] not in dump


def test_a_new_transfer_s_answer_is_written_as_the_schema_writes_its_detail(
    client: FlaskClient, demo: dict[str, Any]
) -> None:
    """A new transfer's 202 is written without the schema's dump: byte for byte what the schema
    writes for the same transfer read back (its detail), warnings included."""
    files = {"justificatif.pdf": PDF}
    data = dossier(files=files)
    data["droits"][0]["date_echeance"] = data["transfert"]["date_demenagement"][:8] + "28"
    token = demo["59"]["jetons"]["caseworker"]
    response = post(client, token, data, files)
    assert response.status_code == 202
    assert response.get_json()["avertissements"]
    detail = client.get(response.headers["Location"], headers=bearer(token))
    assert (response.mimetype, response.data) == (detail.mimetype, detail.data)


def test_a_new_transfer_s_answer_builds_no_orm_object(
    client: FlaskClient, demo: dict[str, Any]
) -> None:
    """A new transfer's answer is written from the values its statement wrote: no unattached
    `Transfer`, document or event is built for it (~0.15 to 0.2 ms of CPU per submission)."""
    built: list[str] = []

    def note(target: Any, *_: Any) -> None:
        built.append(type(target).__name__)

    files = {"justificatif.pdf": PDF}
    token = demo["59"]["jetons"]["caseworker"]
    models = (Transfer, TransferDocument, TransferEvent)
    for model in models:
        event.listen(model, "init", note)
    try:
        response = post(client, token, dossier(files=files), files)
    finally:
        for model in models:
            event.remove(model, "init", note)

    assert response.status_code == 202
    assert built == []
    assert response.get_json()["evenements"][0]["vers"] == "received"


def test_an_api_call_without_a_cookie_has_no_cookie_parsed(
    client: FlaskClient, demo: dict[str, Any]
) -> None:
    """A bearer-token call sends no `Cookie` header: its empty session is opened without
    parsing the request's cookies (as Flask's session interface would, for nothing)."""
    parsed: list[bool] = []

    def finished(_sender: Any, **_: Any) -> None:
        parsed.append("cookies" in request.__dict__)

    files = {"justificatif.pdf": PDF}
    with request_finished.connected_to(finished, client.application):
        response = post(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)

    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers
    assert parsed == [False]


def test_where_blobs_are_dated_from_their_first_write_documents_come_through_uploads(
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A storage that dates a blob from when its writing began (S3's multipart uploads) would
    show a long upload, written under its staging key, as abandoned to the orphan sweeper once
    complete: there each document streams into an upload key, then moves into staging."""
    monkeypatch.setattr(backends.storage, "dated_by_last_write", False)
    moves: list[tuple[str, str]] = []
    move = backends.storage.move

    def moved(src: str, dst: str, durable: bool = True) -> None:
        moves.append((src.split("/")[0], dst.split("/")[0]))
        move(src, dst, durable)

    monkeypatch.setattr(backends.storage, "move", moved)
    files = {"justificatif.pdf": PDF, "attestation.pdf": PDF + b"% 2\n"}
    response = post(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)

    assert response.status_code == 202
    assert moves == [("incoming", "staging"), ("incoming", "staging")]


def test_a_submission_streams_its_documents_into_their_staging_keys_then_flushes_the_folder(
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each document is written under its staging key as it streams in (no upload file renamed
    into staging, nor deleted after), flushed there, then the folder once, after the last
    document (the dossier, sealed in the row, has no file): the payload is durable before the
    statement, with one folder flush."""
    staging = backends.storage.root / "staging"
    events: list[tuple[str, Path]] = []
    fsync, replace, unlink = os.fsync, os.replace, Path.unlink

    def synced(fd: int) -> None:  # a file's or a folder's descriptor
        events.append(("flush", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        fsync(fd)

    def renamed(src: Any, dst: Any) -> None:
        events.append(("name", Path(dst)))
        replace(src, dst)

    def unlinked(path: Path, missing_ok: bool = False) -> None:
        events.append(("unlink", path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(storage_module.os, "fsync", synced)
    monkeypatch.setattr(storage_module.os, "replace", renamed)
    monkeypatch.setattr(Path, "unlink", unlinked)
    files = {"justificatif.pdf": PDF, "attestation.pdf": PDF + b"% 2\n"}
    response = post(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)
    monkeypatch.undo()

    assert response.status_code == 202
    pieces = [staging / f"{response.get_json()['id']}.piece-{n}" for n in (0, 1)]
    # No rename, no deletion; the folders made on first use are flushed in their parents too.
    in_staging = [(kind, path) for kind, path in events if staging in (path, path.parent)]
    assert in_staging == [("flush", pieces[0]), ("flush", pieces[1]), ("flush", staging)]
    assert {kind for kind, _ in events} == {"flush"}
    assert files_under(backends.storage.root) == pieces


def test_documents_sent_in_another_order_than_declared_are_staged_at_their_positions(
    app: Any, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    """A document streamed in under another's position moves to its own without replacing a
    document yet to move."""
    files = {"a.pdf": PDF + b"% a\n", "b.pdf": PDF + b"% b\n", "c.pdf": PDF + b"% c\n"}
    sent = {name: files[name] for name in ("c.pdf", "a.pdf", "b.pdf")}
    response = post(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), sent)

    assert response.status_code == 202
    transfer_id = response.get_json()["id"]
    staged = [f"staging/{transfer_id}.piece-{n}" for n in range(3)]
    assert files_under(backends.storage.root) == [backends.storage.root / key for key in staged]
    keyring = app.config["KEYRING"]
    for key, content in zip(staged, files.values(), strict=True):
        with backends.storage.open(key) as blob:
            assert unseal(blob.read(), keyring) == content


def test_same_idempotency_key_returns_the_same_transfer(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    redis_client: redis.Redis,
    backends: Backends,
) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    first = post(
        client, token, dossier(), {"piece_identite.pdf": PDF}, **{"Idempotency-Key": "k-1"}
    )
    again = post(
        client, token, dossier(), {"piece_identite.pdf": PDF}, **{"Idempotency-Key": "k-1"}
    )
    other = post(
        client, token, dossier(), {"piece_identite.pdf": PDF}, **{"Idempotency-Key": "k-2"}
    )

    assert first.status_code == again.status_code == other.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"] != other.get_json()["id"]
    assert count(session, Transfer) == 2
    assert len(queued(redis_client)) == 2
    # The replay's document, streamed in under staging keys of its own, is not kept.
    transfers = sorted(response.get_json()["id"] for response in (first, other))
    assert files_under(backends.storage.root) == [
        backends.storage.root / f"staging/{transfer_id}.piece-0" for transfer_id in transfers
    ]


def test_invalid_dossier_lists_every_problem_and_writes_nothing(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    redis_client: redis.Redis,
) -> None:
    data = dossier()
    data["version_format"] = "2"
    data["transfert"]["mdph_destination"] = "20"
    del data["transfert"]["motif"]
    data["inconnu"] = True

    response = post(client, demo["59"]["jetons"]["caseworker"], data, {"piece_identite.pdf": PDF})

    assert response.status_code == 422
    problems = {(e["chemin"], e["code"]) for e in response.get_json()["erreurs"]}
    assert problems == {
        ("version_format", "format.version"),
        ("transfert.mdph_destination", "departement.code"),
        ("transfert.motif", "champ.obligatoire"),
        ("inconnu", "champ.inconnu"),
    }
    assert all(e["message"] for e in response.get_json()["erreurs"])
    assert count(session, Transfer) == 0
    assert files_under(backends.storage.root) == []
    assert queued(redis_client) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: readdress(d, "62", "59"),
            ("transfert.mdph_origine", "transfert.origine"),
        ),
        (
            lambda d: readdress(d, "59", "02"),
            ("transfert.mdph_destination", "transfert.destination_inconnue"),
        ),
        (
            lambda d: d["transfert"].update(mdph_destination="59"),
            ("transfert.mdph_destination", "transfert.destination_identique"),
        ),
        (
            lambda d: d["pieces"][0].update(sha256="0" * 64),
            ("pieces[0].sha256", "piece.empreinte_differente"),
        ),
        (
            lambda d: d["pieces"][0].update(nom_fichier="autre.pdf"),
            ("pieces[0].nom_fichier", "piece.fichier_manquant"),
        ),
    ],
)
def test_refusals_name_the_field(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    change: Any,
    expected: tuple[str, str],
) -> None:
    data = dossier()
    change(data)
    response = post(client, demo["59"]["jetons"]["caseworker"], data, {"piece_identite.pdf": PDF})

    assert response.status_code == 422
    assert expected in {(e["chemin"], e["code"]) for e in response.get_json()["erreurs"]}
    assert count(session, Transfer) == 0
    assert files_under(backends.storage.root) == []


def test_undeclared_file_is_refused(client: FlaskClient, demo: dict[str, Any]) -> None:
    response = post(
        client,
        demo["59"]["jetons"]["caseworker"],
        dossier(),
        {"piece_identite.pdf": PDF, "x.pdf": PDF},
    )
    assert response.status_code == 422
    assert response.get_json()["erreurs"][0]["code"] == "piece.fichier_non_declare"


def test_destination_without_valid_key_cannot_be_chosen(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    from mdph_bridge.services.keys import revoke_key

    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    response = post(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert response.status_code == 422
    assert response.get_json()["erreurs"][0]["code"] == "transfert.destination_sans_cle"


def test_medical_content_needs_a_doctor_key(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    from mdph_bridge.services.keys import revoke_key

    revoke_key(session, demo["62"]["cles"]["doctor"]["id"])
    files = {"piece_identite.pdf": PDF}
    data = dossier(files=files, medical={"certificat.pdf": PDF + b"m"})
    response = post(
        client, demo["59"]["jetons"]["caseworker"], data, {**files, "certificat.pdf": PDF + b"m"}
    )
    assert response.status_code == 422
    assert response.get_json()["erreurs"][0]["code"] == "transfert.destination_sans_cle_medicale"


def test_bad_json_and_missing_dossier(client: FlaskClient, demo: dict[str, Any]) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    bad = post(client, token, b"{not json", {})
    assert bad.status_code == 422
    assert bad.get_json()["erreurs"] == [
        {
            "chemin": "dossier",
            "code": "requete.dossier_json",
            "message": bad.get_json()["erreurs"][0]["message"],
        }
    ]
    missing = client.post(
        "/api/v1/transfers",
        data={"x.pdf": (PDF, "x.pdf")},
        headers=bearer(token),
        content_type="multipart/form-data",
    )
    assert missing.status_code == 422
    assert missing.get_json()["erreurs"][0]["code"] == "requete.dossier_absent"
    not_multipart = client.post("/api/v1/transfers", json=dossier(), headers=bearer(token))
    assert not_multipart.status_code == 415
    assert not_multipart.get_json()["erreurs"][0]["code"] == "requete.multipart"


def test_too_large_file_is_refused_while_streaming_and_leaves_nothing(
    app: Any, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    app.config["MAX_FILE_BYTES"] = 64 * 1024
    big = b"\0" * (64 * 1024 + 1)
    files = {"piece_identite.pdf": big}
    response = post(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)
    assert response.status_code == 413
    assert response.get_json()["erreurs"][0]["code"] == "piece.trop_grande"
    assert files_under(backends.storage.root) == []


class _Stalling(io.BytesIO):
    """A request body whose sender goes silent past the server's read timeout, as the deployed
    worker (`gunicorn_worker.PatientUnreader`) reports it to the app: by `RequestTimeout`."""

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if not data and size != 0:
            raise RequestTimeout
        return data

    def readinto(self, buffer: Any) -> int:
        size = super().readinto(buffer)
        if not size and len(buffer):
            raise RequestTimeout
        return size


def test_a_body_that_stops_coming_answers_408_and_leaves_nothing(
    client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """Not a 422 for a dossier that seemed absent: the upload was cut, the caller is told so in
    French, and what had been sealed of it is removed."""
    files = {"piece_identite.pdf": PDF + b"\0" * 200_000}
    request = multipart(dossier(files=files), files)
    body = request["data"]
    response = client.post(
        "/api/v1/transfers",
        input_stream=_Stalling(body[: len(body) // 2]),  # half of the document came
        content_type=request["content_type"],
        environ_overrides={"CONTENT_LENGTH": str(len(body))},  # the whole body was announced
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert response.status_code == 408
    assert [e["code"] for e in response.get_json()["erreurs"]] == ["requete.delai_depasse"]
    assert files_under(backends.storage.root) == []
    assert session.scalar(select(func.count()).select_from(Transfer)) == 0


def test_authentication_and_roles(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    from mdph_bridge.services.auth import authenticate, revoke_token

    no_token = client.get("/api/v1/transfers")
    assert no_token.status_code == 401
    assert no_token.headers["WWW-Authenticate"] == "Bearer"
    assert no_token.get_json()["erreurs"][0]["code"] == "auth.jeton_absent"
    assert client.get("/api/v1/transfers", headers=bearer("mdphb_nope")).status_code == 401
    receiver = demo["62"]["jetons"]["receiver"]
    assert (
        client.get("/api/v1/transfers", headers=bearer(receiver)).get_json()["erreurs"][0]["code"]
        == "auth.role"
    )

    token = demo["59"]["jetons"]["caseworker"]
    principal = authenticate(session, token)
    assert principal is not None
    revoke_token(session, principal.token_id)
    assert client.get("/api/v1/transfers", headers=bearer(token)).status_code == 401


def test_database_failure_at_the_submission_s_write_answers_503_and_keeps_nothing(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    redis_client: redis.Redis,
) -> None:
    with failing_statement("INSERT INTO transfers", psycopg.OperationalError("refused")) as failed:
        response = post(
            client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
        )

    assert failed, "the request never reached the submission's write"
    assert response.status_code == 503
    assert response.get_json()["erreurs"][0]["code"] == "service.indisponible"
    session.rollback()
    assert count(session, Transfer) == 0
    assert count(session, TransferEvent) == 0
    assert files_under(backends.storage.root) == []
    assert queued(redis_client) == []


def test_a_connection_lost_after_the_write_keeps_the_payload_the_transfer_may_need(
    app: Any,
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
) -> None:
    """The statement reached PostgreSQL, which committed it, but its answer was lost with the
    connection: the client is told 503 and retries with its key; the transfer it gets back
    still has its staged payload, so a worker can process it."""
    token, files = demo["59"]["jetons"]["caseworker"], {"piece_identite.pdf": PDF}
    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    with failing_statement("INSERT INTO transfers", lost, after=True):
        first = post(client, token, dossier(files=files), files, **{"Idempotency-Key": "k-lost"})
    again = post(client, token, dossier(files=files), files, **{"Idempotency-Key": "k-lost"})

    assert (first.status_code, again.status_code) == (503, 202)
    transfer_id = uuid.UUID(again.get_json()["id"])
    assert backends.storage.list_starting(f"staging/{transfer_id}.")
    assert run(app, backends, transfer_id) == State.READY


def test_broker_down_still_accepts_the_submission(
    app: Any, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    app.extensions["celery"].conf.broker_url = "redis://127.0.0.1:1/0"
    response = post(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    assert response.status_code == 202
    assert count(session, Transfer) == 1


def test_a_broker_that_never_answers_leaves_the_transfer_to_the_sweeper(
    app: Any, client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    """The broker accepts the connection and never answers: the wake-up gives up after its
    timeout (`MDPH_BRIDGE_BROKER_TIMEOUT_SECONDS`) instead of holding the answer, as when the
    broker is down; the transfer stays `received` for the sweeper."""
    token = demo["59"]["jetons"]["caseworker"]
    answers: list[Any] = []

    def submit() -> None:
        answers.append(post(client, token, dossier(), {"piece_identite.pdf": PDF}))

    submitting = threading.Thread(target=submit)
    with silent_server() as (port, accepted):
        app.extensions["celery"].conf.broker_url = f"redis://127.0.0.1:{port}/0"
        started = time.monotonic()
        submitting.start()
        submitting.join(30)  # a bound for a hung test
        waited = time.monotonic() - started
        assert [answer.status_code for answer in answers] == [202]
        # Given up after about the timeout (2 s by default), not held: a loose behaviour bound.
        assert waited < 4 * app.config["BROKER_TIMEOUT_SECONDS"], waited
    submitting.join()
    assert len(accepted) == 1
    assert session.scalars(select(Transfer.state)).all() == [State.RECEIVED]


def test_after_a_broker_failure_submissions_skip_the_broker_for_a_while(
    app: Any, client: FlaskClient, demo: dict[str, Any], redis_client: redis.Redis
) -> None:
    celery = app.extensions["celery"]
    token = demo["59"]["jetons"]["caseworker"]
    broker_url = celery.conf.broker_url
    celery.conf.broker_url = "redis://127.0.0.1:1/0"
    assert post(client, token, dossier(), {"piece_identite.pdf": PDF}).status_code == 202
    celery.conf.broker_url = broker_url  # back, but the hub does not wait on it again so soon
    assert post(client, token, dossier(), {"piece_identite.pdf": PDF}).status_code == 202
    assert queued(redis_client) == []  # both are left to the sweeper


def test_big_transfers_are_queued_apart_from_small_ones(
    app: Any, client: FlaskClient, demo: dict[str, Any], redis_client: redis.Redis
) -> None:
    app.extensions["celery"].conf["mdph_large_transfer_bytes"] = 1024
    token = demo["59"]["jetons"]["caseworker"]
    big = PDF + bytes(1024)
    small = post(client, token, dossier(), {"piece_identite.pdf": PDF}).get_json()["id"]
    files = {"piece_identite.pdf": big}
    large = post(client, token, dossier(files=files), files).get_json()["id"]

    assert [m["headers"]["argsrepr"] for m in queued(redis_client)] == [repr([small])]
    assert [
        json.loads(m)["headers"]["argsrepr"] for m in redis_client.lrange(LARGE_QUEUE, 0, -1)
    ] == [repr([large])]


def test_openapi_document_is_served(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    paths = spec["paths"]
    assert {"/api/v1/transfers", "/api/v1/inbound", "/api/v1/inbound/{transfer_id}/package"} <= set(
        paths
    )
    assert "multipart/form-data" in paths["/api/v1/transfers"]["post"]["requestBody"]["content"]


def test_a_submission_writes_its_rows_in_one_statement_on_postgresql(
    client: FlaskClient, demo: dict[str, Any], session: Session, backends: Backends
) -> None:
    """The transfer, every document and the first event go in one statement (data-modifying
    CTEs), as the three inserts before them wrote them; the documents bound as one JSON value,
    not six arrays for psycopg to dump."""
    files = {"piece_identite.pdf": PDF, "justificatif.pdf": PDF + b"%autre"}
    data = dossier(files=files, medical={"certificat.pdf": PDF + b"%medical"})
    uploads = {**files, "certificat.pdf": PDF + b"%medical"}
    with sent_statements() as sent:
        response = post(client, demo["59"]["jetons"]["caseworker"], data, uploads)
    assert response.status_code == 202
    transfer_id = uuid.UUID(response.get_json()["id"])

    written = [s.sql for s in sent if "INTO transfer" in s.sql]
    assert len(written) == 1
    (params,) = [s.params for s in sent if "INTO transfer" in s.sql]
    values = params.values() if isinstance(params, dict) else params
    assert not [v for v in values if isinstance(v, list)]
    assert "json_to_recordset(" in written[0]
    assert all(f"INTO {t} " in written[0] for t in ("transfers", "transfer_documents"))
    assert "INTO transfer_events " in written[0]
    documents = session.scalars(
        select(TransferDocument)
        .where(TransferDocument.transfer_id == transfer_id)
        .order_by(TransferDocument.position)
    ).all()
    assert [(d.position, d.medical, d.size, d.mime) for d in documents] == [
        (0, False, len(PDF), "application/pdf"),
        (1, False, len(PDF) + 6, "application/pdf"),
        (2, True, len(PDF) + 8, "application/pdf"),
    ]
    assert [d.sha256 for d in documents] == [p["sha256"] for p in data["pieces"]]
    (created,) = session.scalars(
        select(TransferEvent).where(TransferEvent.transfer_id == transfer_id)
    ).all()
    transfer = session.get(Transfer, transfer_id)
    assert transfer is not None
    assert (created.from_state, created.to_state, created.detail) == (None, "received", None)
    assert created.at == transfer.state_changed_at == transfer.submitted_at
    assert created.actor.startswith("59/caseworker/")
    assert transfer.rolled_up is False


def test_a_submission_carries_its_audit_entry_in_its_one_statement_on_postgresql(
    client: FlaskClient, demo: dict[str, Any], session: Session, backends: Backends
) -> None:
    """The call's audit entry is inserted by the statement that writes the transfer, not by a
    statement of its own at the commit: one entry, as `record` writes it, one round trip fewer."""
    files = {"justificatif.pdf": PDF}
    token = demo["59"]["jetons"]["caseworker"]
    with sent_statements() as sent:
        response = post(client, token, dossier(files=files), files)
    assert response.status_code == 202
    transfer_id = response.get_json()["id"]

    written = [s.sql for s in sent if "INTO audit_pending" in s.sql]
    assert len(written) == 1
    assert "INTO transfers " in written[0]
    assert "INTO transfer_events " in written[0]
    transfer = session.get(Transfer, uuid.UUID(transfer_id))
    assert transfer is not None
    entries = session.scalars(
        select(AuditPending).where(AuditPending.object_id == transfer_id)
    ).all()
    assert [
        (e.actor, e.role, e.departement, e.action, e.object_type, e.outcome, e.client)
        for e in entries
    ] == [(str(transfer.submitted_by), "caseworker", "59", "transfers.create", "transfer", "ok",
           None)]  # fmt: skip


@pytest.mark.parametrize("key", [None, "k-1"])
def test_a_submission_s_statement_goes_by_the_driver_prepared(
    client: FlaskClient, demo: dict[str, Any], backends: Backends, key: str | None
) -> None:
    """The statement that writes a submission, and the Idempotency-Key's read, are built once and
    sent by psycopg itself, prepared: SQLAlchemy's execution, which cost as much client CPU
    again, never sees them."""
    token = demo["59"]["jetons"]["caseworker"]
    files = {"justificatif.pdf": PDF}
    assert post(client, token, dossier(files=files), files).status_code == 202  # keys read
    executed: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        executed.append(statement)

    headers = {} if key is None else {"Idempotency-Key": key}
    event.listen(backends.engine, "before_cursor_execute", seen)
    try:
        with sent_statements() as sent:
            response = post(client, token, dossier(files=files), files, **headers)
    finally:
        event.remove(backends.engine, "before_cursor_execute", seen)
    assert response.status_code == 202
    written = [s for s in sent if "INTO transfers" in s.sql or "FROM transfers" in s.sql]
    assert [(s.prepare, s.autocommit) for s in written] == [(True, True)] * (1 + bool(key))
    assert not [sql for sql in executed if "INTO transfers" in sql or "FROM transfers" in sql]


def test_no_transaction_stays_open_while_the_payload_is_staged(
    client: FlaskClient, demo: dict[str, Any], backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The destination's keys, read again when this process's copy is too old, are committed
    before the payload is staged: no transaction waits on file writes (nor holds what a
    migration would lock), and the statement that writes still commits alone."""
    monkeypatch.setattr(keys, "KEYS_CACHE_SECONDS", 0.0)  # every submission reads the keys
    token = demo["59"]["jetons"]["caseworker"]
    files = {"justificatif.pdf": PDF}
    assert post(client, token, dossier(files=files), files).status_code == 202  # token checked
    during: list[bool] = []
    stage = submission._stage

    def watched(*args: Any) -> None:
        during.append(backends.sessions().in_transaction())
        stage(*args)

    monkeypatch.setattr(submission, "_stage", watched)
    with sent_statements() as sent:
        assert post(client, token, dossier(files=files), files).status_code == 202
    assert during == [False]
    written = [s for s in sent if "INTO transfers" in s.sql]
    assert [(s.prepare, s.autocommit) for s in written] == [(True, True)]


@pytest.mark.parametrize("key", [None, "k-1"])
def test_a_submission_commits_its_one_statement_alone_on_postgresql(
    client: FlaskClient, demo: dict[str, Any], session: Session, backends: Backends, key: str | None
) -> None:
    """With its token checked a moment ago, a submission's statements run in autocommit (the
    Idempotency-Key's read, then the one that writes): no `BEGIN` nor `COMMIT` round trip, the
    transfer committed as its statement ends, on a connection given back to the pool as it was."""
    token = demo["59"]["jetons"]["caseworker"]
    files = {"justificatif.pdf": PDF}
    assert post(client, token, dossier(files=files), files).status_code == 202  # token checked
    headers = {} if key is None else {"Idempotency-Key": key}
    with sent_statements() as sent:
        response = post(client, token, dossier(files=files), files, **headers)
        again = post(client, token, dossier(files=files), files, **headers)
    assert response.status_code == again.status_code == 202
    kinds = ("INSERT INTO transfers", "FROM transfers")
    autocommit = [
        (kind, s.autocommit) for s in sent if (kind := next((k for k in kinds if k in s.sql), ""))
    ]
    postgresql = backends.engine.dialect.name == "postgresql"
    if key is None:
        assert autocommit == [("INSERT INTO transfers", postgresql)] * 2
    else:  # the second is a replay: the key's transfer found, then read
        assert again.get_json()["id"] == response.get_json()["id"]
        assert autocommit == [
            ("FROM transfers", postgresql),
            ("INSERT INTO transfers", postgresql),
            ("FROM transfers", postgresql),
            ("FROM transfers", postgresql),
        ]
    assert session.get(Transfer, uuid.UUID(response.get_json()["id"])) is not None
    with backends.engine.connect() as pooled:
        assert pooled.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]


def test_a_transfer_committed_alone_keeps_its_payload_if_the_request_then_fails(
    app: Any,
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure after the statement committed the transfer (here as the worker is woken) leaves
    the committed transfer its staged payload, for the sweeper to wake; nothing is queued."""
    # The token and the destination's keys stay as the first submission read them, however slow
    # the machine: read again, their commit would be the one that fails, before the statement.
    monkeypatch.setitem(app.config, "TOKEN_CACHE_SECONDS", 3600.0)
    monkeypatch.setattr(keys, "KEYS_CACHE_SECONDS", 3600.0)
    token = demo["59"]["jetons"]["caseworker"]
    files = {"justificatif.pdf": PDF}
    first = post(client, token, dossier(files=files), files).get_json()["id"]  # token checked
    redis_client.delete(QUEUE)

    def broken(*_args: Any) -> None:
        raise OperationalError("COMMIT", {}, Exception("connection lost"))

    monkeypatch.setattr(submission, "wake_processing", broken)
    response = post(client, token, dossier(files=files), files)
    monkeypatch.undo()

    assert response.status_code == 503
    session.rollback()
    (second,) = session.scalars(select(Transfer.id).where(Transfer.id != uuid.UUID(first)))
    assert session.get(Transfer, second).state == "received"  # type: ignore[union-attr]
    assert backends.storage.list_starting(f"staging/{second}.") == [f"staging/{second}.piece-0"]
    assert sealed_dossier(session, second) is not None
    assert queued(redis_client) == []


def test_nothing_can_fail_after_the_statement_that_commits_alone(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the answer shows is gathered before the statement: if gathering it fails,
    nothing was committed and nothing staged is left (no transfer without its payload)."""
    token = demo["59"]["jetons"]["caseworker"]
    files = {"justificatif.pdf": PDF}
    first = post(client, token, dossier(files=files), files).get_json()["id"]  # token checked
    redis_client.delete(QUEUE)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the answer cannot be built")

    monkeypatch.setattr(submission, "FirstEvent", broken)
    response = post(client, token, dossier(files=files), files)
    monkeypatch.undo()

    assert response.status_code == 500
    session.rollback()
    assert session.scalars(select(Transfer.id)).all() == [uuid.UUID(first)]
    assert [p.name[:36] for p in files_under(backends.storage.root / "staging")] == [first]
    assert queued(redis_client) == []
