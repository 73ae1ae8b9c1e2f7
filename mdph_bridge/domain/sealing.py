"""The hub's staging seal: AES-256-GCM in chunks, so submitted payloads never rest in clear.

Blob layout: magic, key id (1-byte length + ASCII), 32-byte salt, then chunks of up to 1 MiB
of plaintext, each sealed with AES-GCM under HKDF(master key, salt) with the nonce
counter || last-flag and the whole header as associated data. The final chunk is
the only one that may be short and is empty only when the plaintext is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mdph_bridge.domain.hashing import Writable

_MAGIC = b"MDPHSEAL1\n"
_INFO = b"mdph-bridge staging v1"
_KEY_SIZE = 32
_SALT_SIZE = 32
_TAG_SIZE = 16
_CHUNK_SIZE = 1024 * 1024
_SEALED_CHUNK_SIZE = _CHUNK_SIZE + _TAG_SIZE
_FIRST_BUFFER_SIZE = 64 * 1024
# Key ids travel in blob headers and in "id:secret,id:secret" settings, so no ':' nor ','.
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{43}=?")


class SealError(Exception):
    """A sealed blob is malformed, truncated, tampered with, or sealed with an unknown key."""


@dataclass(frozen=True)
class StagingKey:
    """One master key of the staging keyring; its id is recorded in every blob it seals."""

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        """Refuse ids that would not fit the blob header or the settings syntax."""
        if not _KEY_ID.fullmatch(self.key_id):
            raise ValueError("invalid staging key id: use 1 to 64 of A-Z a-z 0-9 _ . -")
        if len(self.secret) != _KEY_SIZE:
            raise ValueError(f"a staging key secret must be {_KEY_SIZE} bytes")


class Keyring:
    """Ordered staging keys: the first seals new blobs, all of them open old ones."""

    def __init__(self, keys: Sequence[StagingKey]) -> None:
        """Keep the keys in order, refusing an empty ring or duplicate ids."""
        if not keys:
            raise ValueError("the staging keyring needs at least one key")
        self._keys = {key.key_id: key for key in keys}
        if len(self._keys) != len(keys):
            raise ValueError("the staging keyring has duplicate key ids")
        self._primary = keys[0]

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read "id1:base64url,id2:…" as found in settings; errors name positions, never text."""
        if not text.strip():
            raise ValueError("the staging keyring setting is empty")
        keys: list[StagingKey] = []
        for position, entry in enumerate(text.split(","), start=1):
            key_id, colon, encoded = entry.strip().partition(":")
            if not colon:
                raise ValueError(f"staging key #{position} is not of the form id:base64url")
            if not _BASE64URL.fullmatch(encoded):
                raise ValueError(f"staging key #{position} is not 32 bytes in base64url")
            secret = base64.urlsafe_b64decode(encoded.rstrip("=") + "=")
            try:
                keys.append(StagingKey(key_id, secret))
            except ValueError as exc:
                raise ValueError(f"staging key #{position}: {exc}") from None
        return cls(keys)

    @property
    def primary(self) -> StagingKey:
        """The key that seals new blobs."""
        return self._primary

    def get(self, key_id: str) -> StagingKey:
        """Find the key a blob names, so blobs sealed before a rotation still open."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise SealError(f"blob sealed with unknown staging key {key_id!r}") from None


def generate_staging_key(key_id: str) -> str:
    """Create a fresh key as "id:base64url", ready to prepend to the keyring setting."""
    key = StagingKey(key_id, os.urandom(_KEY_SIZE))
    return f"{key.key_id}:{base64.urlsafe_b64encode(key.secret).decode().rstrip('=')}"


def sealed_size(plaintext_size: int, key_id: str) -> int:
    """Return the exact blob size for a plaintext, to check blobs without opening them."""
    if plaintext_size < 0:
        raise ValueError("a plaintext size cannot be negative")
    chunks = max(1, -(-plaintext_size // _CHUNK_SIZE))
    return len(_MAGIC) + 1 + len(key_id) + _SALT_SIZE + plaintext_size + chunks * _TAG_SIZE


def _blob_cipher(key: StagingKey, salt: bytes) -> AESGCM:
    """Derive the blob's own AES key, so counter nonces never repeat across blobs."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_SIZE, salt=salt, info=_INFO)
    return AESGCM(hkdf.derive(key.secret))


