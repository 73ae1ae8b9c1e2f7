"""Unit tests of the staging seal: round trips, rotation, and every way a blob can lie."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random

import pytest

from mdph_bridge.domain import sealing
from mdph_bridge.domain.sealing import (
    Keyring,
    SealError,
    SealReader,
    SealWriter,
    StagingKey,
    generate_staging_key,
    seal,
    sealed_size,
    unseal,
)

pytestmark = pytest.mark.unit

MIB = 1024 * 1024
SEALED = MIB + 16


@pytest.fixture(scope="module")
def old_key() -> StagingKey:
    """The key in use before a rotation."""
    return StagingKey("2024-01", os.urandom(32))


@pytest.fixture(scope="module")
def new_key() -> StagingKey:
    """The key in use after a rotation."""
    return StagingKey("2025-06", os.urandom(32))


@pytest.fixture(scope="module")
def keyring(old_key: StagingKey) -> Keyring:
    """A single-key ring."""
    return Keyring([old_key])


def _seal(data: bytes, keyring: Keyring) -> bytes:
    """Seal a plaintext in memory."""
    out = io.BytesIO()
    with SealWriter(out, keyring) as writer:
        writer.write(data)
    return out.getvalue()


def _open(blob: bytes, keyring: Keyring) -> bytes:
    """Open a blob in memory."""
    with SealReader(io.BytesIO(blob), keyring) as reader:
        return reader.readall()


def _header_size(key_id: str) -> int:
    """Return the header length for a key id: magic, length byte, id, salt."""
    return 10 + 1 + len(key_id) + 32


def _craft(key: StagingKey, chunks: list[tuple[bytes, bool]]) -> bytes:
    """Build a blob by hand with chosen chunk flags, to reach states the writer never makes."""
    salt = os.urandom(32)
    header = b"MDPHSEAL1\n" + bytes([len(key.key_id)]) + key.key_id.encode() + salt
    aead = sealing._blob_cipher(key, salt)
    return header + b"".join(
        aead.encrypt(sealing._chunk_nonce(i, last=last), plain, header)
        for i, (plain, last) in enumerate(chunks)
    )


_RNG = random.Random(20240602)  # noqa: S311 - reproducible sizes, not secrets
SIZES = [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB, 3 * MIB + 5] + [
    _RNG.randrange(1, 4 * MIB) for _ in range(3)
]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_with_size_digest_and_exact_length(keyring: Keyring, size: int) -> None:
    data = os.urandom(size)
    out = io.BytesIO()
    with SealWriter(out, keyring) as writer:
        writer.write(data)
    blob = out.getvalue()
    assert writer.key_id == "2024-01"
    assert writer.size == size
    assert writer.sha256 == hashlib.sha256(data).hexdigest()
    assert len(blob) == sealed_size(size, "2024-01")
    assert blob.startswith(b"MDPHSEAL1\n\x072024-01")
    assert _open(blob, keyring) == data


@pytest.mark.parametrize("piece", [1, 4096, MIB - 1, MIB, MIB + 1, 5 * MIB])
def test_round_trip_with_uneven_writes_and_reads(keyring: Keyring, piece: int) -> None:
    data = os.urandom(2 * MIB + 777 if piece > 1 else 5000)
    out = io.BytesIO()
    with SealWriter(out, keyring) as writer:
        for start in range(0, len(data), piece):
            writer.write(memoryview(data)[start : start + piece])
    assert writer.size == len(data)
    assert writer.sha256 == hashlib.sha256(data).hexdigest()
    reader = SealReader(io.BytesIO(out.getvalue()), keyring)
    read = bytearray()
    while chunk := reader.read(piece):
        read += chunk
    assert read == data


def test_sealed_size() -> None:
    assert sealed_size(0, "k") == _header_size("k") + 16
    assert sealed_size(MIB, "k") == _header_size("k") + MIB + 16
    assert sealed_size(MIB + 1, "k") == _header_size("k") + MIB + 1 + 32
    assert sealed_size(5, "a-longer-id") == _header_size("a-longer-id") + 5 + 16
    with pytest.raises(ValueError, match="negative"):
        sealed_size(-1, "k")


def test_rotation(old_key: StagingKey, new_key: StagingKey) -> None:
    before = Keyring([old_key])
    after = Keyring([new_key, old_key])
    old_blob = _seal(b"sealed before the rotation", before)
    new_blob = _seal(b"sealed after the rotation", after)
    reader = SealReader(io.BytesIO(old_blob), after)
    assert reader.key_id == "2024-01"
    assert reader.readall() == b"sealed before the rotation"
    assert SealReader(io.BytesIO(new_blob), after).key_id == "2025-06"
    assert _open(new_blob, after) == b"sealed after the rotation"
    with pytest.raises(SealError, match="unknown staging key '2024-01'"):
        SealReader(io.BytesIO(old_blob), Keyring([new_key]))


def test_same_id_with_another_secret_fails(old_key: StagingKey) -> None:
    blob = _seal(b"data", Keyring([old_key]))
    with pytest.raises(SealError, match="failed authentication"):
        _open(blob, Keyring([StagingKey(old_key.key_id, os.urandom(32))]))


def test_each_blob_has_its_own_salt(keyring: Keyring) -> None:
    first, second = _seal(b"same", keyring), _seal(b"same", keyring)
    assert first[:-20] != second[:-20]
    assert first[-20:] != second[-20:]


def test_a_changed_key_id_fails(keyring: Keyring) -> None:
    blob = bytearray(_seal(b"data", keyring))
    blob[11] ^= 0x01
    with pytest.raises(SealError, match="unknown staging key '3024-01'"):
        SealReader(io.BytesIO(bytes(blob)), keyring)
    blob[11] ^= 0x01
    blob[10] -= 1
    with pytest.raises(SealError, match="unknown staging key '2024-0'"):
        SealReader(io.BytesIO(bytes(blob)), keyring)


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(_header_size("2024-01") - 1, id="salt"),
        pytest.param(_header_size("2024-01") + 3, id="first chunk"),
        pytest.param(_header_size("2024-01") + SEALED - 1, id="first tag"),
        pytest.param(_header_size("2024-01") + SEALED + 3, id="last chunk"),
        pytest.param(-1, id="last tag"),
    ],
)
def test_a_flipped_byte_anywhere_fails(keyring: Keyring, offset: int) -> None:
    data = os.urandom(MIB + 100)
    blob = bytearray(_seal(data, keyring))
    blob[offset] ^= 0x01
    reader = SealReader(io.BytesIO(bytes(blob)), keyring)
    released = bytearray()

    def drain() -> None:
        while chunk := reader.read(65536):
            released.extend(chunk)

    with pytest.raises(SealError, match="failed authentication"):
        drain()
    assert released in (b"", data[:MIB])
    with pytest.raises(SealError):
        reader.read(1)


def test_header_swap_fails(keyring: Keyring) -> None:
    first, second = _seal(b"first", keyring), _seal(b"second", keyring)
    size = _header_size("2024-01")
    with pytest.raises(SealError, match="failed authentication"):
        _open(second[:size] + first[size:], keyring)


def test_chunk_swap_between_blobs_fails(keyring: Keyring) -> None:
    first, second = _seal(os.urandom(2 * MIB), keyring), _seal(os.urandom(2 * MIB), keyring)
    size = _header_size("2024-01")
    with pytest.raises(SealError, match="chunk 0 failed"):
        _open(first[:size] + second[size : size + SEALED] + first[size + SEALED :], keyring)


def test_chunk_reordering_fails(keyring: Keyring) -> None:
    blob = _seal(os.urandom(3 * MIB), keyring)
    size = _header_size("2024-01")
    first, second = blob[size : size + SEALED], blob[size + SEALED : size + 2 * SEALED]
    with pytest.raises(SealError, match="chunk 0 failed"):
        _open(blob[:size] + second + first + blob[size + 2 * SEALED :], keyring)


@pytest.mark.parametrize(("size", "chunks"), [(2 * MIB, 2), (2 * MIB + 10, 3)])
def test_dropping_the_last_chunk_fails(keyring: Keyring, size: int, chunks: int) -> None:
    blob = _seal(os.urandom(size), keyring)
    header = _header_size("2024-01")
    with pytest.raises(SealError, match=f"chunk {chunks - 2} failed"):
        _open(blob[: header + (chunks - 1) * SEALED], keyring)
    with pytest.raises(SealError, match="truncated"):
        _open(blob[:header], keyring)


@pytest.mark.parametrize("cut", [1, 15, 16, 17, 500])
def test_truncation_inside_the_last_chunk_fails(keyring: Keyring, cut: int) -> None:
    blob = _seal(os.urandom(MIB + 500), keyring)
    with pytest.raises(SealError):
        _open(blob[:-cut], keyring)


@pytest.mark.parametrize("size", [0, 100, MIB])
@pytest.mark.parametrize("extra", [b"\x00", os.urandom(SEALED)], ids=["byte", "chunk"])
def test_appended_bytes_fail(keyring: Keyring, size: int, extra: bytes) -> None:
    blob = _seal(os.urandom(size), keyring)
    with pytest.raises(SealError, match="failed authentication"):
        _open(blob + extra, keyring)


def test_empty_final_chunk_after_a_full_one_fails(old_key: StagingKey, keyring: Keyring) -> None:
    assert _open(_craft(old_key, [(b"", True)]), keyring) == b""
    blob = _craft(old_key, [(b"a" * MIB, False), (b"", True)])
    with pytest.raises(SealError, match="empty chunk after a full one"):
        _open(blob, keyring)


def test_stream_without_last_flag_fails(old_key: StagingKey, keyring: Keyring) -> None:
    with pytest.raises(SealError, match="chunk 0 failed"):
        _open(_craft(old_key, [(b"tail", False)]), keyring)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "not a sealed staging blob"),
        (b"MDPHSEAL2\n\x01k" + bytes(32), "not a sealed staging blob"),
        (b"MDPHSEAL1\n", "not a sealed staging blob"),
        (b"MDPHSEAL1\n\x07" + b"2024-01" + bytes(31), "truncated in its header"),
        (b"MDPHSEAL1\n\x02\xc3\xa9" + bytes(32), "non-ASCII"),
        (b"MDPHSEAL1\n\x00" + bytes(32), "unknown staging key ''"),
        (b"MDPHSEAL1\n\x07" + b"2024-01" + bytes(32), "truncated"),
        (b"MDPHSEAL1\n\x07" + b"2024-01" + bytes(32 + 15), "truncated"),
    ],
)
def test_malformed_blobs_are_rejected(keyring: Keyring, blob: bytes, message: str) -> None:
    with pytest.raises(SealError, match=message):
        _open(blob, keyring)


def test_close_is_idempotent_and_leaves_out_open(keyring: Keyring) -> None:
    out = io.BytesIO()
    writer = SealWriter(out, keyring)
    assert writer.writable()
    assert not writer.readable()
    with pytest.raises(RuntimeError, match="after the SealWriter is closed"):
        _ = writer.sha256
    writer.write(b"abc")
    writer.close()
    size = len(out.getvalue())
    writer.close()
    assert writer.closed
    assert not out.closed
    assert len(out.getvalue()) == size
    assert writer.sha256 == hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")


def test_an_aborted_with_block_leaves_a_detectably_truncated_blob(keyring: Keyring) -> None:
    out = io.BytesIO()
    w = SealWriter(out, keyring)

    def receive() -> None:
        with w:
            w.write(os.urandom(MIB + 10))
            raise RuntimeError("upload interrupted")

    with pytest.raises(RuntimeError, match="upload interrupted"):
        receive()
    assert w.closed
    with pytest.raises(RuntimeError):
        _ = w.sha256
    with pytest.raises(SealError, match="chunk 0 failed"):
        _open(out.getvalue(), keyring)


def test_a_forgotten_writer_does_not_seal_on_garbage_collection(keyring: Keyring) -> None:
    out = io.BytesIO()
    writer = SealWriter(out, keyring)
    writer.write(b"partial")
    del writer
    with pytest.raises(SealError, match="truncated"):
        _open(out.getvalue(), keyring)


def test_shutil_style_copy_through_buffered_wrappers(keyring: Keyring) -> None:
    data = os.urandom(MIB + 12345)
    out = io.BytesIO()
    with SealWriter(out, keyring) as writer:
        buffered = io.BufferedWriter(writer, buffer_size=8192)
        buffered.write(data)
        buffered.flush()
    reader = io.BufferedReader(SealReader(io.BytesIO(out.getvalue()), keyring))
    assert reader.read() == data


def _b64url(secret: bytes) -> str:
    """Spell a secret the way the keyring setting does."""
    return base64.urlsafe_b64encode(secret).decode().rstrip("=")


def test_keyring_parse_and_generate() -> None:
    first, second = generate_staging_key("2025-06"), generate_staging_key("2024.01_b")
    ring = Keyring.parse(f" {first} ,\n{second}\n")
    assert ring.primary.key_id == "2025-06"
    assert ring.primary.secret == base64.urlsafe_b64decode(first.split(":")[1] + "=")
    assert ring.get("2024.01_b").key_id == "2024.01_b"
    with pytest.raises(SealError):
        ring.get("2023")
    padded = base64.urlsafe_b64encode(bytes(range(32))).decode()
    assert Keyring.parse(f"k:{padded}").primary.secret == bytes(range(32))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  \n", "empty"),
        ("nocolon", "not of the form id:base64url"),
        (f"a:{_b64url(bytes(32))},", "#2 is not of the form"),
        (f"a:{_b64url(bytes(16))}", "#1 is not 32 bytes"),
        (f"a:{_b64url(bytes(33))}", "is not 32 bytes"),
        ("a:" + "+" * 43, "is not 32 bytes"),
        ("a:" + "A" * 42 + "!", "is not 32 bytes"),
        (f"a:{_b64url(bytes(32))},a:{_b64url(bytes(32))}", "duplicate"),
        (f"b c:{_b64url(bytes(32))}", "#1: invalid staging key id"),
        (f"{_b64url(bytes(32))}:k", "#1 is not 32 bytes"),  # id and secret swapped
        (f":{_b64url(bytes(32))}", "invalid staging key id"),
        (f"{'x' * 65}:{_b64url(bytes(32))}", "invalid staging key id"),
        (f"é:{_b64url(bytes(32))}", "invalid staging key id"),
    ],
)
def test_keyring_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Keyring.parse(text)
    assert _b64url(bytes(32)) not in str(info.value)


def test_keyring_and_key_invariants() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Keyring([])
    with pytest.raises(ValueError, match="32 bytes"):
        StagingKey("k", b"short")
    with pytest.raises(ValueError, match="invalid staging key id"):
        generate_staging_key("has:colon")
    assert repr(StagingKey("k", b"s" * 32)) == "StagingKey(key_id='k')"


class _Stream(io.RawIOBase):
    """A source that cannot seek, as a network stream: the reader cannot size its buffers."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        return self._data.readinto(b)


