"""A write-through wrapper that hashes and counts what passes, so data is read only once."""

from __future__ import annotations

import hashlib
from typing import BinaryIO, Protocol


class Writable(Protocol):
    """Anything bytes can be written to: a file, a blob being written, an encrypting layer."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


class HashingWriter:
    """Forward writes to `out` while computing their SHA-256 and size."""

    def __init__(self, out: Writable | BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Hash, count and forward `data`."""
        self._hash.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)

    def tell(self) -> int:
        """Position in the stream, which is the count written (tarfile asks for it)."""
        return self.size

    def writable(self) -> bool:
        """Tell io wrappers this object accepts writes."""
        return True

    def hexdigest(self) -> str:
        """Return the SHA-256 of everything written so far."""
        return self._hash.hexdigest()
