"""Unit tests of the age v1 implementation: round trips, keys, and every way a file can lie."""

from __future__ import annotations

import io
import os
import random
import tarfile
from collections.abc import Callable

import pytest

from mdph_bridge.domain import age
from mdph_bridge.domain.age import (
    AgeError,
    Decryptor,
    Encryptor,
    check_recipient,
    decrypt_bytes,
    encrypt_bytes,
    generate_identity,
    recipient_of,
)

pytestmark = pytest.mark.unit

CHUNK = 64 * 1024
SEALED = CHUNK + 16
# The example key pair printed in the age specification (c2sp.org/age).
SPEC_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    """One key pair shared by the tests that need any."""
    return generate_identity()


def _payload_offset(blob: bytes) -> int:
    """Return where the chunks start: after the MAC line and the 16-byte nonce."""
    return blob.index(b"\n", blob.index(b"\n--- ") + 1) + 1 + 16


def _craft(recipient: str, chunks: list[tuple[bytes, bool]], extra_stanzas: bytes = b"") -> bytes:
    """Build an age file by hand, with chosen stanzas and chunk flags, under a valid MAC."""
    file_key = os.urandom(16)
    key = age._parse_recipient(recipient)
    header = b"age-encryption.org/v1\n" + age._x25519_stanza(file_key, key) + extra_stanzas
    header += b"---"
    mac = age._header_mac(file_key, header)
    nonce = os.urandom(16)
    aead = age.ChaCha20Poly1305(age._hkdf(file_key, nonce, b"payload"))
    body = b"".join(
        aead.encrypt(age._chunk_nonce(i, last=last), plain, None)
        for i, (plain, last) in enumerate(chunks)
    )
    return header + b" " + age._b64encode(mac) + b"\n" + nonce + body


def _drain(stream: io.RawIOBase, into: bytearray) -> None:
    """Read a stream to its end into `into`, keeping what arrived before any error."""
    while chunk := stream.read(4096):
        into += chunk


def _read_all(dec: io.RawIOBase, size: int) -> bytes:
    """Drain a stream with reads of a fixed size, as a consumer with a small buffer would."""
    out = bytearray()
    while chunk := dec.read(size):
        out += chunk
    return bytes(out)