@pytest.mark.parametrize("size", [0, 2048, MIB, MIB + 1, 3 * MIB + 5])
def test_seekable_and_streamed_sources_open_alike(keyring: Keyring, size: int) -> None:
    data = os.urandom(size)
    blob = _seal(data, keyring)

    assert _open(blob, keyring) == data
    with SealReader(_Stream(blob), keyring) as reader:
        assert reader.readall() == data


def test_a_small_blob_is_sealed_and_opened_without_chunk_sized_buffers(keyring: Keyring) -> None:
    out = io.BytesIO()
    with SealWriter(out, keyring) as writer:
        writer.write(b"x" * 2048)
        assert len(writer._plain) < MIB
    reader = SealReader(io.BytesIO(out.getvalue()), keyring)

    assert len(reader._sealed) == len(out.getvalue()) - _header_size(keyring.primary.key_id)
    assert reader.read() == b"x" * 2048


def test_a_blob_longer_than_the_source_said_fails_to_open(keyring: Keyring) -> None:
    # The reader sized its buffer to a one-chunk blob; the source then grew by a full chunk.
    blob = _seal(os.urandom(MIB + 100), keyring)
    head = _header_size(keyring.primary.key_id)
    source = io.BytesIO(blob[: head + 100])
    reader = SealReader(source, keyring)
    source.seek(0, io.SEEK_END)
    source.write(blob[head + 100 :])  # the rest arrives after the header was read
    source.seek(head)

    with pytest.raises(SealError):
        reader.read()


