"""Unit tests of the local blob storage: atomic publication, key checks, listing and removal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mdph_bridge import storage as storage_module
from mdph_bridge.storage import LocalStorage

pytestmark = pytest.mark.unit


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    """Storage rooted in an empty folder."""
    return LocalStorage(tmp_path / "blobs")


def files_under(root: Path) -> list[str]:
    """Every file below `root`, as posix paths relative to it (partial files included)."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def partials(root: Path) -> list[str]:
    """Temporary files of writers not yet committed or discarded."""
    return [name for name in files_under(root) if name.endswith(".partial")]


def put(storage: LocalStorage, key: str, data: bytes = b"data") -> None:
    """Write and publish a blob."""
    with storage.writer(key) as blob:
        blob.write(data)


def read(storage: LocalStorage, key: str) -> bytes:
    """Read a whole blob."""
    with storage.open(key) as blob:
        return blob.read()


def write_then_fail(storage: LocalStorage, key: str, data: bytes) -> None:
    """Write inside a `with` block that raises before its end."""
    with storage.writer(key) as blob:
        blob.write(data)
        raise RuntimeError("boom")


def test_writer_publishes_only_on_commit(storage: LocalStorage) -> None:
    writer = storage.writer("staging/t1/dossier")
    writer.write(b"first ")
    writer.write(memoryview(b"second"))

    assert not storage.exists("staging/t1/dossier")
    assert not (storage.root / "staging" / "t1" / "dossier").exists()
    assert len(partials(storage.root)) == 1

    writer.commit()

    assert storage.exists("staging/t1/dossier")
    assert read(storage, "staging/t1/dossier") == b"first second"
    assert partials(storage.root) == []
    assert files_under(storage.root) == ["staging/t1/dossier"]


def test_writer_discard_leaves_nothing(storage: LocalStorage) -> None:
    writer = storage.writer("incoming/abc")
    writer.write(b"half")

    writer.discard()

    assert not storage.exists("incoming/abc")
    assert files_under(storage.root) == []


def test_with_block_commits_on_success(storage: LocalStorage) -> None:
    with storage.writer("a/b") as blob:
        assert blob.write(b"12345") == 5
        assert not storage.exists("a/b")

    assert read(storage, "a/b") == b"12345"
    assert files_under(storage.root) == ["a/b"]


def test_with_block_that_raises_leaves_nothing(storage: LocalStorage) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(storage, "a/b", b"partial content")

    assert not storage.exists("a/b")
    assert files_under(storage.root) == []


def test_failed_rewrite_keeps_the_previous_blob(storage: LocalStorage) -> None:
    put(storage, "a/b", b"old")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(storage, "a/b", b"new")

    assert read(storage, "a/b") == b"old"
    assert files_under(storage.root) == ["a/b"]


def test_commit_replaces_an_existing_blob(storage: LocalStorage) -> None:
    put(storage, "a/b", b"old")
    put(storage, "a/b", b"new")

    assert read(storage, "a/b") == b"new"
    assert files_under(storage.root) == ["a/b"]


