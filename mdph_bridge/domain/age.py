"""The age v1 file format (https://age-encryption.org/v1), X25519 recipients only, streaming.

Packages leave the hub encrypted to the receiving MDPH's age key, so any standard `age`
tool can open them; this module speaks the format without shelling out.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import os
from collections.abc import Sequence
from functools import lru_cache
from hashlib import sha256
from types import TracebackType
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mdph_bridge.domain.hashing import Writable

_VERSION_PREFIX = b"age-encryption.org/"
_VERSION_LINE = b"age-encryption.org/v1\n"
_X25519_INFO = b"age-encryption.org/v1/X25519"
_IDENTITY_HRP = "AGE-SECRET-KEY-"
_RECIPIENT_HRP = "age"
_FILE_KEY_SIZE = 16
_NONCE_SIZE = 16
_TAG_SIZE = 16
_CHUNK_SIZE = 64 * 1024
_SEALED_CHUNK_SIZE = _CHUNK_SIZE + _TAG_SIZE
_COLUMNS = 64
# Bounds the memory a hostile header can make us use; real headers are a few hundred bytes.
_MAX_HEADER_SIZE = 64 * 1024
_ZERO_NONCE = bytes(12)


class AgeError(Exception):
    """An age key or file is malformed, tampered with, or not addressed to our identities."""


# --- bech32 (BIP 173 without the length limit, as the age spec requires) ---------------------

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: list[int]) -> int:
    """Compute the BCH checksum state that makes bech32 detect typos."""
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_BECH32_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _bech32_hrp_expand(hrp: str) -> list[int]:
    """Spread the human-readable part so the checksum covers it; always lowercase."""
    low = hrp.lower()
    return [ord(c) >> 5 for c in low] + [0] + [ord(c) & 31 for c in low]


def _bech32_encode(hrp: str, data: bytes) -> str:
    """Encode bytes as bech32 with the given prefix, in the prefix's case."""
    acc = bits = 0
    groups: list[int] = []
    for byte in data:
        acc, bits = (acc << 8 | byte) & 0xFFF, bits + 8
        while bits >= 5:
            bits -= 5
            groups.append(acc >> bits & 31)
    if bits:
        groups.append(acc << (5 - bits) & 31)
    polymod = _bech32_polymod(_bech32_hrp_expand(hrp) + groups + [0] * 6) ^ 1
    groups += [polymod >> 5 * (5 - i) & 31 for i in range(6)]
    text = hrp.lower() + "1" + "".join(_BECH32_CHARSET[g] for g in groups)
    return text.upper() if hrp.isupper() else text


def _bech32_decode(text: str) -> tuple[str, bytes]:
    """Decode bech32 into (prefix as written, bytes); reject mixed case and bad checksums."""
    if text != text.lower() and text != text.upper():
        raise AgeError("bech32 string mixes upper and lower case")
    low = text.lower()
    sep = low.rfind("1")
    if sep < 1 or sep + 7 > len(low) or any(not 33 <= ord(c) <= 126 for c in low):
        raise AgeError("malformed bech32 string")
    groups = [_BECH32_CHARSET.find(c) for c in low[sep + 1 :]]
    if -1 in groups:
        raise AgeError("invalid character in bech32 string")
    if _bech32_polymod(_bech32_hrp_expand(low[:sep]) + groups) != 1:
        raise AgeError("bad bech32 checksum")
    acc = bits = 0
    out = bytearray()
    for group in groups[:-6]:
        acc, bits = (acc << 5 | group) & 0xFFF, bits + 5
        if bits >= 8:
            bits -= 8
            out.append(acc >> bits & 0xFF)
    if bits >= 5 or acc & ((1 << bits) - 1):
        raise AgeError("non-zero padding in bech32 string")
    return text[:sep], bytes(out)


