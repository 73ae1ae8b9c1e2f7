"""Both blob storages keep the same promises: local disk and an S3-compatible server (moto)."""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from object_store import s3_server, s3_settings

from mdph_bridge.blobpaths import attempt_package, attempt_prefix
from mdph_bridge.extensions import make_storage
from mdph_bridge.services.sweeper import remove_attempts
from mdph_bridge.storage import LocalStorage, Storage
from mdph_bridge.storage_s3 import PART_BYTES, S3Storage

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as url:
        yield url


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """An empty storage of each kind."""
    if request.param == "local":
        return LocalStorage(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    settings = s3_settings(endpoint, f"test-{uuid.uuid4().hex[:12]}")
    return make_storage(settings)


def put(storage: Storage, key: str, data: bytes) -> None:
    with storage.writer(key) as blob:
        blob.write(data)


def test_blob_appears_only_on_commit_and_reads_back(storage: Storage) -> None:
    writer = storage.writer("staging/t1/dossier")
    writer.write(b"sealed ")
    writer.write(memoryview(b"bytes"))
    assert not storage.exists("staging/t1/dossier")
    assert storage.list("staging/t1") == []
    writer.commit()

    assert storage.exists("staging/t1/dossier")
    with storage.open("staging/t1/dossier") as blob:
        assert blob.read() == b"sealed bytes"


def test_failed_write_leaves_no_blob(storage: Storage) -> None:
    big = os.urandom(PART_BYTES + 1024)  # an upload in parts was already under way

    def write_then_fail() -> None:
        with storage.writer("packages/t1/a/dossier.age") as blob:
            blob.write(big)
            raise RuntimeError("worker failed")

    with pytest.raises(RuntimeError):
        write_then_fail()
    if isinstance(storage, S3Storage):
        assert "Uploads" not in storage.client.list_multipart_uploads(Bucket=storage.bucket)
    assert not storage.exists("packages/t1/a/dossier.age")
    assert storage.list("packages/t1") == []


def test_big_blob_streams_in_parts_and_reads_back_with_seek(storage: Storage) -> None:
    data = os.urandom(2 * PART_BYTES + 12345)
    with storage.writer("packages/t1/a/dossier.age") as blob:
        view = memoryview(data)
        for start in range(0, len(data), 64 * 1024):
            blob.write(view[start : start + 64 * 1024])

    with storage.open("packages/t1/a/dossier.age") as stream:
        digest = hashlib.sha256()
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
        assert digest.digest() == hashlib.sha256(data).digest()
        stream.seek(PART_BYTES - 10)
        assert stream.read(20) == data[PART_BYTES - 10 : PART_BYTES + 10]
        assert stream.seek(-5, io.SEEK_END) == len(data) - 5
        assert stream.read() == data[-5:]


def test_writes_cut_short_are_removed_once_old(storage: Storage) -> None:
    dead = storage.writer("packages/t1/a/dossier.age")  # its worker was killed: never finished
    dead.write(os.urandom(PART_BYTES + 1))
    put(storage, "packages/t1/b/dossier.age", b"finished")

    if not isinstance(storage, S3Storage):  # moto dates every multipart upload in 2010
        assert storage.remove_unfinished(time.time() - 3600) == 0  # too recent to judge
    assert storage.remove_unfinished(time.time() + 60) == 1
    assert storage.remove_unfinished(time.time() + 60) == 0
    assert storage.list("packages/t1") == ["packages/t1/b/dossier.age"]
    if isinstance(storage, S3Storage):
        assert "Uploads" not in storage.client.list_multipart_uploads(Bucket=storage.bucket)
    else:
        assert list(storage.stamps("packages/t1")) == ["packages/t1/b/dossier.age"]
    dead.discard()  # what is already gone is not an error


def test_move_list_stamps_and_delete(storage: Storage) -> None:
    put(storage, "incoming/abc", b"part")
    storage.move("incoming/abc", "staging/t1/piece-0")
    put(storage, "staging/t1/dossier", b"dossier")
    put(storage, "staging/t10/dossier", b"another transfer")

    assert not storage.exists("incoming/abc")
    assert storage.list("staging/t1") == ["staging/t1/dossier", "staging/t1/piece-0"]
    assert set(storage.stamps("staging/t1")) == {"staging/t1/dossier", "staging/t1/piece-0"}
    assert all(stamp > 0 for stamp in storage.stamps("staging/t1").values())

    storage.delete("staging/t1/dossier")
    storage.delete("staging/t1/dossier")  # deleting twice is fine
    storage.delete_prefix("staging/t1")
    assert storage.list("staging/t1") == []
    assert storage.list("staging/t10") == ["staging/t10/dossier"]


def test_names_are_found_and_deleted_by_their_start_in_one_folder(storage: Storage) -> None:
    """A transfer's staged blobs share no folder of their own: their names start alike."""
    for key in ("staging/t1.dossier", "staging/t1.piece-0", "staging/t10.dossier"):
        put(storage, key, b"sealed")
    put(storage, "staging/t1/dossier", b"staged in the transfer's folder, before 2026-12-05")

    assert storage.list_starting("staging/t1.") == ["staging/t1.dossier", "staging/t1.piece-0"]
    assert storage.list_starting("staging/t2.") == []
    assert storage.list_starting("nothing/t1.") == []
    storage.delete_starting("staging/t1.")
    assert storage.list("staging") == ["staging/t1/dossier", "staging/t10.dossier"]
    storage.delete_many(["staging/t10.dossier", "staging/t1/dossier", "staging/none"])
    assert storage.list("staging") == []


def test_an_attempt_s_packages_go_in_any_layout_and_the_kept_one_stays(
    storage: Storage,
) -> None:
    """Packages named after their transfer and attempt, and those written in the transfer's own
    folder before 2026-12-05: a folder that keeps no attempt goes whole."""
    one, two, other = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=10)
    kept = attempt_prefix(one, "k")
    put(storage, attempt_package(kept, "dossier.age"), b"the attempt that made it ready")
    put(storage, attempt_package(kept, "medical.age"), b"its medical package")
    for key in (
        f"packages/{one}.a-dossier.age",  # an interrupted attempt
        f"packages/{one}.a-medical.age.0f1e2d.partial",  # cut short while writing
        f"packages/{one}/h-dossier.age",  # an attempt in the transfer's folder
        f"packages/{one}/b/dossier.age",  # an attempt in its own folder
        f"packages/{one}/b/medical.age",
        f"packages/{two}/k-dossier.age",  # kept, in the transfer's folder
        f"packages/{two}/d-dossier.age",
        f"packages/{two}/e/dossier.age",
        f"packages/{other}.c-dossier.age",  # another transfer
    ):
        put(storage, key, b"ciphertext")

    keys = [key for key in storage.stamps("packages") if str(other) not in key]
    assert remove_attempts(storage, keys, {kept, f"packages/{two}/k"}) == 5
    assert storage.list("packages") == [
        f"packages/{one}.k-dossier.age",
        f"packages/{one}.k-medical.age",
        f"packages/{two}/k-dossier.age",
        f"packages/{other}.c-dossier.age",
    ]
    if isinstance(storage, LocalStorage):
        assert not (storage.root / "packages" / str(one)).exists()


def test_missing_blob_and_bad_keys_are_refused(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.open("staging/none/dossier")
    for key in ("../etc/passwd", "staging//x", "/abs", "a/../b"):
        with pytest.raises(ValueError, match="invalid blob key"):
            storage.writer(key)
    assert storage.check()


def test_s3_settings_choose_the_s3_storage(s3_endpoint: str) -> None:
    storage = make_storage(s3_settings(s3_endpoint, "choose-me"))
    assert isinstance(storage, S3Storage)
    assert storage.check()
