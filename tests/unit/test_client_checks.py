"""The receiving client's own checks: documents against the sender's hashes, secure addresses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mdph_bridge.client.envelope import _check_documents
from mdph_bridge.client.hub import Hub, PullError

pytestmark = pytest.mark.unit


def folder(tmp_path: Path, content: bytes, declared: bytes) -> Path:
    (tmp_path / "pieces").mkdir()
    (tmp_path / "pieces" / "01-a.pdf").write_bytes(content)
    piece = {"fichier": "pieces/01-a.pdf", "sha256": hashlib.sha256(declared).hexdigest()}
    (tmp_path / "dossier.json").write_text(json.dumps({"pieces": [piece]}))
    return tmp_path


def test_documents_matching_the_senders_hashes_pass(tmp_path: Path) -> None:
    _check_documents(folder(tmp_path, b"%PDF-1", b"%PDF-1"), "dossier.json", "l'enveloppe")


def test_a_document_differing_from_the_senders_hash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PullError, match="pièce n°1"):
        _check_documents(folder(tmp_path, b"%PDF-1", b"%PDF-2"), "dossier.json", "l'enveloppe")


@pytest.mark.parametrize("url", ["http://hub.example", "ftp://hub.example", "hub.example"])
def test_the_hub_is_reached_over_https_only(url: str) -> None:
    with pytest.raises(PullError, match="https"):
        Hub(url, "token")


@pytest.mark.parametrize(
    "url", ["https://hub.example", "http://127.0.0.1:8000", "http://localhost"]
)
def test_https_or_this_machine_is_accepted(url: str) -> None:
    assert Hub(url, "token").url == url
