"""Unit tests of document typing: known from the first bytes, however the stream splits them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdph_bridge.domain.filetypes import detect_mime
from mdph_bridge.domain.sealing import Keyring, generate_staging_key
from mdph_bridge.http.uploads import MAX_DOSSIER_BYTES, DossierPart, SealedPart, UploadSink
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.storage import LocalStorage

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"%PDF", None),  # no dash: not the PDF header
        (b"\xef\xbb\xbf%PDF-1.4", None),  # a byte-order mark before the header
        (b"\x89PNG\r\n\x1a", None),  # signature cut short
        (b"\xff\xd8", None),
        (b"MZ\x90\x00", None),
        (b"\x7fELF", None),
        (b"<html>", None),
        (b"PK\x03\x04", None),
        (b"", None),
    ],
)
def test_detect_mime(head: bytes, mime: str | None) -> None:
    assert detect_mime(head) == mime


def test_type_is_recognised_when_the_signature_arrives_in_pieces(tmp_path: Path) -> None:
    keyring = Keyring.parse(generate_staging_key("unit"))
    sink = UploadSink(LocalStorage(tmp_path), keyring, 1024, 1024)
    part = sink.open_part("scan.png")
    assert isinstance(part, SealedPart)
    for byte in PNG:
        part.write(bytes([byte]))
    staged = part.finish()
    assert (staged.mime, staged.size) == ("image/png", len(PNG))
    sink.cleanup()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_the_dossier_part_stays_in_memory_within_its_limit(tmp_path: Path) -> None:
    keyring = Keyring.parse(generate_staging_key("unit"))
    sink = UploadSink(LocalStorage(tmp_path), keyring, 1024, 1024)
    first, second = sink.open_part("dossier"), sink.open_part("dossier")
    assert isinstance(first, DossierPart)
    assert isinstance(second, DossierPart)
    first.write(b'{"a": ')
    first.write(b"1}")
    assert first.read() == b'{"a": 1}'
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # no blob, sealed or not
    second.write(b"x" * MAX_DOSSIER_BYTES)  # a repeated part is held to the same limit
    with pytest.raises(ServiceError) as refused:
        second.write(b"x")
    assert refused.value.status == 413
    assert second.read() == b""  # and not kept: only the first is read