def _new_blob(key: StagingKey) -> tuple[bytes, AESGCM]:
    """A new blob's header, with its fresh salt, and the cipher that salt derives."""
    salt = os.urandom(_SALT_SIZE)
    header = _MAGIC + bytes([len(key.key_id)]) + key.key_id.encode("ascii") + salt
    return header, _blob_cipher(key, salt)


def _remaining(src: BinaryIO) -> int | None:
    """How many bytes are left to read in `src`, if it can seek; None otherwise."""
    try:
        if not src.seekable():
            return None
        here = src.tell()
        end = src.seek(0, io.SEEK_END)
        src.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return end - here


def _chunk_nonce(counter: int, *, last: bool) -> bytes:
    """Build the nonce: 11-byte big-endian counter, then the last-chunk flag."""
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class SealWriter(io.RawIOBase):
    """Seal what is written into `out`, measuring its size and SHA-256 in the same pass.

    Leaving a `with` block on an exception, or dropping the object unclosed, does not write
    the final chunk, so a half-received payload can never open as a complete one.
    `out` must take every byte it is given and not keep the buffer once `write` returns,
    as buffered `io` streams do; it is not closed.
    """

    def __init__(self, out: Writable, keyring: Keyring) -> None:
        """Write the header at once with the keyring's primary key."""
        super().__init__()
        key = keyring.primary
        self._header, self._aead = _new_blob(key)
        self._out = out
        # Buffers grow with what is written, up to a chunk: a small blob never touches 2 MiB.
        self._plain = bytearray(_FIRST_BUFFER_SIZE)
        self._sealed = bytearray()
        self._filled = 0
        self._counter = 0
        self._hash = hashlib.sha256()
        self._digest: str | None = None
        self.key_id = key.key_id
        self.size = 0
        out.write(self._header)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the plaintext, known once `close()` has sealed the blob."""
        if self._digest is None:
            raise RuntimeError("sha256 is only known after the SealWriter is closed")
        return self._digest

    def writable(self) -> bool:
        """Let `io` wrappers and `shutil.copyfileobj` accept this object as a sink."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Buffer plaintext, sealing each 1 MiB chunk once a later byte proves it not last."""
        if self.closed:
            raise ValueError("write to a closed SealWriter")
        view = memoryview(data).cast("B")
        total = len(view)
        self._hash.update(view)
        self.size += total
        while view:
            if self._filled == _CHUNK_SIZE:
                self._seal(memoryview(self._plain), last=False)
                self._filled = 0
            if self._filled == 0 and len(view) > _CHUNK_SIZE:
                self._seal(view[:_CHUNK_SIZE], last=False)
                view = view[_CHUNK_SIZE:]
                continue
            take = min(_CHUNK_SIZE - self._filled, len(view))
            self._room(self._filled + take)
            self._plain[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
        return total

    def close(self) -> None:
        """Seal the final chunk and fix the digest; `out` stays open for the caller."""
        if self.closed:
            return
        try:
            self._seal(memoryview(self._plain)[: self._filled], last=True)
            self._digest = self._hash.hexdigest()
        finally:
            super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Seal the blob only when the block completed; otherwise leave it detectably cut."""
        if exc_type is None:
            self.close()
        else:
            io.RawIOBase.close(self)

    def __del__(self) -> None:
        """Refuse to seal on garbage collection: an unclosed SealWriter means an aborted blob."""
        io.RawIOBase.close(self)

    def _room(self, size: int) -> None:
        """Grow the plaintext buffer to hold `size` bytes (at most a chunk), keeping its content."""
        if len(self._plain) < size:
            grown = bytearray(min(_CHUNK_SIZE, max(size, 2 * len(self._plain))))
            grown[: self._filled] = self._plain[: self._filled]
            self._plain = grown

    def _seal(self, chunk: memoryview, *, last: bool) -> None:
        """Encrypt one chunk into the reusable output buffer and hand it to `out`."""
        if len(self._sealed) < len(chunk) + _TAG_SIZE:
            self._sealed = bytearray(len(chunk) + _TAG_SIZE)
        sealed = memoryview(self._sealed)[: len(chunk) + _TAG_SIZE]
        self._aead.encrypt_into(_chunk_nonce(self._counter, last=last), chunk, self._header, sealed)
        self._counter += 1
        self._out.write(sealed)


class SealReader(io.RawIOBase):
    """Read a sealed blob's plaintext, releasing each chunk only after it authenticates.

    `src` must offer `readinto`, as every `io` binary stream does; it is not closed.
    """

    def __init__(self, src: BinaryIO, keyring: Keyring) -> None:
        """Read the header and pick the key it names, so an unknown key fails at once."""
        super().__init__()
        self._src = src
        head = bytearray(len(_MAGIC) + 1)
        if self._fill(memoryview(head)) != len(head) or not head.startswith(_MAGIC):
            raise SealError("not a sealed staging blob")
        rest = bytearray(head[-1] + _SALT_SIZE)
        if self._fill(memoryview(rest)) != len(rest):
            raise SealError("sealed blob is truncated in its header")
        try:
            key_id = rest[: head[-1]].decode("ascii")
        except UnicodeDecodeError:
            raise SealError("sealed blob has a non-ASCII key id") from None
        key = keyring.get(key_id)
        self._key_id = key.key_id
        self._header = bytes(head + rest)
        self._aead = _blob_cipher(key, bytes(rest[head[-1] :]))
        # One spare byte holds the lookahead that tells a full chunk whether it is the last one.
        # A source that tells its length gets buffers no larger than the blob: a blob that turns
        # out longer then fails authentication, since its first chunk is read as the last.
        size = min(_SEALED_CHUNK_SIZE + 1, _remaining(src) or _SEALED_CHUNK_SIZE + 1)
        self._sealed = bytearray(size)
        self._carried = 0
        self._plain = bytearray(max(0, min(_CHUNK_SIZE, size - _TAG_SIZE)))
        self._start = self._end = 0
        self._counter = 0
        self._done = False
        self._error: SealError | None = None

    @property
    def key_id(self) -> str:
        """The id of the staging key that sealed this blob."""
        return self._key_id

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
            except SealError as exc:
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
        if size < _TAG_SIZE:
            raise SealError("sealed blob is truncated")
        if size == _TAG_SIZE and self._counter:
            raise SealError("sealed blob ends with an empty chunk after a full one")
        chunk = sealed[:size]
        plain = memoryview(self._plain)[: size - _TAG_SIZE]
        nonce = _chunk_nonce(self._counter, last=last)
        try:
            self._aead.decrypt_into(nonce, chunk, self._header, plain)
        except InvalidTag:
            raise SealError(
                f"sealed blob chunk {self._counter} failed authentication"
                " (tampered, truncated, extended or sealed with another key)"
            ) from None
        self._counter += 1
        self._start, self._end = 0, size - _TAG_SIZE
        if last:
            self._done = True
        else:
            self._sealed[0] = self._sealed[_SEALED_CHUNK_SIZE]
            self._carried = 1


def seal(plain: bytes, keyring: Keyring) -> bytes:
    """Seal a payload small enough to be kept in memory (a database column), as a blob is.

    Each chunk is encrypted straight from `plain`: no stream's buffers, no digest (a
    `SealWriter` cost twice as much CPU for a submission's dossier).
    """
    header, aead = _new_blob(keyring.primary)
    view = memoryview(plain)
    count = max(1, -(-len(view) // _CHUNK_SIZE))  # an empty payload is one empty final chunk
    sealed = [header]
    for n in range(count):
        chunk = view[n * _CHUNK_SIZE : (n + 1) * _CHUNK_SIZE]
        sealed.append(aead.encrypt(_chunk_nonce(n, last=n == count - 1), chunk, header))
    return b"".join(sealed)


def unseal(sealed: bytes, keyring: Keyring) -> bytes:
    """The plaintext of a payload `seal` sealed, once every chunk authenticated."""
    return SealReader(io.BytesIO(sealed), keyring).read()
