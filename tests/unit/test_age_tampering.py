"""Tampering with an envelope made by our Encryptor: every change is refused by the Decryptor.

Each case damages a real multi-chunk envelope, reads it through `Decryptor` to the end and
requires an `AgeError`; what was released before the error must be a prefix of the true
plaintext that stops at or before the damaged point, so no forged, reordered or repeated
chunk ever reaches the reader.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from mdph_bridge.domain import age
from mdph_bridge.domain.age import AgeError, Decryptor, encrypt_bytes, generate_identity

pytestmark = pytest.mark.unit

CHUNK = 64 * 1024
TAG = 16
SEALED = CHUNK + TAG
NONCE = 16
B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@dataclass(frozen=True)
class Envelope:
    """An envelope made by our Encryptor, cut into its parts so tests can rearrange them."""

    identity: str
    recipient: str
    plain: bytes
    blob: bytes

    @property
    def payload(self) -> int:
        """Offset of the first chunk: after the MAC line and the 16-byte nonce."""
        return self.blob.index(b"\n", self.blob.index(b"\n--- ") + 1) + 1 + NONCE

    @property
    def head(self) -> bytes:
        """Header and payload nonce: everything before the first chunk."""
        return self.blob[: self.payload]

    @property
    def chunks(self) -> list[bytes]:
        """The sealed chunks, in order."""
        body = self.blob[self.payload :]
        return [body[i : i + SEALED] for i in range(0, len(body), SEALED)]

    def with_chunks(self, chunks: list[bytes]) -> bytes:
        """The same header and nonce followed by other chunks."""
        return self.head + b"".join(chunks)

    def flip(self, offset: int, mask: int = 0x01) -> bytes:
        """The envelope with one byte XORed with `mask`."""
        damaged = bytearray(self.blob)
        damaged[offset] ^= mask
        return bytes(damaged)


def _make(keys: tuple[str, str], size: int) -> Envelope:
    identity, recipient = keys
    plain = os.urandom(size)
    return Envelope(identity, recipient, plain, encrypt_bytes(plain, [recipient]))


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_identity()


@pytest.fixture(scope="module")
def ragged(keys: tuple[str, str]) -> Envelope:
    """Four chunks: three full ones and a short final one."""
    env = _make(keys, 3 * CHUNK + 1000)
    assert [len(c) for c in env.chunks] == [SEALED, SEALED, SEALED, 1000 + TAG]
    return env


@pytest.fixture(scope="module")
def aligned(keys: tuple[str, str]) -> Envelope:
    """Three full chunks, the last one full too (the case where only its flag marks the end)."""
    env = _make(keys, 3 * CHUNK)
    assert [len(c) for c in env.chunks] == [SEALED] * 3
    return env


@pytest.fixture(params=[1000, 1024 * 1024], ids=["small-reads", "1MiB-reads"])
def read_size(request: pytest.FixtureRequest) -> int:
    """Consumers read with small and large buffers; neither may see unverified bytes."""
    return request.param


class _Reader:
    """Read an envelope to its end, keeping what was released before any error."""

    def __init__(self, blob: bytes, identity: str, read_size: int) -> None:
        self.blob = blob
        self.identity = identity
        self.read_size = read_size
        self.released = bytearray()
        self.dec: Decryptor | None = None

    def run(self) -> None:
        self.dec = Decryptor(io.BytesIO(self.blob), [self.identity])
        while piece := self.dec.read(self.read_size):
            self.released += piece


def _refused(
    env: Envelope, blob: bytes, read_size: int, *, before: int, match: str | None = None
) -> bytes:
    """Require the damaged `blob` to fail, releasing only true plaintext up to `before` bytes."""
    reader = _Reader(blob, env.identity, read_size)
    with pytest.raises(AgeError, match=match):
        reader.run()
    released = bytes(reader.released)
    assert env.plain.startswith(released), "released bytes that are not the true plaintext"
    assert len(released) <= before, f"released {len(released)} bytes, damage at {before}"
    if reader.dec is not None:
        with pytest.raises(AgeError):  # the failure is sticky: no read resumes after it
            reader.dec.read(1)
    return released


def _other_b64(char: int) -> int:
    """Another base64 character: a change the parser accepts, so only the crypto can object."""
    return B64[(B64.index(char) + 1) % 64]


def _replace_at(blob: bytes, offset: int, new: int) -> bytes:
    return blob[:offset] + bytes([new]) + blob[offset + 1 :]


# --- control ------------------------------------------------------------------------------------


def test_untouched_envelopes_read_back(ragged: Envelope, aligned: Envelope, read_size: int) -> None:
    for env in (ragged, aligned):
        reader = _Reader(env.blob, env.identity, read_size)
        reader.run()
        assert reader.released == env.plain


# --- header -------------------------------------------------------------------------------------


def _share_offset(blob: bytes) -> int:
    return blob.index(b"-> X25519 ") + len(b"-> X25519 ")


def _body_offset(blob: bytes) -> int:
    return blob.index(b"\n", blob.index(b"-> X25519 ")) + 1


def _mac_offset(blob: bytes) -> int:
    return blob.index(b"\n--- ") + len(b"\n--- ")


@pytest.mark.parametrize(
    ("where", "match"),
    [
        pytest.param(_share_offset, "no identity matches", id="ephemeral-share"),
        pytest.param(_body_offset, "no identity matches", id="stanza-body-first"),
        pytest.param(lambda b: _body_offset(b) + 20, "no identity matches", id="stanza-body-mid"),
        pytest.param(_mac_offset, "MAC does not match", id="mac-first"),
        pytest.param(lambda b: _mac_offset(b) + 30, "MAC does not match", id="mac-mid"),
    ],
)
def test_a_changed_header_character_is_refused_before_any_plaintext(
    ragged: Envelope, read_size: int, where: Callable[[bytes], int], match: str
) -> None:
    offset = where(ragged.blob)
    blob = _replace_at(ragged.blob, offset, _other_b64(ragged.blob[offset]))
    assert _refused(ragged, blob, read_size, before=0, match=match) == b""


@pytest.mark.parametrize("mask", [0x01, 0x20, 0x80])
def test_every_header_byte_flipped_is_refused(ragged: Envelope, mask: int) -> None:
    header_end = ragged.payload - NONCE
    for offset in range(header_end):
        reader = _Reader(ragged.flip(offset, mask), ragged.identity, CHUNK)
        with pytest.raises(AgeError):
            reader.run()
        assert reader.released == b"", f"plaintext released with header byte {offset} flipped"


def test_the_header_of_another_envelope_is_refused(
    ragged: Envelope, keys: tuple[str, str], read_size: int
) -> None:
    other = _make(keys, 10)
    blob = other.head + ragged.blob[ragged.payload :]
    _refused(ragged, blob, read_size, before=0, match="chunk 0 failed authentication")


# --- payload nonce and chunk bodies -------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 7, 15])
def test_a_flipped_payload_nonce_byte_is_refused(
    ragged: Envelope, read_size: int, index: int
) -> None:
    blob = ragged.flip(ragged.payload - NONCE + index)
    _refused(ragged, blob, read_size, before=0, match="chunk 0 failed authentication")


@pytest.mark.parametrize("chunk", [0, 1, 2, 3])
@pytest.mark.parametrize(
    "where", [0, CHUNK // 2, -TAG, -1], ids=["first-byte", "middle", "tag-first", "tag-last"]
)
def test_a_flipped_chunk_byte_is_refused_at_that_chunk(
    ragged: Envelope, read_size: int, chunk: int, where: int
) -> None:
    length = len(ragged.chunks[chunk])
    offset = ragged.payload + chunk * SEALED + (where % length if where >= 0 else length + where)
    released = _refused(
        ragged,
        ragged.flip(offset, 0x40),
        read_size,
        before=chunk * CHUNK,
        match=f"chunk {chunk} failed authentication",
    )
    assert released == ragged.plain[: chunk * CHUNK]


def test_a_flipped_byte_in_a_full_final_chunk_is_refused(aligned: Envelope, read_size: int) -> None:
    blob = aligned.flip(len(aligned.blob) - 100)
    _refused(aligned, blob, read_size, before=2 * CHUNK, match="chunk 2 failed authentication")


# --- truncation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kept", [0, 1, 2, 3])
def test_truncation_at_a_chunk_boundary_is_refused(
    ragged: Envelope, read_size: int, kept: int
) -> None:
    blob = ragged.with_chunks(ragged.chunks[:kept])
    match = "no final chunk" if kept == 0 else "truncated at a chunk boundary"
    _refused(ragged, blob, read_size, before=kept * CHUNK, match=match)


@pytest.mark.parametrize("kept", [1, 2])
def test_truncation_of_an_aligned_envelope_at_a_chunk_boundary_is_refused(
    aligned: Envelope, read_size: int, kept: int
) -> None:
    blob = aligned.with_chunks(aligned.chunks[:kept])
    _refused(aligned, blob, read_size, before=kept * CHUNK, match="truncated at a chunk boundary")


@pytest.mark.parametrize(
    ("chunk", "keep"),
    [
        (0, 1),
        (0, CHUNK // 2),
        (1, 15),
        (1, 16),
        (1, 17),
        (2, SEALED - 1),
        (3, 1),
        (3, 16),
        (3, 500),
        (3, 1000 + TAG - 1),
    ],
)
def test_truncation_inside_a_chunk_is_refused(
    ragged: Envelope, read_size: int, chunk: int, keep: int
) -> None:
    blob = ragged.blob[: ragged.payload + chunk * SEALED + keep]
    _refused(ragged, blob, read_size, before=chunk * CHUNK)


# --- reordering, duplication, splicing, appending -----------------------------------------------


def _swapped(chunks: list[bytes], i: int, j: int) -> list[bytes]:
    out = list(chunks)
    out[i], out[j] = out[j], out[i]
    return out


@pytest.mark.parametrize(("i", "j"), [(0, 1), (1, 2), (0, 2), (2, 3), (0, 3)])
def test_swapped_chunks_are_refused(ragged: Envelope, read_size: int, i: int, j: int) -> None:
    blob = ragged.with_chunks(_swapped(ragged.chunks, i, j))
    _refused(ragged, blob, read_size, before=i * CHUNK, match=f"chunk {i} failed authentication")


def test_swapping_the_full_final_chunk_is_refused(aligned: Envelope, read_size: int) -> None:
    blob = aligned.with_chunks(_swapped(aligned.chunks, 1, 2))
    _refused(aligned, blob, read_size, before=CHUNK, match="chunk 1 failed authentication")


def test_rotated_chunks_are_refused(ragged: Envelope, read_size: int) -> None:
    blob = ragged.with_chunks(ragged.chunks[1:] + ragged.chunks[:1])
    _refused(ragged, blob, read_size, before=0, match="chunk 0 failed authentication")


@pytest.mark.parametrize("chunk", [0, 1, 2, 3])
def test_a_duplicated_chunk_is_refused(ragged: Envelope, read_size: int, chunk: int) -> None:
    chunks = ragged.chunks
    blob = ragged.with_chunks(chunks[: chunk + 1] + chunks[chunk:])
    _refused(ragged, blob, read_size, before=(chunk + 1) * CHUNK)


def test_a_duplicated_full_final_chunk_is_refused(aligned: Envelope, read_size: int) -> None:
    blob = aligned.with_chunks([*aligned.chunks, aligned.chunks[-1]])
    released = _refused(
        aligned, blob, read_size, before=3 * CHUNK, match="unexpected data after the final"
    )
    assert len(released) <= 3 * CHUNK


def test_a_chunk_from_another_envelope_is_refused(
    ragged: Envelope, keys: tuple[str, str], read_size: int
) -> None:
    other = _make(keys, 3 * CHUNK)
    chunks = ragged.chunks
    chunks[1] = other.chunks[1]  # same key, same position, same length: only the file key differs
    blob = ragged.with_chunks(chunks)
    _refused(ragged, blob, read_size, before=CHUNK, match="chunk 1 failed authentication")


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        pytest.param(lambda env: env.chunks[0], "chunk 3 failed", id="copy-of-chunk-0"),
        pytest.param(lambda env: os.urandom(SEALED), "chunk 3 failed", id="random-chunk"),
        pytest.param(lambda env: b"\x00", "chunk 3 failed", id="one-byte"),
    ],
)
def test_a_chunk_appended_after_a_short_final_chunk_is_refused(
    ragged: Envelope, read_size: int, extra: Callable[[Envelope], bytes], match: str
) -> None:
    _refused(ragged, ragged.blob + extra(ragged), read_size, before=3 * CHUNK, match=match)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(lambda env: env.chunks[0], id="copy-of-chunk-0"),
        pytest.param(lambda env: env.chunks[-1], id="copy-of-final-chunk"),
        pytest.param(lambda env: os.urandom(SEALED), id="random-chunk"),
        pytest.param(lambda env: os.urandom(100), id="random-short"),
        pytest.param(lambda env: b"\x00", id="one-byte"),
    ],
)
def test_a_chunk_appended_after_a_full_final_chunk_is_refused(
    aligned: Envelope, read_size: int, extra: Callable[[Envelope], bytes]
) -> None:
    blob = aligned.blob + extra(aligned)
    _refused(aligned, blob, read_size, before=3 * CHUNK, match="unexpected data after the final")


def _payload_aead(env: Envelope) -> age.ChaCha20Poly1305:
    """The payload cipher, recovered as the recipient can: unwrap the file key, derive."""
    src = io.BytesIO(env.blob)
    args, bodies, _, _ = age._read_header(src)
    file_key = age._unwrap_file_key(args, bodies, [age._parse_identity(env.identity)])
    nonce = env.blob[env.payload - NONCE : env.payload]
    return age.ChaCha20Poly1305(age._hkdf(file_key, nonce, b"payload"))


@pytest.mark.parametrize("last", [True, False], ids=["flagged-last", "flagged-not-last"])
def test_a_well_sealed_chunk_after_the_final_one_is_refused(
    ragged: Envelope, aligned: Envelope, read_size: int, last: bool
) -> None:
    # Even a chunk sealed under the right key with the next counter cannot extend the stream:
    # the final flag of the original last chunk ends it.
    for env, count in ((ragged, 4), (aligned, 3)):
        forged = _payload_aead(env).encrypt(age._chunk_nonce(count, last=last), b"x" * 100, None)
        released = _refused(env, env.blob + forged, read_size, before=len(env.plain))
        assert b"x" * 100 not in released