@pytest.mark.parametrize("size", [0, 5_000, SEALED])
def test_a_payload_sealed_in_memory_is_a_blob_like_any_other(keyring: Keyring, size: int) -> None:
    """`seal` and `unseal` (a payload kept in a database column) agree with the streams."""
    data = os.urandom(size)
    sealed = sealing.seal(data, keyring)
    assert len(sealed) == sealed_size(size, keyring.primary.key_id)
    assert _open(sealed, keyring) == sealing.unseal(_seal(data, keyring), keyring) == data
    with pytest.raises(SealError):
        sealing.unseal(sealed[:-1], keyring)


@pytest.mark.parametrize("size", [0, 1, 3000, MIB - 1, MIB, MIB + 1, 2 * MIB + 5])
def test_seal_writes_a_blob_as_a_seal_writer_does_without_one(
    size: int, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`seal` encrypts each chunk straight from the payload: for the same salt, byte for byte
    the blob a `SealWriter` writes, which it no longer builds (its buffers and digest)."""
    plain, salt = os.urandom(size), os.urandom(32)
    monkeypatch.setattr(sealing.os, "urandom", lambda _: salt)
    out = io.BytesIO()
    with SealWriter(out, keyring) as writer:
        writer.write(plain)

    def no_writer(*_: object) -> None:
        raise AssertionError("seal built a SealWriter")

    monkeypatch.setattr(sealing, "SealWriter", no_writer)
    sealed = seal(plain, keyring)

    assert sealed == out.getvalue()
    assert unseal(sealed, keyring) == plain
