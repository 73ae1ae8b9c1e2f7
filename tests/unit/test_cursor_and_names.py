"""Unit tests of the inbound polling cursor and of the safe document names inside packages."""

from __future__ import annotations

import base64
import unicodedata

import pytest

from mdph_bridge.domain.filenames import safe_name, with_type_extension
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.receiving import decode_cursor, encode_cursor
from schemas.errors import CATALOGUE

pytestmark = pytest.mark.unit

MAX_BASE = 120  # UTF-8 bytes kept from the sender's name, after the "NN-" prefix


def b64(text: str) -> str:
    """Encode text the way cursors are encoded (URL-safe, no padding)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# --- cursor -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seq", [0, 1, 7, 10**12])
def test_cursor_round_trips(seq: int) -> None:
    assert decode_cursor(encode_cursor(seq)) == seq


@pytest.mark.parametrize("seq", [0, 1, 10**12])
def test_cursor_is_url_safe_and_unpadded(seq: int) -> None:
    cursor = encode_cursor(seq)

    assert cursor
    assert "=" not in cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_cursor_is_opaque_not_the_bare_number() -> None:
    assert encode_cursor(42) != "42"


@pytest.mark.parametrize("cursor", [None, ""])
def test_absent_cursor_means_the_beginning(cursor: str | None) -> None:
    assert decode_cursor(cursor) == 0


@pytest.mark.parametrize(
    "cursor",
    [
        "zzz",
        "!!!!",
        "a",
        b64("v2:5"),
        b64("v1:-1"),
        b64("v1:abc"),
        b64("v1:"),
        b64("v1:5:6"),
        b64("5"),
        b64("v1: 5"),
        b64("v1:²"),
        b64("v1:٣"),
        base64.urlsafe_b64encode(b"v1:\xff").decode(),
    ],
    ids=[
        "zzz",
        "not-base64",
        "truncated",
        "version-2",
        "negative",
        "letters",
        "empty-seq",
        "extra-part",
        "no-version",
        "space",
        "superscript-digit",
        "arabic-indic-digit",
        "not-utf8",
    ],
)
def test_garbage_cursor_is_a_400_with_code_requete_curseur(cursor: str) -> None:
    with pytest.raises(ServiceError) as caught:
        decode_cursor(cursor)

    assert caught.value.status == 400
    assert caught.value.erreurs == [
        {"chemin": "cursor", "code": "requete.curseur", "message": CATALOGUE["requete.curseur"]}
    ]


@pytest.mark.parametrize("seq", [2**63, 10**30])
def test_cursor_beyond_64_bits_is_a_400(seq: int) -> None:
    """Larger than any BIGINT sequence: refused here, not a database error later."""
    with pytest.raises(ServiceError) as caught:
        decode_cursor(b64(f"v1:{seq}"))

    assert caught.value.status == 400


# --- safe_name --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("certificat.pdf", "01-certificat.pdf"),
        ("../../etc/passwd", "01-passwd"),
        ("/etc/shadow", "01-shadow"),
        ("dossiers/2024/avis.pdf", "01-avis.pdf"),
        ("..\\..\\Windows\\win.ini", "01-win.ini"),
        ("C:\\Users\\agent\\scan.png", "01-scan.png"),
        ("mixed/dir\\file.jpg", "01-file.jpg"),
        (".bashrc", "01-bashrc"),
        ("...cache", "01-cache"),
        ("  espace.pdf  ", "01-espace.pdf"),
        ("fin.", "01-fin"),
    ],
)
def test_safe_name_drops_directories_and_leading_dots(name: str, expected: str) -> None:
    assert safe_name(0, name) == expected


@pytest.mark.parametrize(
    "name", ["", " ", "..", "...", ". .", "/", "a/", "a\\", "../..", "\\\\server\\share\\"]
)
def test_safe_name_is_never_empty(name: str) -> None:
    assert safe_name(0, name) == "01-piece"


@pytest.mark.parametrize(
    "name",
    ["a\x00b.pdf", "a\nb.pdf", "a\rb.pdf", "a\tb.pdf", "a\x1bb.pdf", "a\x7fb.pdf", "a\u202eb.pdf"],
    ids=["nul", "lf", "cr", "tab", "esc", "del", "rtl-override"],
)
def test_safe_name_removes_control_characters(name: str) -> None:
    result = safe_name(0, name)

    assert result == "01-a_b.pdf"
    assert all(unicodedata.category(c)[0] != "C" for c in result)


@pytest.mark.parametrize(
    "name", ['a:b*c?d"e<f>g|h.pdf', "a;b&c$d`e'f.pdf"], ids=["windows", "shell"]
)
def test_safe_name_replaces_reserved_punctuation(name: str) -> None:
    result = safe_name(0, name)

    assert result.endswith(".pdf")
    assert not set(result) & set(":*?\"<>|;&$`'/\\")


def test_safe_name_keeps_accents_in_nfc_form() -> None:
    decomposed = "Compte-rendu e\u0301te\u0301 Noe\u0308l.pdf"

    result = safe_name(0, decomposed)

    assert result == "01-Compte-rendu été Noël.pdf"
    assert unicodedata.is_normalized("NFC", result)


@pytest.mark.parametrize(("position", "prefix"), [(0, "01-"), (8, "09-"), (9, "10-"), (98, "99-")])
def test_safe_name_prefixes_the_one_based_position_on_two_digits(
    position: int, prefix: str
) -> None:
    assert safe_name(position, "x.pdf") == f"{prefix}x.pdf"


def test_safe_name_makes_same_names_distinct_by_position() -> None:
    names = [safe_name(i, "scan.pdf") for i in range(3)]

    assert names == ["01-scan.pdf", "02-scan.pdf", "03-scan.pdf"]


@pytest.mark.parametrize("name", ["x" * 500, "é" * 500, ("a" * 200) + ".pdf", "../" + "b" * 300])
def test_safe_name_caps_length_in_bytes(name: str) -> None:
    result = safe_name(0, name)

    assert result.startswith("01-")
    assert len(result.encode()) <= len("01-") + MAX_BASE
    assert len(result.encode()) > MAX_BASE - 2  # long names are cut, not dropped


def test_safe_name_keeps_the_extension_of_a_long_name() -> None:
    assert safe_name(0, "a" * 200 + ".pdf").endswith("a.pdf")


def test_safe_name_fits_a_file_system_name_in_utf8() -> None:
    assert len(safe_name(0, "漢" * 200).encode("utf-8")) <= 255


@pytest.mark.parametrize(
    ("name", "extension", "expected"),
    [
        ("01-certificat.hta", ".pdf", "01-certificat.pdf"),
        ("01-page.html", ".pdf", "01-page.pdf"),
        ("01-scan", ".png", "01-scan.png"),
        ("01-photo.JPEG", ".jpg", "01-photo.jpg"),
        ("01-rapport.v2.pdf", ".pdf", "01-rapport.v2.pdf"),
    ],
)
def test_the_extension_comes_from_the_detected_type(
    name: str, extension: str, expected: str
) -> None:
    assert with_type_extension(name, extension) == expected
