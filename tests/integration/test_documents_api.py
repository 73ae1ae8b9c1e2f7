"""Multipart edge cases of a submission: each refused with its code, and nothing left behind."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from dossiers import PDF, dossier, multipart
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import bearer, files_under
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer, TransferDocument
from mdph_bridge.services.queue import QUEUE

pytestmark = pytest.mark.integration

KiB = 1024
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\0" * 48 + b"PE\0\0"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\0" * 56
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\0" * 20
URL = "/api/v1/transfers"


def latin1_dossier() -> bytes:
    """The example dossier with accented text, encoded in Latin-1 instead of UTF-8."""
    data = dossier()
    data["transfert"]["consentement"]["reference"] = "Demande écrite de l'intéressée"
    return json.dumps(data, ensure_ascii=False).encode("latin-1")


@pytest.fixture
def token(demo: dict[str, Any]) -> str:
    """A caseworker of département 59, the sender of the example dossier."""
    return demo["59"]["jetons"]["caseworker"]


@pytest.fixture
def nothing_left(
    session: Session, backends: Backends, redis_client: redis.Redis
) -> Callable[[], None]:
    """Check that a refused submission left no transfer row, no blob and no queue message."""

    def check() -> None:
        session.rollback()
        for model in (Transfer, TransferDocument):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        assert files_under(backends.storage.root) == []
        assert redis_client.llen(QUEUE) == 0

    return check


def send(client: FlaskClient, token: str, data: Any, files: dict[str, bytes]) -> Any:
    return client.post(URL, **multipart(data, files), headers=bearer(token))


def send_counting(
    client: FlaskClient, token: str, data: Any, files: dict[str, bytes]
) -> tuple[Any, int, int]:
    """Submit from a stream; return the response, the bytes the hub read and the body's size."""
    request = multipart(data, files)
    stream = io.BytesIO(request["data"])
    response = client.post(
        URL,
        input_stream=stream,
        content_length=len(request["data"]),
        content_type=request["content_type"],
        headers=bearer(token),
    )
    return response, stream.tell(), len(request["data"])


def problems(response: Any) -> list[tuple[str, str]]:
    return [(e["chemin"], e["code"]) for e in response.get_json()["erreurs"]]


def test_missing_part(client: FlaskClient, token: str, nothing_left: Callable[[], None]) -> None:
    data = dossier(files={"piece_identite.pdf": PDF, "justificatif.pdf": PDF + b"j"})
    response = send(client, token, data, {"piece_identite.pdf": PDF})
    assert response.status_code == 422
    assert problems(response) == [("pieces[1].nom_fichier", "piece.fichier_manquant")]
    nothing_left()


