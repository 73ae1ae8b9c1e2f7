"""Tampering seen by both implementations: the `age` tool and our Decryptor refuse it alike.

The `age` tool refusing our damaged envelopes proves that our output carries real
authentication (not just a format `age` happens to parse), and that our chunk flags are where
the standard puts them; our Decryptor refusing damaged files made by `age` proves we check
what the reference implementation writes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mdph_bridge.domain.age import AgeError, Decryptor, encrypt_bytes, generate_identity

pytestmark = pytest.mark.integration

CHUNK = 64 * 1024
TAG = 16
SEALED = CHUNK + TAG
NONCE = 16
SIZE = 3 * CHUNK + 1000  # three full chunks and a short final one


def _age() -> str:
    """Locate the `age` binary, failing (not skipping) so a missing tool cannot hide anything."""
    path = shutil.which("age")
    if path is None:
        pytest.fail("`age` not found: install the Debian package `age`", pytrace=False)
    return path


def _payload(blob: bytes) -> int:
    """Offset of the first chunk: after the MAC line and the 16-byte payload nonce."""
    return blob.index(b"\n", blob.index(b"\n--- ") + 1) + 1 + NONCE


def _chunks(blob: bytes) -> list[bytes]:
    body = blob[_payload(blob) :]
    return [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


def _with_chunks(blob: bytes, chunks: list[bytes]) -> bytes:
    return blob[: _payload(blob)] + b"".join(chunks)


def _flip(blob: bytes, offset: int) -> bytes:
    damaged = bytearray(blob)
    damaged[offset] ^= 0x01
    return bytes(damaged)


def _other_b64(blob: bytes, offset: int) -> bytes:
    """Replace one base64 character by another valid one, so only the crypto can object."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    new = alphabet[(alphabet.index(blob[offset]) + 1) % 64]
    return blob[:offset] + bytes([new]) + blob[offset + 1 :]


