"""Blob storage in an S3-compatible object store, so that web and workers run on several machines.

Writes stream as multipart uploads (a part in memory at a time) and appear only when complete;
reads stream with ranged GETs. An upload cut short by a crash stays invisible: the orphan sweeper
aborts it (`remove_unfinished`); a bucket lifecycle rule that aborts incomplete multipart uploads
after a day does the same on the store's side.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from mdph_bridge.storage import CommitOnExit, check_key

PART_BYTES = 8 * 1024 * 1024  # S3 parts must be 5 MiB or more, but the last
READ_BUFFER = 1024 * 1024


@dataclass(frozen=True)
class S3Settings:
    """Where the bucket is and how to authenticate (None: boto3's usual credential chain)."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


class S3Writer(CommitOnExit):
    """A blob being uploaded part by part; `commit` completes the upload, `discard` aborts it."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client = client
        self._target = {"Bucket": bucket, "Key": key}
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append bytes; a full part is sent at once."""
        self._buffer += data
        if len(self._buffer) >= PART_BYTES:
            self._send_part()
        return len(data)

    def _send_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(**self._target)["UploadId"]
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            **self._target, UploadId=self._upload_id, PartNumber=number, Body=bytes(self._buffer)
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        self._buffer.clear()

    def commit(self, durable: bool = True, flush_folder: bool = True) -> None:
        """Publish the blob under its key (always durable once the store answers: `durable` and
        `flush_folder` are the local disk's)."""
        if self._upload_id is None:  # small blob: one request
            self._client.put_object(**self._target, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._send_part()
        self._client.complete_multipart_upload(
            **self._target, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )

    def discard(self) -> None:
        """Drop what was written."""
        self._buffer.clear()
        if self._upload_id is not None:
            try:
                self._client.abort_multipart_upload(**self._target, UploadId=self._upload_id)
            except ClientError as exc:  # the orphan sweeper may have aborted it already
                if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise
            self._upload_id = None


class _S3Reader(io.RawIOBase):
    """A seekable stream over an object: reads from the current offset, a new GET after a seek."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        super().__init__()
        self._client = client
        self._target = {"Bucket": bucket, "Key": key}
        try:
            answer = client.get_object(**self._target)
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        self._size = int(answer["ContentLength"])
        self._body: Any = answer["Body"]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        position = max(0, base + offset)
        if position != self._position:
            self._drop_body()
            self._position = position
        return position

    def readinto(self, buffer: Any) -> int:
        if self._position >= self._size:
            return 0
        if self._body is None:
            answer = self._client.get_object(**self._target, Range=f"bytes={self._position}-")
            self._body = answer["Body"]
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


class S3Storage:
    """Store blobs as objects of one bucket; keys are the same as on the local disk."""

    dated_by_last_write = False  # an object may be dated from when its multipart upload began

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._clients: dict[int, Any] = {}

    @property
    def client(self) -> Any:
        """This process's client: a forked worker child never reuses its parent's connections."""
        pid = os.getpid()
        if pid not in self._clients:
            s = self.settings
            self._clients = {
                pid: boto3.session.Session().client(
                    "s3",
                    endpoint_url=s.endpoint_url,
                    region_name=s.region,
                    aws_access_key_id=s.access_key_id,
                    aws_secret_access_key=s.secret_access_key,
                    config=Config(retries={"mode": "standard"}),
                )
            }
        return self._clients[pid]

    def writer(self, key: str, in_place: bool = False) -> S3Writer:
        """Start writing a blob (use as a context manager, or call commit/discard); an object
        appears only once complete, `in_place` or not (the local disk's)."""
        return S3Writer(self.client, self.bucket, check_key(key))

    def open(self, key: str) -> BinaryIO:
        """Open a blob for reading (buffered, seekable)."""
        raw = _S3Reader(self.client, self.bucket, check_key(key))
        return io.BufferedReader(raw, READ_BUFFER)

    def exists(self, key: str) -> bool:
        """Tell whether a blob exists."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    def move(self, src: str, dst: str, durable: bool = True) -> None:
        """Copy the blob under its new key (server side, in parts if big), then delete the old
        (durable once copied: `durable` is the local disk's)."""
        source = {"Bucket": self.bucket, "Key": check_key(src)}
        self.client.copy(source, self.bucket, check_key(dst))
        self.client.delete_object(**source)

    def delete(self, key: str) -> None:
        """Delete a blob if it exists."""
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def _objects(self, start: str) -> Iterator[dict[str, Any]]:
        """Every object whose key starts with `start`."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        for page in pages:
            yield from page.get("Contents", [])

    def list(self, prefix: str) -> list[str]:
        """List the blobs under a folder prefix."""
        return sorted(o["Key"] for o in self._objects(f"{check_key(prefix)}/"))

    def stamps(self, prefix: str) -> dict[str, float]:
        """Every blob under a folder prefix with its last-modified time (epoch seconds)."""
        objects = self._objects(f"{check_key(prefix)}/")
        return {o["Key"]: o["LastModified"].timestamp() for o in objects}

    def delete_prefix(self, prefix: str) -> None:
        """Delete every blob under a folder prefix."""
        self.delete_many(self.list(prefix))

    def list_starting(self, start: str) -> Sequence[str]:
        """List the blobs whose key starts with `start`, a folder and the start of names in it."""
        return sorted(o["Key"] for o in self._objects(check_key(start)))

    def delete_starting(self, start: str) -> None:
        """Delete every blob whose key starts with `start`, a folder and the start of names."""
        self.delete_many(self.list_starting(start))

    def delete_many(self, keys: Sequence[str]) -> None:
        """Delete blobs that exist among `keys`, as many as one request may at a time."""
        for start in range(0, len(keys), 1000):  # the most one request may delete
            objects = [{"Key": check_key(key)} for key in keys[start : start + 1000]]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )

    def remove_unfinished(self, before: float) -> int:
        """Abort the multipart uploads started before `before` (epoch) that never completed."""
        aborted = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
        for page in pages:
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() < before:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted

    def check(self) -> bool:
        """Tell whether the bucket can be reached (readiness probe)."""
        self.client.head_bucket(Bucket=self.bucket)
        return True