_RNG = random.Random(20240601)  # noqa: S311 - reproducible sizes, not secrets
SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 1] + [
    _RNG.randrange(1, 5 * CHUNK) for _ in range(4)
]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip(keys: tuple[str, str], size: int) -> None:
    identity, recipient = keys
    data = os.urandom(size)
    blob = encrypt_bytes(data, [recipient])
    chunks = max(1, -(-size // CHUNK))
    assert len(blob) == _payload_offset(blob) + size + 16 * chunks
    assert decrypt_bytes(blob, [identity]) == data


@pytest.mark.parametrize("piece", [1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK])
def test_round_trip_with_uneven_writes_and_reads(keys: tuple[str, str], piece: int) -> None:
    identity, recipient = keys
    data = os.urandom(3 * CHUNK + 12345 if piece > 1 else 3000)
    out = io.BytesIO()
    with Encryptor(out, [recipient]) as enc:
        for start in range(0, len(data), piece):
            assert enc.write(data[start : start + piece]) == len(data[start : start + piece])
    assert out.getvalue()
    assert decrypt_bytes(out.getvalue(), [identity]) == data
    assert _read_all(Decryptor(io.BytesIO(out.getvalue()), [identity]), piece) == data


def test_write_accepts_any_buffer(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    out = io.BytesIO()
    with Encryptor(out, [recipient]) as enc:
        enc.write(bytearray(b"ab"))
        enc.write(memoryview(b"xcdx")[1:3])
        enc.write(memoryview(bytes(range(8))).cast("I"))
    assert decrypt_bytes(out.getvalue(), [identity]) == b"abcd" + bytes(range(8))


def test_decrypt_from_a_source_with_short_reads(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    data = os.urandom(2 * CHUNK + 3)

    class Trickle(io.RawIOBase):
        """A source that never returns more than 1000 bytes at once, like a slow socket."""

        def __init__(self, blob: bytes) -> None:
            self._inner = io.BytesIO(blob)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:
            return self._inner.readinto(memoryview(b)[:1000])

    src = Trickle(encrypt_bytes(data, [recipient]))
    assert Decryptor(src, [identity]).readall() == data


def test_several_recipients_each_decrypt() -> None:
    pairs = [generate_identity() for _ in range(3)]
    data = os.urandom(CHUNK + 5)
    blob = encrypt_bytes(data, [recipient for _, recipient in pairs])
    assert blob.count(b"\n-> X25519 ") == 3
    for identity, _ in pairs:
        assert decrypt_bytes(blob, [identity]) == data
    assert decrypt_bytes(blob, [generate_identity()[0], pairs[2][0]]) == data


def test_wrong_identity_fails(keys: tuple[str, str]) -> None:
    blob = encrypt_bytes(b"secret", [keys[1]])
    with pytest.raises(AgeError, match="no identity matches"):
        decrypt_bytes(blob, [generate_identity()[0]])
    with pytest.raises(AgeError, match="no identity matches"):
        decrypt_bytes(blob, [])


def test_unknown_stanzas_are_ignored(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    grease = b"-> x.example/grease a!b\n" + b"A" * 64 + b"\n" + b"AAAA\n"
    blob = _craft(recipient, [(b"hello", True)], extra_stanzas=grease)
    assert decrypt_bytes(blob, [identity]) == b"hello"


def test_scrypt_stanza_alone_does_not_match(keys: tuple[str, str]) -> None:
    blob = encrypt_bytes(b"hello", [keys[1]])
    scrypt = b"age-encryption.org/v1\n-> scrypt c2FsdA 18\n" + b"A" * 43 + b"\n--- "
    with pytest.raises(AgeError, match="no identity matches"):
        decrypt_bytes(scrypt + blob.split(b"\n--- ", 1)[1], [keys[0]])


def test_header_mac_mismatch(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    blob = encrypt_bytes(b"data", [recipient])
    tampered = blob.replace(b"\n--- ", b"\n-> extra stanza\n\n--- ", 1)
    with pytest.raises(AgeError, match="MAC does not match"):
        decrypt_bytes(tampered, [identity])
    other = encrypt_bytes(b"data", [recipient])
    mac_line = other[other.index(b"\n--- ") : other.index(b"\n", other.index(b"\n--- ") + 1)]
    start = blob.index(b"\n--- ")
    swapped = blob[:start] + mac_line + blob[start + len(mac_line) :]
    with pytest.raises(AgeError, match="MAC does not match"):
        decrypt_bytes(swapped, [identity])


@pytest.mark.parametrize("chunk_index", [0, 1, 2, 3])
def test_flipped_byte_in_any_chunk_fails_before_its_plaintext_is_released(
    keys: tuple[str, str], chunk_index: int
) -> None:
    identity, recipient = keys
    data = os.urandom(3 * CHUNK + 100)
    blob = bytearray(encrypt_bytes(data, [recipient]))
    blob[_payload_offset(bytes(blob)) + chunk_index * SEALED + 7] ^= 0x01
    dec = Decryptor(io.BytesIO(bytes(blob)), [identity])
    released = bytearray()
    with pytest.raises(AgeError, match=f"chunk {chunk_index} failed authentication"):
        _drain(dec, released)
    assert released == data[: chunk_index * CHUNK]
    with pytest.raises(AgeError):
        dec.read(1)


def test_flipped_nonce_fails(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    blob = bytearray(encrypt_bytes(b"x" * 10, [recipient]))
    blob[_payload_offset(bytes(blob)) - 1] ^= 0x80
    with pytest.raises(AgeError, match="failed authentication"):
        decrypt_bytes(bytes(blob), [identity])


def test_swapped_chunks_fail(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    blob = encrypt_bytes(os.urandom(3 * CHUNK), [recipient])
    start = _payload_offset(blob)
    first, second = blob[start : start + SEALED], blob[start + SEALED : start + 2 * SEALED]
    with pytest.raises(AgeError, match="chunk 0 failed"):
        decrypt_bytes(blob[:start] + second + first + blob[start + 2 * SEALED :], [identity])


@pytest.mark.parametrize("size", [2 * CHUNK, 2 * CHUNK + 100])
def test_truncation_at_a_chunk_boundary_fails(keys: tuple[str, str], size: int) -> None:
    identity, recipient = keys
    blob = encrypt_bytes(os.urandom(size), [recipient])
    start = _payload_offset(blob)
    with pytest.raises(AgeError, match="truncated at a chunk boundary"):
        decrypt_bytes(blob[: start + SEALED], [identity])
    with pytest.raises(AgeError, match="no final chunk"):
        decrypt_bytes(blob[:start], [identity])


@pytest.mark.parametrize(
    ("keep", "message"),
    [(-16, "truncated before its payload"), (-1, "truncated before its payload"), (5, "partial")],
)
def test_truncation_at_the_payload_start_fails(
    keys: tuple[str, str], keep: int, message: str
) -> None:
    identity, recipient = keys
    blob = encrypt_bytes(b"", [recipient])
    with pytest.raises(AgeError, match=message):
        decrypt_bytes(blob[: _payload_offset(blob) + keep], [identity])


@pytest.mark.parametrize("cut", [1, 15, 16, 17, 1000])
def test_truncation_inside_the_last_chunk_fails(keys: tuple[str, str], cut: int) -> None:
    identity, recipient = keys
    blob = encrypt_bytes(os.urandom(CHUNK + 1000), [recipient])
    with pytest.raises(AgeError):
        decrypt_bytes(blob[:-cut], [identity])


@pytest.mark.parametrize(
    ("size", "message"),
    [(CHUNK, "unexpected data after the final"), (100, "failed authentication"), (0, None)],
)
@pytest.mark.parametrize("extra", [b"\x00", os.urandom(SEALED)], ids=["byte", "chunk"])
def test_appended_bytes_fail(
    keys: tuple[str, str], size: int, message: str | None, extra: bytes
) -> None:
    identity, recipient = keys
    blob = encrypt_bytes(os.urandom(size), [recipient])
    with pytest.raises(AgeError, match=message):
        decrypt_bytes(blob + extra, [identity])


def test_stream_without_last_flag_fails(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    blob = _craft(recipient, [(b"a" * CHUNK, False), (b"tail", False)])
    with pytest.raises(AgeError, match="chunk 1 failed"):
        decrypt_bytes(blob, [identity])


def test_empty_final_chunk_after_a_full_one_fails(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    assert decrypt_bytes(_craft(recipient, [(b"", True)]), [identity]) == b""
    blob = _craft(recipient, [(b"a" * CHUNK, False), (b"", True)])
    with pytest.raises(AgeError, match="empty chunk after a full one"):
        decrypt_bytes(blob, [identity])


def test_short_chunk_before_the_last_fails(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    blob = _craft(recipient, [(b"a" * 10, False), (b"b" * 10, True)])
    with pytest.raises(AgeError, match="failed authentication"):
        decrypt_bytes(blob, [identity])


def _mangle(blob: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the first occurrence of `old`, failing loudly if the test lost its target."""
    assert old in blob
    return blob.replace(old, new, 1)


def _share_line(blob: bytes) -> bytes:
    """Return the `-> X25519 …` line of a single-recipient file."""
    start = blob.index(b"-> X25519 ")
    return blob[start : blob.index(b"\n", start)]


def _body_line(blob: bytes) -> bytes:
    """Return the body line of the single X25519 stanza."""
    start = blob.index(b"\n", blob.index(b"-> X25519 ")) + 1
    return blob[start : blob.index(b"\n", start)]


def _non_canonical(text: bytes) -> bytes:
    """Flip the unused low bits of the last base64 character, keeping the decoded bytes."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return text[:-1] + bytes([alphabet[alphabet.index(text[-1]) ^ 1]])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: _mangle(b, b"/v1\n", b"/v2\n"), "unsupported age version"),
        (lambda b: b"-----BEGIN AGE ENCRYPTED FILE-----\n" + b, "not an age v1 file"),
        (lambda _: b"hello world\n", "not an age v1 file"),
        (lambda _: b"", "truncated"),
        (lambda _: b"age-encryption.org/v1", "truncated"),
        (lambda b: b[: b.index(b"\n--- ") + 3], "truncated"),
        (lambda b: _mangle(b, b"\n-> X25519 ", b"\n->X25519 "), "malformed age header line"),
        (lambda b: _mangle(b, b"\n-> X25519 ", b"\n-> X25519  "), "malformed age stanza"),
        (lambda b: _mangle(b, b"\n-> X25519 ", b"\n-> X2\x7f519 "), "malformed age stanza"),
        (lambda b: _mangle(b, _share_line(b), _share_line(b) + b" x"), "malformed X25519"),
        (lambda b: _mangle(b, _share_line(b), _share_line(b)[:-3]), "malformed X25519"),
        (lambda b: _mangle(b, _share_line(b), _share_line(b) + b"="), "base64"),
        (lambda b: _mangle(b, _share_line(b), _non_canonical(_share_line(b))), "non-canonical"),
        (lambda b: _mangle(b, _share_line(b), b"-> X25519 " + b"A" * 43), "low-order"),
        (lambda b: _mangle(b, _body_line(b), _body_line(b)[:-3]), "malformed X25519"),
        (
            lambda b: _mangle(b, _body_line(b), b"A" * 64 + b"\n" + _body_line(b)),
            "malformed X25519",
        ),
        (
            lambda b: _mangle(b, b"\n--- ", b"\n" + b"A" * 40 + b"\n--- "),
            "malformed age header line",
        ),
        (lambda b: _mangle(b, b"\n--- ", b"\n-> long\n" + b"A" * 65 + b"\n--- "), "longer than 64"),
        (lambda b: _mangle(b, b"\n--- ", b"\n-> empty\n--- "), "base64"),
        (lambda b: _mangle(b, b"\n--- ", b"\n-> long\n" + b"A" * 64 + b"\n--- "), "base64"),
        (lambda b: _mangle(b, b"\n--- ", b"\n---"), "malformed age header line"),
        (lambda b: _mangle(b, b"\n--- ", b"\n--- AAAA"), "malformed age header MAC"),
        (lambda b: b"age-encryption.org/v1\n--- " + b.split(b"\n--- ")[1], "no recipient"),
        (lambda _: b"age-encryption.org/v1\n" + b"-> a\n\n" * 20000, "too large"),
    ],
)
def test_malformed_headers_are_rejected(
    keys: tuple[str, str], mangle: Callable[[bytes], bytes], message: str
) -> None:
    identity, recipient = keys
    blob = encrypt_bytes(b"payload", [recipient])
    with pytest.raises(AgeError, match=message):
        decrypt_bytes(mangle(blob), [identity])


def test_body_wrapping_follows_the_spec() -> None:
    assert age._stanza([b"t"], b"") == b"-> t\n\n"
    assert age._stanza([b"t"], b"\x00" * 48) == b"-> t\n" + b"A" * 64 + b"\n\n"
    assert age._stanza([b"t"], b"\x00" * 49) == b"-> t\n" + b"A" * 64 + b"\nAA\n"


def test_spec_key_pair() -> None:
    assert recipient_of(SPEC_IDENTITY) == SPEC_RECIPIENT
    assert check_recipient(f"  {SPEC_RECIPIENT}\n") == SPEC_RECIPIENT


def test_generated_keys_are_consistent() -> None:
    identity, recipient = generate_identity()
    assert identity.startswith("AGE-SECRET-KEY-1")
    assert len(identity) == 74
    assert recipient.startswith("age1")
    assert len(recipient) == 62
    assert recipient_of(identity) == recipient == check_recipient(recipient)
    assert generate_identity() != (identity, recipient)


def _with_checksum(hrp: str, groups: list[int]) -> str:
    """Spell arbitrary 5-bit groups as bech32 with a valid checksum, padding or not."""
    polymod = age._bech32_polymod(age._bech32_hrp_expand(hrp) + groups + [0] * 6) ^ 1
    groups = groups + [polymod >> 5 * (5 - i) & 31 for i in range(6)]
    return hrp + "1" + "".join(age._BECH32_CHARSET[g] for g in groups)


@pytest.mark.parametrize(
    "text",
    [
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        SPEC_RECIPIENT,
        SPEC_IDENTITY,
        _with_checksum("age", [0] * 200),  # longer than BIP 173's 90 characters
    ],
)
def test_bech32_round_trip(text: str) -> None:
    hrp, data = age._bech32_decode(text)
    assert hrp == text[: text.rfind("1")]
    assert age._bech32_encode(hrp, data) == text


@pytest.mark.parametrize(
    "text",
    [
        "pzry9x0s0muk",  # no separator
        "1pzry9x0s0muk",  # empty prefix
        "x1b4n0q5v",  # invalid data character
        "li1dgmt3",  # checksum too short
        "de1lg7wt\xff",  # invalid character in checksum
        "A1G7SGD8",  # checksum computed over the uppercase prefix
        "a12UEL5L",  # mixed case
        _with_checksum("a", [0] * 9),  # five leftover bits: padding longer than a group
        _with_checksum("a", [0, 1]),  # non-zero padding bits
        _with_checksum("a", [0]),  # five bits cannot hold a byte
        SPEC_RECIPIENT[:-1] + "q",  # bad checksum
        SPEC_RECIPIENT.replace("zvky", "zvkz"),  # typo in the data
    ],
)
def test_bech32_rejects(text: str) -> None:
    with pytest.raises(AgeError):
        age._bech32_decode(text)


@pytest.mark.parametrize(
    "text",
    [
        SPEC_RECIPIENT.upper(),
        SPEC_RECIPIENT[:-1] + "q",
        SPEC_IDENTITY,
        "age1pq1" + SPEC_RECIPIENT[4:],
        age._bech32_encode("age", bytes(31)),
        age._bech32_encode("age", bytes(32)),  # low-order point
        age._bech32_encode("age", b"\x01" + bytes(31)),  # low-order point
        "",
    ],
)
def test_check_recipient_rejects(text: str) -> None:
    with pytest.raises(AgeError):
        check_recipient(text)


@pytest.mark.parametrize(
    "text",
    [SPEC_IDENTITY.lower(), SPEC_RECIPIENT, SPEC_IDENTITY[:-1] + "Q", "AGE-SECRET-KEY-1"],
)
def test_recipient_of_rejects(text: str) -> None:
    with pytest.raises(AgeError):
        recipient_of(text)


def test_a_bad_identity_fails_before_reading() -> None:
    with pytest.raises(AgeError):
        Decryptor(io.BytesIO(b""), ["not a key"])


def test_arguments_must_be_lists(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    with pytest.raises(TypeError):
        Encryptor(io.BytesIO(), recipient)
    with pytest.raises(TypeError):
        Decryptor(io.BytesIO(encrypt_bytes(b"", [recipient])), identity)
    with pytest.raises(AgeError, match="at least one"):
        Encryptor(io.BytesIO(), [])


def test_close_is_idempotent_and_leaves_out_open(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    out = io.BytesIO()
    enc = Encryptor(out, [recipient])
    assert enc.writable()
    assert not enc.readable()
    assert not enc.seekable()
    enc.write(b"abc")
    enc.close()
    size = len(out.getvalue())
    enc.close()
    assert enc.closed
    assert not out.closed
    assert len(out.getvalue()) == size
    with pytest.raises(ValueError, match="closed"):
        enc.write(b"more")
    assert decrypt_bytes(out.getvalue(), [identity]) == b"abc"


def test_an_aborted_with_block_leaves_a_detectably_truncated_file(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    out = io.BytesIO()
    enc = Encryptor(out, [recipient])

    def produce() -> None:
        with enc:
            enc.write(os.urandom(CHUNK + 10))
            raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        produce()
    assert enc.closed
    with pytest.raises(AgeError, match="truncated at a chunk boundary"):
        decrypt_bytes(out.getvalue(), [identity])


def test_a_forgotten_encryptor_does_not_seal_on_garbage_collection(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    out = io.BytesIO()
    enc = Encryptor(out, [recipient])
    enc.write(b"partial")
    del enc
    with pytest.raises(AgeError, match="no final chunk"):
        decrypt_bytes(out.getvalue(), [identity])


def test_tarfile_streams_through(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    files = {"a.txt": b"hello\n", "big.bin": os.urandom(3 * CHUNK + 17), "empty": b""}
    out = io.BytesIO()
    with Encryptor(out, [recipient]) as enc, tarfile.open(fileobj=enc, mode="w|") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    out.seek(0)
    with Decryptor(out, [identity]) as dec, tarfile.open(fileobj=dec, mode="r|") as tar:
        read = {m.name: tar.extractfile(m).read() for m in tar}
    assert read == files


def test_io_wrappers_accept_the_streams(keys: tuple[str, str]) -> None:
    identity, recipient = keys
    out = io.BytesIO()
    with Encryptor(out, [recipient]) as enc:
        text = io.TextIOWrapper(io.BufferedWriter(enc), encoding="utf-8")
        text.write("première ligne\nseconde ligne\n")
        text.close()
        assert enc.closed
    out.seek(0)
    with io.TextIOWrapper(io.BufferedReader(Decryptor(out, [identity])), encoding="utf-8") as text:
        assert text.readlines() == ["première ligne\n", "seconde ligne\n"]