def _age_decrypt(tmp_path: Path, identity: str, blob: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run `age -d -i KEY` on `blob` from stdin; the caller checks the exit status."""
    key_file = tmp_path / "identity.txt"
    key_file.write_text(f"{identity}\n")
    return subprocess.run(
        [_age(), "-d", "-i", str(key_file)],
        input=blob,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def ours() -> tuple[str, bytes, bytes]:
    """(identity, plaintext, envelope made by our Encryptor)."""
    identity, recipient = generate_identity()
    plain = os.urandom(SIZE)
    return identity, plain, encrypt_bytes(plain, [recipient])


@pytest.fixture(scope="module")
def theirs() -> tuple[str, bytes, bytes]:
    """(identity, plaintext, file made by the `age` tool)."""
    identity, recipient = generate_identity()
    plain = os.urandom(SIZE)
    done = subprocess.run(
        [_age(), "-r", recipient], input=plain, capture_output=True, timeout=60, check=True
    )
    return identity, plain, done.stdout


# --- the age tool on our envelopes --------------------------------------------------------------


def test_age_reads_our_untouched_envelope(tmp_path: Path, ours: tuple[str, bytes, bytes]) -> None:
    identity, plain, blob = ours
    done = _age_decrypt(tmp_path, identity, blob)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout == plain


@pytest.mark.parametrize(
    ("where", "damaged_chunk"),
    [
        pytest.param(lambda b: _payload(b) - NONCE, 0, id="nonce-first"),
        pytest.param(lambda b: _payload(b) - 1, 0, id="nonce-last"),
        pytest.param(lambda b: _payload(b), 0, id="chunk0-first"),
        pytest.param(lambda b: _payload(b) + SEALED + CHUNK // 2, 1, id="chunk1-middle"),
        pytest.param(lambda b: _payload(b) + 3 * SEALED - TAG, 2, id="chunk2-tag"),
        pytest.param(lambda b: len(b) - 1, 3, id="final-chunk-tag-last"),
    ],
)
def test_age_refuses_our_envelope_with_a_flipped_payload_byte(
    tmp_path: Path,
    ours: tuple[str, bytes, bytes],
    where: Callable[[bytes], int],
    damaged_chunk: int,
) -> None:
    identity, plain, blob = ours
    done = _age_decrypt(tmp_path, identity, _flip(blob, where(blob)))
    assert done.returncode != 0
    # age streams too: what it printed before failing must be true plaintext before the damage.
    assert plain.startswith(done.stdout)
    assert len(done.stdout) <= damaged_chunk * CHUNK


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda b: b.index(b"\n", b.index(b"-> X25519 ")) + 1, id="stanza-body"),
        pytest.param(lambda b: b.index(b"-> X25519 ") + 10, id="ephemeral-share"),
        pytest.param(lambda b: b.index(b"\n--- ") + 5, id="mac"),
    ],
)
def test_age_refuses_our_envelope_with_a_changed_header(
    tmp_path: Path, ours: tuple[str, bytes, bytes], where: Callable[[bytes], int]
) -> None:
    identity, _, blob = ours
    done = _age_decrypt(tmp_path, identity, _other_b64(blob, where(blob)))
    assert done.returncode != 0
    assert done.stdout == b""


@pytest.mark.parametrize("kept", [1, 2, 3])
def test_age_refuses_our_envelope_cut_at_a_chunk_boundary(
    tmp_path: Path, ours: tuple[str, bytes, bytes], kept: int
) -> None:
    # Refused only if our non-final chunks really carry the "not last" flag.
    identity, plain, blob = ours
    done = _age_decrypt(tmp_path, identity, _with_chunks(blob, _chunks(blob)[:kept]))
    assert done.returncode != 0
    assert plain.startswith(done.stdout)


def test_age_refuses_our_aligned_envelope_with_a_chunk_appended(tmp_path: Path) -> None:
    # Refused only if our final full chunk really carries the "last" flag.
    identity, recipient = generate_identity()
    plain = os.urandom(2 * CHUNK)
    blob = encrypt_bytes(plain, [recipient])
    assert _age_decrypt(tmp_path, identity, blob).returncode == 0
    done = _age_decrypt(tmp_path, identity, blob + _chunks(blob)[0])
    assert done.returncode != 0
    assert plain.startswith(done.stdout)


@pytest.mark.parametrize(("i", "j"), [(0, 1), (1, 2)])
def test_age_refuses_our_envelope_with_swapped_chunks(
    tmp_path: Path, ours: tuple[str, bytes, bytes], i: int, j: int
) -> None:
    identity, plain, blob = ours
    chunks = _chunks(blob)
    chunks[i], chunks[j] = chunks[j], chunks[i]
    done = _age_decrypt(tmp_path, identity, _with_chunks(blob, chunks))
    assert done.returncode != 0
    assert plain.startswith(done.stdout)
    assert len(done.stdout) <= i * CHUNK


# --- our Decryptor on files made by age ---------------------------------------------------------


class _Reader:
    """Read through our Decryptor to the end, keeping what was released before any error."""

    def __init__(self, blob: bytes, identity: str) -> None:
        self.blob = blob
        self.identity = identity
        self.released = bytearray()

    def run(self) -> None:
        dec = Decryptor(io.BytesIO(self.blob), [self.identity])
        while piece := dec.read(10_000):
            self.released += piece


def test_we_read_the_untouched_age_file(theirs: tuple[str, bytes, bytes]) -> None:
    identity, plain, blob = theirs
    assert [len(c) for c in _chunks(blob)] == [SEALED, SEALED, SEALED, 1000 + TAG]
    reader = _Reader(blob, identity)
    reader.run()
    assert reader.released == plain


@pytest.mark.parametrize(("i", "j"), [(0, 1), (1, 2), (2, 3)])
def test_we_refuse_an_age_file_with_swapped_chunks(
    theirs: tuple[str, bytes, bytes], i: int, j: int
) -> None:
    identity, plain, blob = theirs
    chunks = _chunks(blob)
    chunks[i], chunks[j] = chunks[j], chunks[i]
    reader = _Reader(_with_chunks(blob, chunks), identity)
    with pytest.raises(AgeError, match=f"chunk {i} failed authentication"):
        reader.run()
    assert reader.released == plain[: i * CHUNK]


def test_we_refuse_an_age_file_cut_at_a_chunk_boundary(theirs: tuple[str, bytes, bytes]) -> None:
    identity, plain, blob = theirs
    reader = _Reader(_with_chunks(blob, _chunks(blob)[:2]), identity)
    with pytest.raises(AgeError, match="truncated at a chunk boundary"):
        reader.run()
    assert plain.startswith(reader.released)
    assert len(reader.released) <= 2 * CHUNK


def test_we_refuse_an_age_file_with_a_flipped_byte(theirs: tuple[str, bytes, bytes]) -> None:
    identity, plain, blob = theirs
    reader = _Reader(_flip(blob, _payload(blob) + SEALED + 5), identity)
    with pytest.raises(AgeError, match="chunk 1 failed authentication"):
        reader.run()
    assert reader.released == plain[:CHUNK]
