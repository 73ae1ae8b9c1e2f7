"""Build a package: a tar stream encrypted in the age v1 format, written to storage in one pass."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from mdph_bridge.domain.age import Encryptor
from mdph_bridge.domain.hashing import HashingWriter
from mdph_bridge.domain.tarball import TarWriter
from mdph_bridge.storage import Storage


@dataclass(frozen=True)
class Entry:
    """One file of the package: its name in the archive, size, and how to open its content."""

    name: str
    size: int
    open: Callable[[], AbstractContextManager[BinaryIO]]


@dataclass(frozen=True)
class Package:
    """A stored encrypted package."""

    key: str
    size: int
    sha256: str
    plain_size: int
    plain_sha256: str
    key_ids: list[str]


_PRETTY = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_PRETTY |= orjson.OPT_PASSTHROUGH_DATETIME  # datetimes through `str`, as json.dumps did


def json_entry(name: str, data: Any) -> Entry:
    """Make an archive entry holding `data` as pretty-printed UTF-8 JSON."""
    # orjson writes the same text as json.dumps(ensure_ascii=False, indent=2, sort_keys=True,
    # default=str), twenty times faster (the standard encoder is pure Python once indented).
    raw = orjson.dumps(data, default=str, option=_PRETTY)
    return Entry(name, len(raw), lambda: io.BytesIO(raw))


def text_entry(name: str, text: str) -> Entry:
    """Make an archive entry holding `text` in UTF-8."""
    raw = text.encode()
    return Entry(name, len(raw), lambda: io.BytesIO(raw))


def build_package(
    storage: Storage,
    key: str,
    recipients: dict[str, str],
    entries: Iterable[Entry],
    flush_folder: bool = True,
) -> Package:
    """Stream `entries` into a tar archive encrypted to `recipients` (key id -> age recipient).

    The package is flushed to disk; with `flush_folder` False its name is not yet: the caller
    then builds another package in the same folder, whose commit flushes the folder once. It is
    written in place: its key is its attempt's, read only once `ready` records it.
    """
    blob = storage.writer(key, in_place=True)
    try:
        hashing = HashingWriter(blob)
        encryptor = Encryptor(hashing, list(recipients.values()))
        plain = HashingWriter(encryptor)
        tar = TarWriter(plain)  # the bytes `tarfile` wrote in PAX format, mode 0600, mtime 0
        for entry in entries:
            with entry.open() as src:
                tar.add(entry.name, entry.size, src)
        tar.close()
        encryptor.close()
        blob.commit(flush_folder=flush_folder)
    except BaseException:
        blob.discard()  # a commit that failed too: its file closed and removed
        raise
    return Package(
        key, hashing.size, hashing.hexdigest(), plain.size, plain.hexdigest(), sorted(recipients)
    )