def test_two_writers_on_one_key_do_not_share_a_temp_file(storage: LocalStorage) -> None:
    first = storage.writer("k")
    second = storage.writer("k")
    first.write(b"one")
    second.write(b"two")

    assert len(partials(storage.root)) == 2
    first.commit()
    second.commit()

    assert read(storage, "k") == b"two"
    assert files_under(storage.root) == ["k"]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../x",
        "/abs",
        "a/../b",
        "..",
        ".",
        "a/.",
        ".hidden",
        "a/.hidden",
        "a/",
        "a b",
        "é",
    ],
)
@pytest.mark.parametrize("operation", ["writer", "open", "exists", "delete", "list"])
def test_invalid_key_raises_value_error(
    storage: LocalStorage, key: str, operation: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        getattr(storage, operation)(key)

    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("key", ["../x", "a/../b", "/abs"])
def test_move_refuses_invalid_source_or_target(storage: LocalStorage, key: str) -> None:
    put(storage, "ok")

    with pytest.raises(ValueError, match="invalid blob key"):
        storage.move("ok", key)
    with pytest.raises(ValueError, match="invalid blob key"):
        storage.move(key, "ok2")

    assert storage.exists("ok")


@pytest.mark.parametrize("key", ["a\n", "a/b\n"])
def test_key_with_trailing_newline_is_refused(storage: LocalStorage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        storage.exists(key)


@pytest.mark.parametrize(
    "key", ["a", "staging/3f2a/piece-0", "packages/t1/tok/admin.age", "A-b_c.d", "0/1/2"]
)
def test_valid_key_is_stored_under_the_root(storage: LocalStorage, key: str) -> None:
    put(storage, key, b"x")

    assert storage.exists(key)
    assert (storage.root / key).is_file()


def test_list_returns_complete_blobs_sorted_and_ignores_partial_files(
    storage: LocalStorage,
) -> None:
    put(storage, "p/t1/b")
    put(storage, "p/t1/a")
    put(storage, "p/t1/sub/c")
    put(storage, "p/t2/other")
    pending = storage.writer("p/t1/pending")
    pending.write(b"...")

    assert storage.list("p/t1") == ["p/t1/a", "p/t1/b", "p/t1/sub/c"]
    pending.discard()


def test_list_of_missing_prefix_is_empty(storage: LocalStorage) -> None:
    assert storage.list("nothing/here") == []


def test_list_of_a_blob_key_is_empty(storage: LocalStorage) -> None:
    put(storage, "p/file")

    assert storage.list("p/file") == []


def test_move_renames_a_blob_and_creates_folders(storage: LocalStorage) -> None:
    put(storage, "incoming/abc", b"sealed")

    storage.move("incoming/abc", "staging/t1/piece-0")

    assert not storage.exists("incoming/abc")
    assert read(storage, "staging/t1/piece-0") == b"sealed"


def test_folders_are_made_only_when_missing(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob written or moved into a folder that exists makes no `mkdir` (a system call and a
    check per blob); a missing folder, even one removed since, is made then."""
    made: list[str] = []
    real_mkdir = os.mkdir

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        made.append(Path(path).relative_to(storage.root.parent).as_posix())
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    put(storage, "incoming/a")
    put(storage, "staging/t1/dossier")
    assert "blobs/staging/t1" in made
    made.clear()
    put(storage, "incoming/b")
    storage.move("incoming/a", "staging/t1/piece-0")
    assert made == []
    storage.delete_prefix("staging/t1")
    storage.move("incoming/b", "staging/t1/piece-0")
    put(storage, "staging/t2/dossier")
    assert made == ["blobs/staging/t1", "blobs/staging/t2"]
    assert read(storage, "staging/t1/piece-0") == b"data"
    assert storage.list("staging") == ["staging/t1/piece-0", "staging/t2/dossier"]


def test_a_new_folder_is_made_durable_in_its_parent(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder made for a blob is flushed in its parent, as are the parents made with it: the
    blob's own flush does not record the folder's name."""
    flushed: list[str] = []
    real_fsync_path = storage_module.fsync_path

    def fsync_path(path: Path) -> None:
        flushed.append(path.relative_to(storage.root.parent).as_posix())
        real_fsync_path(path)

    monkeypatch.setattr(storage_module, "fsync_path", fsync_path)
    put(storage, "staging/t1/dossier")
    assert {"blobs/staging", "blobs"} <= set(flushed)  # staging/t1 in staging, staging in root
    flushed.clear()
    put(storage, "incoming/a")
    storage.move("incoming/a", "packages/p1/x")
    assert {"blobs/packages", "blobs"} <= set(flushed)


def test_a_blob_committed_without_its_folder_flush_is_flushed_itself(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`flush_folder=False` leaves out the folder's flush only: the blob's data is flushed, and
    the next durable commit in the folder flushes it once for both names."""
    put(storage, "packages/first")  # the folder exists: no flush of its making below
    events: list[str] = []
    real_fsync, real_fsync_path = os.fsync, storage_module.fsync_path

    def fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.is_file():  # a folder's flush is seen by `fsync_path`
            events.append(f"file {path.name.split('.')[0]}")
        real_fsync(fd)

    def fsync_path(path: Path) -> None:
        events.append(f"folder {path.name}")
        real_fsync_path(path)

    monkeypatch.setattr(storage_module.os, "fsync", fsync)
    monkeypatch.setattr(storage_module, "fsync_path", fsync_path)
    blob = storage.writer("packages/a")
    blob.write(b"a")
    blob.commit(flush_folder=False)
    put(storage, "packages/b")

    assert events == ["file a", "file b", "folder packages"]
    assert read(storage, "packages/a") == b"a"


def test_a_blob_written_in_place_is_under_its_key_from_the_start(storage: LocalStorage) -> None:
    """No temporary name: the key holds what is written so far; a discard removes it, and a key
    already there is refused rather than overwritten."""
    put(storage, "packages/taken")
    blob = storage.writer("packages/a", in_place=True)
    blob.write(b"so far")
    assert files_under(storage.root / "packages") == ["a", "taken"]
    blob.commit()
    assert read(storage, "packages/a") == b"so far"

    dropped = storage.writer("packages/b", in_place=True)
    dropped.write(b"x")
    dropped.discard()
    assert files_under(storage.root / "packages") == ["a", "taken"]
    with pytest.raises(FileExistsError):
        storage.writer("packages/taken", in_place=True)
    assert read(storage, "packages/taken") == b"data"


def test_move_of_missing_blob_raises(storage: LocalStorage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.move("incoming/none", "staging/x")
    assert not (storage.root / "staging").exists()  # no folder made for nothing


def test_delete_removes_a_blob_and_ignores_a_missing_one(storage: LocalStorage) -> None:
    put(storage, "a/b")

    storage.delete("a/b")
    storage.delete("a/b")
    storage.delete("never/there")

    assert not storage.exists("a/b")


def test_delete_prefix_removes_the_whole_folder_only(storage: LocalStorage) -> None:
    put(storage, "packages/t1/tok1/admin.age")
    put(storage, "packages/t1/tok2/medical.age")
    put(storage, "packages/t10/tok/admin.age")
    put(storage, "packages/t2/tok/admin.age")

    storage.delete_prefix("packages/t1")
    storage.delete_prefix("packages/t1")
    storage.delete_prefix("never/there")

    assert storage.list("packages") == ["packages/t10/tok/admin.age", "packages/t2/tok/admin.age"]


def test_delete_prefix_empties_a_flat_folder_unfinished_blobs_too(storage: LocalStorage) -> None:
    put(storage, "staging/t1/dossier")
    put(storage, "staging/t1/piece-0")
    unfinished = storage.writer("staging/t1/piece-1")
    unfinished.write(b"half")
    put(storage, "staging/t2/dossier")

    storage.delete_prefix("staging/t1")
    unfinished.discard()

    assert list(storage.stamps("staging")) == ["staging/t2/dossier"]
    assert not (storage.root / "staging" / "t1").exists()


def test_exists_is_false_for_folders_and_missing_keys(storage: LocalStorage) -> None:
    put(storage, "a/b")

    assert storage.exists("a/b")
    assert not storage.exists("a")
    assert not storage.exists("a/c")


def test_stamps_lists_every_blob_under_a_prefix_unfinished_ones_too(storage: LocalStorage) -> None:
    put(storage, "packages/t1/a/dossier.age")
    unfinished = storage.writer("packages/t1/b/dossier.age")
    unfinished.write(b"half")

    stamps = storage.stamps("packages/t1")

    assert "packages/t1/a/dossier.age" in stamps
    assert [k for k in stamps if k.startswith("packages/t1/b/")] != []
    assert storage.stamps("packages/none") == {}
    unfinished.discard()


def test_deleting_by_start_tolerates_a_blob_another_deleted_meanwhile(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweeper and a worker may delete a transfer's staged blobs at once: a name listed, then
    deleted by the other before this one's turn, is no error (the sweep would stop there)."""
    for key in ("staging/a.dossier", "staging/a.piece-0", "staging/b.dossier"):
        with storage.writer(key) as blob:
            blob.write(b"x")
    listed = storage._starting

    def raced(start: str) -> Any:
        entries = list(listed(start))
        storage.delete("staging/a.dossier")  # the other deleter, between listing and unlinking
        return iter(entries)

    monkeypatch.setattr(storage, "_starting", raced)
    storage.delete_starting("staging/a.")
    assert sorted(os.listdir(storage.root / "staging")) == ["b.dossier"]