def test_extra_undeclared_part(
    client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    response = send(client, token, dossier(), {"piece_identite.pdf": PDF, "en_trop.pdf": PDF})
    assert response.status_code == 422
    assert problems(response) == [("pieces", "piece.fichier_non_declare")]
    nothing_left()


def test_undeclared_part_of_a_refused_type_is_named(
    client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    response = send(client, token, dossier(), {"piece_identite.pdf": PDF, "outil.exe": PE})
    assert response.status_code == 422
    assert problems(response) == [
        ("pieces", "piece.fichier_non_declare"),
        ("outil.exe", "piece.type_non_autorise"),
    ]
    nothing_left()


def test_part_sent_twice(client: FlaskClient, token: str, nothing_left: Callable[[], None]) -> None:
    parts = "".join(
        f'--B\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n{body}\r\n"
        for name, body in [
            ("dossier", json.dumps(dossier())),
            ("piece_identite.pdf", PDF.decode()),
            ("piece_identite.pdf", PDF.decode()),
        ]
    )
    response = client.post(
        URL,
        data=(parts + "--B--\r\n").encode(),
        content_type="multipart/form-data; boundary=B",
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert problems(response) == [("pieces", "piece.fichier_double")]
    nothing_left()


def test_wrong_hash(client: FlaskClient, token: str, nothing_left: Callable[[], None]) -> None:
    response = send(client, token, dossier(), {"piece_identite.pdf": PDF + b"altered"})
    assert response.status_code == 422
    assert problems(response) == [("pieces[0].sha256", "piece.empreinte_differente")]
    nothing_left()


def test_oversized_file_is_refused_while_streaming(
    app: Flask, client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    app.config["MAX_FILE_BYTES"] = 64 * KiB
    files = {"piece_identite.pdf": PDF + b"\0" * (64 * KiB - len(PDF) + 1), "p2.pdf": PDF * 9000}
    response, read, size = send_counting(client, token, dossier(files=files), files)
    assert response.status_code == 413
    assert problems(response) == [("piece_identite.pdf", "piece.trop_grande")]
    assert read < size
    nothing_left()


def test_documents_over_the_transfer_total_are_refused_while_streaming(
    app: Flask, client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    app.config["MAX_FILE_BYTES"] = 64 * KiB
    app.config["MAX_TRANSFER_BYTES"] = 100 * KiB
    files = {f"p{i}.pdf": PDF + bytes([i]) * (50 * KiB) for i in range(6)}
    response, read, size = send_counting(client, token, dossier(files=files), files)
    assert response.status_code == 413
    assert problems(response) == [("pieces", "piece.total_trop_grand")]
    assert read < size
    nothing_left()


def test_documents_up_to_the_transfer_total_are_accepted(
    app: Flask, client: FlaskClient, token: str, session: Session
) -> None:
    app.config["MAX_FILE_BYTES"] = 64 * KiB
    app.config["MAX_TRANSFER_BYTES"] = 100 * KiB
    # Exactly the limit across the documents; the dossier part does not count.
    files = {f"p{i}.pdf": PDF + bytes([i]) * (50 * KiB - len(PDF)) for i in range(2)}
    response = send(client, token, dossier(files=files), files)
    assert response.status_code == 202
    assert session.scalar(select(func.count()).select_from(TransferDocument)) == 2


def test_dossier_part_over_its_limit_is_refused_while_streaming(
    client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    data = dossier()
    data["transfert"]["numero_dossier_origine"] = "x" * (4 * 1024 * KiB)
    response = send(client, token, data, {"piece_identite.pdf": PDF})
    assert response.status_code == 413
    assert problems(response) == [("dossier", "requete.dossier_trop_grand")]
    nothing_left()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(PE, id="pe-executable-renamed-pdf"),
        pytest.param(ELF, id="elf-executable"),
        pytest.param(HTML, id="html-page"),
        pytest.param(ZIP, id="zip-archive"),
        pytest.param(b"Bonjour, voici le certificat.", id="plain-text"),
        pytest.param(b"", id="empty-file"),
        pytest.param(b" %PDF-1.4\n", id="pdf-header-not-at-offset-0"),
        pytest.param(b"\x89PNG\r\n", id="truncated-png-signature"),
    ],
)
def test_wrong_content_type(
    client: FlaskClient, token: str, nothing_left: Callable[[], None], content: bytes
) -> None:
    files = {"piece_identite.pdf": content}
    response = send(client, token, dossier(files=files), files)
    assert response.status_code == 422
    assert problems(response) == [("pieces[0].nom_fichier", "piece.type_non_autorise")]
    assert "PDF, JPEG et PNG" in response.get_json()["erreurs"][0]["message"]
    nothing_left()


def test_part_without_body(
    client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    """A part whose head no blank line ends (RFC 2046's bodiless part, as werkzeug's encoder
    writes an empty file): `multipart`'s parser reads the body as malformed."""
    files = {"piece_identite.pdf": b""}
    raw = json.dumps(dossier(files=files)).encode()
    boundary, body = encode_multipart(
        {
            "dossier": FileStorage(io.BytesIO(raw), "dossier.json"),
            "piece_identite.pdf": FileStorage(io.BytesIO(b""), "piece_identite.pdf"),
        }
    )
    # Its head's last line, then the closing delimiter (CRLF, "--", the boundary): no blank line.
    assert body.endswith(b"application/pdf\r\n\r\n--" + boundary.encode() + b"--\r\n")
    response = client.post(
        URL,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=bearer(token),
    )
    assert response.status_code == 400
    assert problems(response) == [("", "requete.multipart_invalide")]
    nothing_left()


def test_pdf_png_and_jpeg_are_accepted_with_their_detected_type(
    client: FlaskClient,
    token: str,
    session: Session,
    backends: Backends,
    redis_client: redis.Redis,
) -> None:
    # Names and declared content types say nothing: the bytes do.
    files = {"scan.pdf": PNG, "photo.png": JPEG, "courrier.jpg": PDF}
    response = send(client, token, dossier(files=files), files)
    assert response.status_code == 202
    documents = session.scalars(select(TransferDocument).order_by(TransferDocument.position))
    assert [d.mime for d in documents] == ["image/png", "image/jpeg", "application/pdf"]
    assert len(files_under(backends.storage.root)) == 3  # the documents; the dossier is in the row
    assert redis_client.llen(QUEUE) == 1


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        pytest.param("../x.pdf", True, id="parent-path"),
        pytest.param("dossiers/x.pdf", True, id="slash"),
        # Not sent: multipart headers read a backslash as an escape, so the part would not match.
        pytest.param("dossiers\\x.pdf", False, id="backslash"),
        pytest.param("..", True, id="dot-dot"),
        pytest.param("rapport\t2026.pdf", True, id="tab"),
        pytest.param("rapport\x85.pdf", True, id="c1-control"),
        pytest.param("rapport\u202efdp.exe", True, id="bidi-override"),
        pytest.param("é" * 126 + ".pdf", True, id="256-bytes"),
    ],
)
def test_file_name_that_is_not_a_plain_name_is_refused(
    client: FlaskClient, token: str, nothing_left: Callable[[], None], name: str, sent: bool
) -> None:
    response = send(client, token, dossier(files={name: PDF}), {name: PDF} if sent else {})
    assert response.status_code == 422
    assert problems(response) == [("pieces[0].nom_fichier", "piece.nom_invalide")]
    nothing_left()


def test_file_name_of_255_bytes_is_accepted(client: FlaskClient, token: str) -> None:
    files = {"é" * 125 + "x.pdf": PDF}
    response = send(client, token, dossier(files=files), files)
    assert response.status_code == 202


def test_undeclared_part_with_a_path_is_refused(
    client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    response = send(client, token, dossier(), {"piece_identite.pdf": PDF, "../x.pdf": PDF})
    assert response.status_code == 422
    assert problems(response) == [("pieces", "piece.fichier_non_declare")]
    nothing_left()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-arrays"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="nested-objects"),
        pytest.param(latin1_dossier(), id="latin-1"),
        pytest.param(b"\xff\xfe{\x00}\x00", id="utf-16"),
    ],
)
def test_dossier_that_is_not_utf8_json(
    client: FlaskClient, token: str, nothing_left: Callable[[], None], raw: bytes
) -> None:
    response = send(client, token, raw, {"piece_identite.pdf": PDF})
    assert response.status_code == 422
    assert problems(response) == [("dossier", "requete.dossier_json")]
    nothing_left()


def test_dossier_field_that_is_not_utf8(
    client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    head = b'--B\r\nContent-Disposition: form-data; name="dossier"\r\n\r\n'
    body = head + latin1_dossier() + b"\r\n--B--\r\n"
    response = client.post(
        URL, data=body, content_type="multipart/form-data; boundary=B", headers=bearer(token)
    )
    assert response.status_code == 422
    assert problems(response) == [("dossier", "requete.dossier_json")]
    nothing_left()


def _part(head: str, body: bytes = b"{}") -> bytes:
    return b"--B\r\n" + head.encode() + b"\r\n\r\n" + body + b"\r\n"


_DOSSIER_HEAD = 'Content-Disposition: form-data; name="dossier"; filename="dossier.json"'
_PDF_HEAD = 'Content-Disposition: form-data; name="a.pdf"; filename="a.pdf"'


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"--B\r\nnot a part", "multipart/form-data; boundary=B", id="broken-part"),
        pytest.param(b"--B--\r\n", "multipart/form-data", id="no-boundary"),
        pytest.param(
            (_part(_DOSSIER_HEAD) + b"--B--\r\n").replace(b"\r\n", b"\n"),
            "multipart/form-data; boundary=B",
            id="lf-line-endings",
        ),
        pytest.param(
            _part('Content-Disposition: attachment; name="dossier"') + b"--B--\r\n",
            "multipart/form-data; boundary=B",
            id="not-form-data",
        ),
        pytest.param(_part(_DOSSIER_HEAD), "multipart/form-data; boundary=B", id="no-closing"),
        pytest.param(
            _part(_DOSSIER_HEAD + "".join(f"\r\nX-{i}: v" for i in range(16))) + b"--B--\r\n",
            "multipart/form-data; boundary=B",
            id="17-header-lines",
        ),
        pytest.param(
            _part(_DOSSIER_HEAD + "\r\nX-Long: " + "v" * 8192) + b"--B--\r\n",
            "multipart/form-data; boundary=B",
            id="head-over-8-kib",
        ),
        pytest.param(
            _part(_DOSSIER_HEAD + "\r\nX-A: " + "v" * 5000 + "\r\nX-B: " + "v" * 5000)
            + b"--B--\r\n",
            "multipart/form-data; boundary=B",
            id="two-lines-over-8-kib-in-all",
        ),
        pytest.param(
            _part('Content-Disposition: form-data; filename="a.pdf"', PDF) + b"--B--\r\n",
            "multipart/form-data; boundary=B",
            id="part-without-a-name",
        ),
        pytest.param(
            _part(_DOSSIER_HEAD) + _part(_PDF_HEAD, PDF)[:-40],
            "multipart/form-data; boundary=B",
            id="cut-in-a-document",
        ),
    ],
)
def test_malformed_multipart_body(
    client: FlaskClient,
    token: str,
    nothing_left: Callable[[], None],
    body: bytes,
    content_type: str,
) -> None:
    """Refused as malformed, by its own code, with nothing left of the parts it opened."""
    response = client.post(URL, data=body, content_type=content_type, headers=bearer(token))
    assert response.status_code == 400
    assert problems(response) == [("", "requete.multipart_invalide")]
    assert "16 lignes ou de 8 Ko au total" in response.get_json()["erreurs"][0]["message"]
    nothing_left()