# --- keys ---------------------------------------------------------------------------------------


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """Derive a 32-byte key the way every age construction does."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _reject_str(values: Sequence[str], what: str) -> None:
    """Catch a lone string passed where a list was meant: it would be read letter by letter."""
    if isinstance(values, str):
        raise TypeError(f"{what} must be a sequence of strings, not a single string")


def _parse_identity(identity: str) -> X25519PrivateKey:
    """Turn an `AGE-SECRET-KEY-1…` string into a private key."""
    hrp, key = _bech32_decode(identity.strip())
    if hrp != _IDENTITY_HRP or len(key) != 32:
        raise AgeError("not an age X25519 identity (expected AGE-SECRET-KEY-1…)")
    return X25519PrivateKey.from_private_bytes(key)


@lru_cache(maxsize=256)  # the low-order check costs two X25519 operations, ~0.13 ms
def _parse_recipient(recipient: str) -> bytes:
    """Turn an `age1…` string into a usable X25519 public key, rejecting low-order points."""
    hrp, key = _bech32_decode(recipient.strip())
    if hrp != _RECIPIENT_HRP or len(key) != 32:
        raise AgeError("not an age X25519 recipient (expected age1…)")
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(key))
    except ValueError as exc:
        raise AgeError("age recipient is a low-order point and cannot receive files") from exc
    return key


def generate_identity() -> tuple[str, str]:
    """Create a fresh key pair as (identity "AGE-SECRET-KEY-1…", recipient "age1…")."""
    private = X25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    return (
        _bech32_encode(_IDENTITY_HRP, private.private_bytes_raw()),
        _bech32_encode(_RECIPIENT_HRP, public),
    )


def recipient_of(identity: str) -> str:
    """Return the `age1…` recipient that files for this identity must be encrypted to."""
    public = _parse_identity(identity).public_key().public_bytes_raw()
    return _bech32_encode(_RECIPIENT_HRP, public)


def check_recipient(recipient: str) -> str:
    """Validate an `age1…` recipient typed by a human and return it in canonical form."""
    return _bech32_encode(_RECIPIENT_HRP, _parse_recipient(recipient))


# --- header -------------------------------------------------------------------------------------


def _b64encode(data: bytes) -> bytes:
    """Encode as standard base64 without padding, as the age header wants."""
    return base64.b64encode(data).rstrip(b"=")


def _b64decode(text: bytes) -> bytes:
    """Decode unpadded base64, rejecting any non-canonical spelling as the spec demands."""
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise AgeError("invalid base64 in age header") from exc
    if _b64encode(data) != text:
        raise AgeError("non-canonical base64 in age header")
    return data


def _stanza(args: Sequence[bytes], body: bytes) -> bytes:
    """Serialise one recipient stanza, its body wrapped at 64 columns."""
    encoded = _b64encode(body)
    lines = [encoded[i : i + _COLUMNS] for i in range(0, len(encoded), _COLUMNS)]
    if not lines or len(lines[-1]) == _COLUMNS:
        lines.append(b"")
    return b"-> " + b" ".join(args) + b"\n" + b"".join(line + b"\n" for line in lines)


def _x25519_stanza(file_key: bytes, recipient: bytes) -> bytes:
    """Wrap the file key for one X25519 recipient with a fresh ephemeral key."""
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    wrap_key = _hkdf(shared, share + recipient, _X25519_INFO)
    body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
    return _stanza([b"X25519", _b64encode(share)], body)


def _header_mac(file_key: bytes, header: bytes) -> bytes:
    """MAC the header up to and including `---`, binding the stanzas to the file key."""
    return hmac.digest(_hkdf(file_key, b"", b"header"), header, sha256)


def _read_line(src: BinaryIO, budget: int) -> bytes:
    """Read one LF-terminated header line without ever reading past it."""
    line = src.readline(budget + 1)
    if not line.endswith(b"\n") or len(line) > budget:
        raise AgeError("age header is truncated or too large")
    return line


def _read_header(src: BinaryIO) -> tuple[list[list[bytes]], list[bytes], bytes, bytes]:
    """Parse the header into (stanza args, stanza bodies, MACed bytes, MAC) or raise."""
    header = bytearray(_read_line(src, _MAX_HEADER_SIZE))
    if header != _VERSION_LINE:
        if header.startswith(_VERSION_PREFIX):
            version = bytes(header[len(_VERSION_PREFIX) : -1][:40])
            raise AgeError(f"unsupported age version: {version!r}")
        raise AgeError("not an age v1 file (armored files are not supported)")
    args_list: list[list[bytes]] = []
    bodies: list[bytes] = []
    while True:
        line = _read_line(src, _MAX_HEADER_SIZE - len(header))
        if line.startswith(b"--- "):
            if not args_list:
                raise AgeError("age header has no recipient stanza")
            mac = _b64decode(line[4:-1])
            if len(mac) != 32:
                raise AgeError("malformed age header MAC")
            return args_list, bodies, bytes(header) + b"---", mac
        header += line
        if not line.startswith(b"-> "):
            raise AgeError("malformed age header line")
        args = line[3:-1].split(b" ")
        if any(not arg or any(not 33 <= c <= 126 for c in arg) for arg in args):
            raise AgeError("malformed age stanza arguments")
        body = bytearray()
        while True:
            line = _read_line(src, _MAX_HEADER_SIZE - len(header))
            header += line
            if len(line) > _COLUMNS + 1:
                raise AgeError("age stanza body line is longer than 64 columns")
            body += _b64decode(line[:-1])
            if len(line) <= _COLUMNS:
                break
        args_list.append(args)
        bodies.append(bytes(body))


def _unwrap_file_key(
    args_list: list[list[bytes]], bodies: list[bytes], identities: Sequence[X25519PrivateKey]
) -> bytes:
    """Find the X25519 stanza one of our identities can open; other stanza types never match."""
    stanzas: list[tuple[bytes, bytes]] = []
    for args, body in zip(args_list, bodies, strict=True):
        if args[0] != b"X25519":
            continue
        if len(args) != 2:
            raise AgeError("malformed X25519 stanza")
        share = _b64decode(args[1])
        if len(share) != 32 or len(body) != 32:
            raise AgeError("malformed X25519 stanza")
        stanzas.append((share, body))
    for identity in identities:
        public = identity.public_key().public_bytes_raw()
        for share, body in stanzas:
            try:
                shared = identity.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError as exc:
                raise AgeError("X25519 stanza has a low-order ephemeral share") from exc
            wrap_key = _hkdf(shared, share + public, _X25519_INFO)
            try:
                return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, body, None)
            except InvalidTag:
                continue
    raise AgeError("no identity matches any recipient of this age file")


def _chunk_nonce(counter: int, *, last: bool) -> bytes:
    """Build the STREAM nonce: 11-byte big-endian counter, then the last-chunk flag."""
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


# --- streams ------------------------------------------------------------------------------------


class Encryptor(io.RawIOBase):
    """Encrypt what is written to it into `out` as an age file; `close()` seals the end.

    Leaving a `with` block on an exception, or dropping the object unclosed, does not write
    the final chunk, so a half-written plaintext can never pass for a complete file.
    `out` must take every byte it is given and not keep the buffer once `write` returns,
    as buffered `io` streams do; it is not closed.
    """

    def __init__(self, out: Writable, recipients: Sequence[str]) -> None:
        """Write the header at once, so a bad recipient fails before any data is accepted."""
        super().__init__()
        _reject_str(recipients, "recipients")
        keys = [_parse_recipient(r) for r in recipients]
        if not keys:
            raise AgeError("at least one age recipient is required")
        file_key = os.urandom(_FILE_KEY_SIZE)
        header = _VERSION_LINE + b"".join(_x25519_stanza(file_key, key) for key in keys) + b"---"
        nonce = os.urandom(_NONCE_SIZE)
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._out = out
        self._plain = bytearray(_CHUNK_SIZE)
        self._sealed = bytearray(_SEALED_CHUNK_SIZE)
        self._filled = 0
        self._counter = 0
        mac = _header_mac(file_key, header)
        self._emit(memoryview(header + b" " + _b64encode(mac) + b"\n" + nonce))

    def writable(self) -> bool:
        """Let `io` wrappers and `tarfile` accept this object as a sink."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Buffer plaintext, encrypting each 64 KiB chunk once a later byte proves it not last."""
        if self.closed:
            raise ValueError("write to a closed age Encryptor")
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            if self._filled == _CHUNK_SIZE:
                self._seal(memoryview(self._plain), last=False)
                self._filled = 0
            if self._filled == 0 and len(view) > _CHUNK_SIZE:
                self._seal(view[:_CHUNK_SIZE], last=False)
                view = view[_CHUNK_SIZE:]
                continue
            take = min(_CHUNK_SIZE - self._filled, len(view))
            self._plain[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
        return total

    def close(self) -> None:
        """Encrypt the final chunk; `out` stays open for the caller to finish."""
        if self.closed:
            return
        try:
            self._seal(memoryview(self._plain)[: self._filled], last=True)
        finally:
            super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Seal the file only when the block completed; otherwise leave it detectably cut."""
        if exc_type is None:
            self.close()
        else:
            io.RawIOBase.close(self)

    def __del__(self) -> None:
        """Refuse to seal on garbage collection: an unclosed Encryptor means an aborted file."""
        io.RawIOBase.close(self)

    def _seal(self, chunk: memoryview, *, last: bool) -> None:
        """Encrypt one chunk into the reusable output buffer and hand it to `out`."""
        sealed = memoryview(self._sealed)[: len(chunk) + _TAG_SIZE]
        self._aead.encrypt_into(_chunk_nonce(self._counter, last=last), chunk, None, sealed)
        self._counter += 1
        self._emit(sealed)

    def _emit(self, view: memoryview) -> None:
        """Hand bytes to `out`, which like any buffered stream must take them all."""
        self._out.write(view)


class Decryptor(io.RawIOBase):
    """Read the plaintext of an age file, releasing each chunk only after it authenticates.

    `src` must offer `readline` and `readinto`, as every `io` binary stream does; it is read
    exactly up to the end of the file and is not closed.
    """

    def __init__(self, src: BinaryIO, identities: Sequence[str]) -> None:
        """Parse and authenticate the header, so a wrong key fails before any read."""
        super().__init__()
        _reject_str(identities, "identities")
        keys = [_parse_identity(i) for i in identities]
        args_list, bodies, header, mac = _read_header(src)
        file_key = _unwrap_file_key(args_list, bodies, keys)
        if not hmac.compare_digest(_header_mac(file_key, header), mac):
            raise AgeError("age header MAC does not match (header tampered with)")
        self._src = src
        nonce = bytearray(_NONCE_SIZE)
        if self._fill(memoryview(nonce)) != _NONCE_SIZE:
            raise AgeError("age file is truncated before its payload")
        self._aead = ChaCha20Poly1305(_hkdf(file_key, bytes(nonce), b"payload"))
        # One spare byte holds the lookahead that tells a full chunk whether it is the last one.
        self._sealed = bytearray(_SEALED_CHUNK_SIZE + 1)
        self._carried = 0
        self._plain = bytearray(_CHUNK_SIZE)
        self._start = self._end = 0
        self._counter = 0
        self._done = False
        self._error: AgeError | None = None

    def readable(self) -> bool:
        """Let `io` wrappers and `tarfile` accept this object as a source."""
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        """Copy verified plaintext into `b`; 0 only once the final chunk has authenticated."""
        if self._error is not None:
            raise self._error
        view = memoryview(b).cast("B")
        while self._start == self._end and not self._done and view:
            try:
                self._next_chunk()
            except AgeError as exc:
                self._error = exc
                raise
        count = min(len(view), self._end - self._start)
        view[:count] = memoryview(self._plain)[self._start : self._start + count]
        self._start += count
        return count

    def _fill(self, view: memoryview) -> int:
        """Read into `view` until it is full or the source ends; return the byte count."""
        total = 0
        while total < len(view):
            count = self._src.readinto(view[total:])  # type: ignore[attr-defined]
            if not count:
                break
            total += count
        return total

    def _next_chunk(self) -> None:
        """Read, classify and decrypt the next chunk into the plaintext buffer."""
        sealed = memoryview(self._sealed)
        size = self._carried + self._fill(sealed[self._carried : _SEALED_CHUNK_SIZE])
        last = size < _SEALED_CHUNK_SIZE or not self._fill(sealed[_SEALED_CHUNK_SIZE:])
        if size == 0:
            raise AgeError("age payload is truncated (no final chunk)")
        if size < _TAG_SIZE:
            raise AgeError("age payload is truncated (partial chunk)")
        if size == _TAG_SIZE and self._counter:
            raise AgeError("age payload ends with an empty chunk after a full one")
        chunk = sealed[:size]
        plain = memoryview(self._plain)[: size - _TAG_SIZE]
        try:
            self._aead.decrypt_into(_chunk_nonce(self._counter, last=last), chunk, None, plain)
        except InvalidTag:
            raise self._diagnose(chunk, last=last) from None
        self._counter += 1
        self._start, self._end = 0, size - _TAG_SIZE
        if last:
            self._done = True
        else:
            self._sealed[0] = self._sealed[_SEALED_CHUNK_SIZE]
            self._carried = 1

    def _diagnose(self, chunk: memoryview, *, last: bool) -> AgeError:
        """Explain a chunk that failed: retrying with the other flag tells cut from extended."""
        if len(chunk) == _SEALED_CHUNK_SIZE:
            try:
                self._aead.decrypt(_chunk_nonce(self._counter, last=not last), chunk, None)
            except InvalidTag:
                pass
            else:
                if last:
                    return AgeError("age payload is truncated at a chunk boundary")
                return AgeError("unexpected data after the final age chunk")
        return AgeError(f"age payload chunk {self._counter} failed authentication")


def encrypt_bytes(data: bytes, recipients: Sequence[str]) -> bytes:
    """Encrypt a small in-memory plaintext; for tests and tools."""
    out = io.BytesIO()
    with Encryptor(out, recipients) as enc:
        enc.write(data)
    return out.getvalue()


def decrypt_bytes(data: bytes, identities: Sequence[str]) -> bytes:
    """Decrypt a small in-memory age file; for tests and tools."""
    with Decryptor(io.BytesIO(data), identities) as dec:
        return dec.readall()
