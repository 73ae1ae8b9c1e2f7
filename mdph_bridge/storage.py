"""Blob storage: what the hub needs of it, and the local disk (atomic writes: no half blob)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, Protocol, Self

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_TMP_SUFFIX = ".partial"


def check_key(key: str) -> str:
    """Return the key if it is a slash-separated name without `..`; raise ValueError otherwise."""
    if not _KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid blob key: {key!r}")
    return key


class Writer(Protocol):
    """A blob being written: it appears under its key only on `commit` (on the local disk, unless
    written in place: see `LocalStorage.writer`)."""

    def write(self, data: bytes | bytearray | memoryview) -> int: ...
    def commit(self, durable: bool = True, flush_folder: bool = True) -> None: ...
    def discard(self) -> None: ...
    def __enter__(self) -> Writer: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Storage(Protocol):
    """Where blobs live: the local disk (one machine) or an S3-compatible store (several)."""

    # Whether `stamps` dates a blob written in place from its last write (the local disk), not
    # from when its writing began (S3 dates a multipart upload so): the orphan sweeper judges a
    # request's blobs by that date, so only then may a new transfer's documents stream in under
    # their staging keys, where a long upload would otherwise look abandoned once complete.
    dated_by_last_write: bool

    def writer(self, key: str, in_place: bool = False) -> Writer: ...
    def open(self, key: str) -> BinaryIO: ...
    def exists(self, key: str) -> bool: ...
    def move(self, src: str, dst: str, durable: bool = True) -> None: ...
    def delete(self, key: str) -> None: ...
    def delete_many(self, keys: Sequence[str]) -> None: ...
    def list(self, prefix: str) -> list[str]: ...
    def stamps(self, prefix: str) -> dict[str, float]: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def list_starting(self, start: str) -> Sequence[str]: ...
    def delete_starting(self, start: str) -> None: ...
    def remove_unfinished(self, before: float) -> int: ...
    def check(self) -> bool: ...


def fsync_path(path: Path) -> None:
    """Flush a file or folder to disk (a folder: so that a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CommitOnExit:
    """A blob writer as a `with` block: committed if the block ends normally, discarded if not."""

    def commit(self) -> None:
        """Make the blob visible (each writer says how)."""
        raise NotImplementedError

    def discard(self) -> None:
        """Drop what was written (each writer says how)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class BlobWriter(CommitOnExit):
    """A blob being written: it appears under its key only on `commit`, flushed to disk; one
    written `in_place` is under its key from the start (see `LocalStorage.writer`)."""

    def __init__(self, path: Path, in_place: bool = False) -> None:
        self.path = path
        self._tmp = (
            path if in_place else path.with_name(f"{path.name}.{uuid.uuid4().hex}{_TMP_SUFFIX}")
        )
        # 1 MiB buffer: encryption writes 64 KiB chunks, fewer system calls keep it at disk speed.
        # In place, a key already there is never overwritten.
        mode: Literal["xb", "wb"] = "xb" if in_place else "wb"
        self._file: BinaryIO = open(self._tmp, mode, buffering=1024 * 1024)  # noqa: SIM115

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append bytes to the blob."""
        return self._file.write(data)

    def commit(self, durable: bool = True, flush_folder: bool = True) -> None:
        """Publish the blob under its key; flushed to disk first unless `durable` is False.

        An upload that is moved elsewhere before anything depends on it need not be durable:
        `move` makes the blob durable where it lands (two fsyncs saved per uploaded part).
        With `flush_folder` False the blob is flushed but not its name: the caller then commits
        another blob in the same folder, whose folder flush makes both names durable.
        """
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())
        self._file.close()
        if self._tmp != self.path:
            os.replace(self._tmp, self.path)
        if durable and flush_folder:
            fsync_path(self.path.parent)

    def discard(self) -> None:
        """Drop what was written."""
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class LocalStorage:
    """Store blobs under a root folder; keys are slash-separated names without `..`."""

    dated_by_last_write = True  # a file's modification time

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str, in_place: bool = False) -> BlobWriter:
        """Start writing a blob (use as a context manager, or call commit/discard).

        `in_place` writes under the key from the start, without a temporary name to rename (a
        folder entry made and removed fewer per blob), for a key that nobody else writes and
        nothing reads before the caller records it after `commit` (a package: named after its
        attempt, read only through the row that `ready` writes). A crash leaves it partial
        under its key, unrecorded, for the orphan sweeper.
        """
        path = self._path(key)
        try:
            return BlobWriter(path, in_place)
        except FileNotFoundError:  # a new folder: made then, not checked before every blob
            self._make_folder(path.parent)
            return BlobWriter(path, in_place)

    @staticmethod
    def _make_folder(folder: Path) -> None:
        """Make a missing folder and its missing parents, each durable in its parent: a blob
        flushed into a folder whose own entry is lost in a crash would be lost with it."""
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for made in reversed(missing):
            made.mkdir(exist_ok=True)  # another writer may make it meanwhile
            fsync_path(made.parent)

    def open(self, key: str) -> BinaryIO:
        """Open a blob for reading."""
        return open(self._path(key), "rb")

    def exists(self, key: str) -> bool:
        """Tell whether a blob exists."""
        return self._path(key).is_file()

    def move(self, src: str, dst: str, durable: bool = True) -> None:
        """Rename a blob (atomic on the same file system), flushed under its new key; its folder
        too unless `durable` is False (the caller then commits a blob in that folder after)."""
        source, target = self._path(src), self._path(dst)
        try:
            os.replace(source, target)
        except FileNotFoundError:  # a new folder: made then, not checked before every move
            if not source.exists():
                raise
            self._make_folder(target.parent)
            os.replace(source, target)
        fsync_path(target)
        if durable:
            fsync_path(target.parent)

    def delete(self, key: str) -> None:
        """Delete a blob if it exists."""
        self._path(key).unlink(missing_ok=True)

    def delete_many(self, keys: Sequence[str]) -> None:
        """Delete blobs that exist among `keys`."""
        for key in keys:
            self.delete(key)

    def _files(self, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """Every file under a folder prefix, by key (`os.scandir`: cheaper than `Path.rglob`)."""
        pending = [(prefix, self._path(prefix))]
        while pending:
            key, folder = pending.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append((f"{key}/{entry.name}", Path(entry.path)))
                        elif entry.is_file():
                            yield f"{key}/{entry.name}", entry
            except (FileNotFoundError, NotADirectoryError):
                continue

    def list(self, prefix: str) -> list[str]:
        """List the blobs under a folder prefix, not those being written under a temporary name
        (a package, written in place, is listed as soon as it is created)."""
        return sorted(key for key, _ in self._files(prefix) if not key.endswith(_TMP_SUFFIX))

    def stamps(self, prefix: str) -> dict[str, float]:
        """Every blob under a folder prefix, unfinished ones too, with its last-modified time."""
        return {key: entry.stat().st_mtime for key, entry in self._files(prefix)}

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob under a folder prefix.

        A flat folder (a transfer's staging) is emptied directly: `shutil.rmtree`'s descriptor
        walk cost ~60 µs more CPU per processed transfer. A folder holding folders goes to it.
        """
        folder = self._path(prefix)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        raise IsADirectoryError(entry.path)
                    os.unlink(entry.path)
            os.rmdir(folder)
        except FileNotFoundError:
            return
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)

    def _starting(self, start: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """Every file directly in a folder whose name starts as `start` ends (`staging/<id>.`):
        the folder is read whole, as a file system finds names by their start no faster."""
        folder, _, name = start.rpartition("/")
        try:
            with os.scandir(self._path(folder)) as entries:
                for entry in entries:
                    if entry.name.startswith(name) and entry.is_file():
                        yield f"{folder}/{entry.name}", entry
        except FileNotFoundError:
            return

    def list_starting(self, start: str) -> Sequence[str]:
        """List the blobs whose key starts with `start`, a folder and the start of names directly
        in it; not those being written under a temporary name (nor in place: see `list`)."""
        return sorted(key for key, _ in self._starting(start) if not key.endswith(_TMP_SUFFIX))

    def delete_starting(self, start: str) -> None:
        """Delete every blob, unfinished ones too, whose key starts with `start`, a folder and
        the start of names directly in it."""
        for _, entry in list(self._starting(start)):
            Path(entry.path).unlink(missing_ok=True)  # another may delete the same meanwhile

    def remove_unfinished(self, before: float) -> int:
        """Delete the temporary files of writes started before `before` (epoch) by dead writers."""
        if not self.root.is_dir():
            return 0
        stale = [p for p in self.root.rglob(f"*{_TMP_SUFFIX}") if p.stat().st_mtime < before]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def check(self) -> bool:
        """Tell whether blobs can be written (readiness probe)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return os.access(self.root, os.W_OK)