def test_a_part_head_within_the_limits_is_read(
    client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    """16 header lines, the longest 8 KiB in all, are accepted: the dossier is read (and refused
    only for its content)."""
    extra = "".join(f"\r\nX-{i}: v" for i in range(14)) + "\r\nX-Long: " + "v" * 7000
    body = _part(_DOSSIER_HEAD + extra) + b"--B--\r\n"
    response = client.post(
        URL, data=body, content_type="multipart/form-data; boundary=B", headers=bearer(token)
    )
    assert response.status_code == 422
    assert all(code != "requete.multipart_invalide" for _, code in problems(response))
    nothing_left()


def test_a_filename_given_only_as_rfc_2231_makes_a_plain_field(
    client: FlaskClient, token: str, nothing_left: Callable[[], None]
) -> None:
    """RFC 7578 forbids `filename*` in form data: such a part is a plain field, so the dossier's
    document is missing and named as such."""
    files = {"a.pdf": PDF}
    raw = json.dumps(dossier(files=files)).encode()
    head = "Content-Disposition: form-data; name=\"a.pdf\"; filename*=UTF-8''a.pdf"
    body = _part(_DOSSIER_HEAD, raw) + _part(head, PDF) + b"--B--\r\n"
    response = client.post(
        URL, data=body, content_type="multipart/form-data; boundary=B", headers=bearer(token)
    )
    assert response.status_code == 422
    assert [path for path, _ in problems(response)] == ["pieces[0].nom_fichier"]
    nothing_left()


@pytest.mark.parametrize(("parts", "status"), [(200, 422), (201, 413)])
def test_at_most_200_parts(
    client: FlaskClient, token: str, nothing_left: Callable[[], None], parts: int, status: int
) -> None:
    """docs/API.md's 200 parts: the 200th is read, the 201st refused as too large a request."""
    fields = b"".join(_part(f'Content-Disposition: form-data; name="f{i}"') for i in range(parts))
    response = client.post(
        URL,
        data=fields + b"--B--\r\n",
        content_type="multipart/form-data; boundary=B",
        headers=bearer(token),
    )
    assert response.status_code == status
    nothing_left()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(json.dumps(dossier()).encode(), "application/json", id="json"),
        pytest.param(b"dossier=%7B%7D", "application/x-www-form-urlencoded", id="urlencoded"),
        pytest.param(PDF, "application/pdf", id="bare-pdf"),
    ],
)
def test_request_that_is_not_multipart(
    client: FlaskClient,
    token: str,
    nothing_left: Callable[[], None],
    body: bytes,
    content_type: str,
) -> None:
    response = client.post(URL, data=body, content_type=content_type, headers=bearer(token))
    assert response.status_code == 415
    assert problems(response) == [("", "requete.multipart")]
    nothing_left()
