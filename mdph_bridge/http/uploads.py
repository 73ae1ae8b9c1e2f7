"""Multipart parsing that seals each uploaded part while it streams in: no plaintext on disk."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from flask import Request, current_app, request
from multipart import MultipartError, MultipartSegment, PushMultipartParser
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from mdph_bridge.blobpaths import new_upload, staged_piece
from mdph_bridge.domain.filetypes import SNIFF_BYTES, detect_mime
from mdph_bridge.domain.sealing import Keyring, SealWriter
from mdph_bridge.extensions import backends
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.submission import Intake, StagedUpload, Staging, Submission
from mdph_bridge.storage import Storage

MiB = 1024 * 1024
DOSSIER_PART = "dossier"
MAX_DOSSIER_BYTES = 4 * MiB
MAX_PARTS = 200
READ_BYTES = 64 * 1024  # what the parser is fed at a time, as werkzeug's read
# A part's head: at most this many header lines, of at most this many KiB in all.
HEAD_LIMITS = {"entetes": 16, "taille": 8}
HEAD_BYTES = HEAD_LIMITS["taille"] * 1024
# The charsets a plain field may declare (werkzeug's list); any other is read as UTF-8.
FIELD_CHARSETS = frozenset({"ascii", "us-ascii", "utf-8", "iso-8859-1"})


class SealedPart:
    """Sink for one uploaded part: encrypts as it writes, keeps its first bytes to type it."""

    def __init__(
        self, sink: UploadSink, name: str, empty: bool = False, key: str | None = None
    ) -> None:
        self.name = name
        self.empty = empty  # a file input left empty on a page: the browser sends a blank part
        # Under a new transfer's staging key, written in place (nothing reads it before the
        # transfer's row exists); otherwise a fresh upload key, moved into staging if kept.
        self.in_place = key is not None
        self.key = key or new_upload()
        self._sink = sink
        self._blob = sink.storage.writer(self.key, in_place=self.in_place)
        self._sealer = SealWriter(self._blob, sink.keyring)
        self._head = b""
        self._done = False

    def write(self, data: bytes) -> int:
        """Seal the next bytes of the part, unless they break a size limit."""
        self._sink.admit(self.name, self._sealer.size, len(data))
        if len(self._head) < SNIFF_BYTES:
            self._head += data[: SNIFF_BYTES - len(self._head)]
        return self._sealer.write(data)

    def finish(self, last: bool = True) -> StagedUpload:
        """Publish the sealed blob and describe it; one in place is flushed, and its folder with
        the `last` of the request's (they share it)."""
        if not self._done:
            self._sealer.close()
            # Elsewhere not flushed: submission moves what it keeps, durable where it lands.
            self._blob.commit(durable=self.in_place, flush_folder=last)
            self._done = True
        return StagedUpload(
            self.key, self._sealer.size, self._sealer.sha256, detect_mime(self._head)
        )

    def discard(self) -> None:
        """Drop the part if it was not published."""
        if not self._done:
            self._blob.discard()
            self._done = True


class DossierPart:
    """Sink for the dossier's file part: kept in memory (at most 4 MiB), never a blob on disk.

    The submission reads it once and seals it into the transfer's staging folder; sealing it to
    an upload blob first cost a file created, read back, unsealed and deleted per submission.
    Only the request's first dossier part is kept (the one read); a repeated one is counted
    against the same limit and dropped.
    """

    def __init__(self, sink: UploadSink, empty: bool = False, keep: bool = True) -> None:
        self.name = DOSSIER_PART
        self.empty = empty
        self._sink = sink
        self._data: bytearray | None = bytearray() if keep else None
        self._size = 0

    def write(self, data: bytes) -> int:
        """Keep the next bytes of the part, unless they break the dossier's size limit."""
        self._sink.admit(self.name, self._size, len(data))
        self._size += len(data)
        if self._data is not None:
            self._data += data
        return len(data)

    def read(self) -> bytes:
        """The dossier's bytes as sent."""
        return bytes(self._data or b"")


class UploadSink:
    """Collect the parts of one request and clean up whatever the submission did not keep."""

    def __init__(
        self,
        storage: Storage,
        keyring: Keyring,
        max_file_bytes: int,
        max_transfer_bytes: int,
        documents_field: str | None = None,
        staging: Staging | None = None,
    ) -> None:
        self.storage = storage
        self.staging = staging
        self._in_staging = 0  # the document parts written under the staging's keys so far
        # The API names each document part after its `nom_fichier`; a page's file input sends
        # every document under one field name, each named by its file name.
        self._documents_field = documents_field
        self.keyring = keyring
        self._max_file_bytes = max_file_bytes
        self._max_transfer_bytes = max_transfer_bytes
        self._documents_bytes = 0
        self._parts: list[SealedPart] = []
        self._dossier_parts = 0

    def open_part(self, name: str, filename: str | None = None) -> SealedPart | DossierPart:
        """Start sealing the file part called `name` (or its file name, for a page's field).

        The dossier's own part is kept in memory instead (`DossierPart`).
        """
        empty = self._documents_field is not None and not filename
        if name == DOSSIER_PART:
            first = not self._dossier_parts
            self._dossier_parts += 1
            return DossierPart(self, empty, keep=first)
        if name == self._documents_field and filename:
            name = filename
        key = None
        if self.staging is not None and not empty:
            key = staged_piece(self.staging.transfer_id, self._in_staging)
            self._in_staging += 1
        part = SealedPart(self, name, empty, key)
        self._parts.append(part)
        return part

    def admit(self, name: str, written: int, size: int) -> None:
        """Refuse the next `size` bytes of a part past its own limit or the documents' total."""
        if name == DOSSIER_PART:
            if written + size > MAX_DOSSIER_BYTES:
                raise ServiceError.one(
                    413, DOSSIER_PART, "requete.dossier_trop_grand", max=MAX_DOSSIER_BYTES // MiB
                )
            return
        if written + size > self._max_file_bytes:
            raise ServiceError.one(413, name, "piece.trop_grande", max=self._max_file_bytes // MiB)
        self._documents_bytes += size
        if self._documents_bytes > self._max_transfer_bytes:
            raise ServiceError.one(
                413, "pieces", "piece.total_trop_grand", max=self._max_transfer_bytes // MiB
            )

    def parse(
        self, request: Request, max_form_memory_size: int
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        """Parse a multipart request, sealing every file part (`multipart`'s push parser, a
        tenth of werkzeug's CPU: docs/PERFORMANCE.md); a malformed body is refused as such."""
        if request.mimetype != "multipart/form-data":
            raise ServiceError.one(415, "", "requete.multipart")
        boundary = request.mimetype_params.get("boundary", "")
        if not boundary or not boundary.isascii():
            raise ServiceError.one(400, "", "requete.multipart_invalide", **HEAD_LIMITS)
        try:
            return self._read(request.stream, boundary, max_form_memory_size)
        except MultipartError as exc:  # a part's head past its limits too
            raise ServiceError.one(400, "", "requete.multipart_invalide", **HEAD_LIMITS) from exc

    def _read(
        self, stream: IO[bytes], boundary: str, max_form_memory_size: int
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        """The plain fields, kept in memory up to `max_form_memory_size` bytes each, and the file
        parts, each streamed into the sink `open_part` gives (each holds a file descriptor: their
        number is capped)."""
        form: MultiDict[str, str] = MultiDict()
        files: MultiDict[str, FileStorage] = MultiDict()
        parser = PushMultipartParser(
            boundary,
            max_header_count=HEAD_LIMITS["entetes"],
            max_header_size=HEAD_BYTES,
        )
        segment: Any = None
        field = bytearray()
        part: SealedPart | DossierPart | None = None
        parts = 0
        while True:
            chunk = stream.read(READ_BYTES)
            for event in parser.parse(chunk):  # an empty chunk ends it: raises if incomplete
                if isinstance(event, MultipartSegment):  # a part's head
                    parts += 1
                    if parts > MAX_PARTS:
                        raise RequestEntityTooLarge
                    _check_head(event)
                    segment, field, part = event, bytearray(), None
                    if event.filename is not None:
                        part = self.open_part(event.name, event.filename)
                elif event is None:  # a part's end
                    if part is not None:
                        stored = FileStorage(part, segment.filename, segment.name)  # type: ignore[arg-type]
                        files.add(segment.name, stored)
                    else:
                        charset = (segment.charset or "").lower()
                        charset = charset if charset in FIELD_CHARSETS else "utf-8"
                        form.add(segment.name, field.decode(charset, "replace"))
                elif part is not None:
                    part.write(event)
                else:
                    field += event
                    if len(field) > max_form_memory_size:
                        raise RequestEntityTooLarge
            if not chunk:
                return form, files

    def read_dossier(self, form: MultiDict[str, str], files: MultiDict[str, FileStorage]) -> bytes:
        """Return the dossier JSON, sent either as a plain field or as a file part."""
        if DOSSIER_PART in form:
            text = form[DOSSIER_PART]
            # `_read` decodes plain fields replacing invalid UTF-8 with U+FFFD: refuse it there.
            if "\ufffd" in text:
                raise ServiceError.one(422, DOSSIER_PART, "requete.dossier_json")
            return text.encode()
        if DOSSIER_PART not in files or files[DOSSIER_PART].stream.empty:  # type: ignore[attr-defined]
            raise ServiceError.one(422, DOSSIER_PART, "requete.dossier_absent")
        part: DossierPart = files[DOSSIER_PART].stream  # type: ignore[assignment]
        return part.read()

    def documents(self, files: MultiDict[str, FileStorage]) -> dict[str, StagedUpload]:
        """Publish every document part, keyed by part name (its `nom_fichier`)."""
        parts: list[SealedPart] = [
            storage.stream  # type: ignore[misc]
            for field, storage in files.items(multi=True)
            if field != DOSSIER_PART and not storage.stream.empty  # type: ignore[attr-defined]
        ]
        staged: dict[str, StagedUpload] = {}
        for number, part in enumerate(parts):
            if part.name in staged:
                raise ServiceError.one(422, "pieces", "piece.fichier_double", nom=part.name)
            staged[part.name] = part.finish(last=number == len(parts) - 1)
        return staged

    def cleanup(self) -> None:
        """Delete every part the submission did not take into its staging."""
        taken = self.staging is not None and self.staging.taken
        for part in self._parts:
            part.discard()
            if not (part.in_place and taken):
                self.storage.delete(part.key)


def new_intake() -> Intake:
    """Where and how the current app keeps submissions."""
    cfg = current_app.config
    return Intake(
        backends().storage,
        cfg["KEYRING"],
        cfg["CLOCK_RULES"],
        cfg["SECRET_KEY"].encode(),
        cfg["RULES"],
    )


@dataclass(frozen=True)
class Received:
    """A parsed multipart request: its plain fields and its sealed file parts."""

    form: MultiDict[str, str]
    files: MultiDict[str, FileStorage]
    sink: UploadSink

    def submission(self, idempotency_key: str | None) -> Submission:
        """The submission the request carries: the dossier JSON and the documents."""
        return Submission(
            dossier=self.sink.read_dossier(self.form, self.files),
            uploads=self.sink.documents(self.files),
            idempotency_key=idempotency_key,
            staging=self.sink.staging,
        )


@contextmanager
def received(
    intake: Intake, documents_field: str | None = None, new_transfer: bool = False
) -> Iterator[Received]:
    """Parse the multipart request, sealing each part; drop whatever the use case did not keep.

    For a `new_transfer` the documents are written under its staging keys as they come
    (`Staging`) where the storage dates them by their last write; a correction's, whose transfer
    may be processed meanwhile, a draft's, which stays a draft, and those on S3 go to fresh
    upload keys first (moved into staging, dated anew).
    """
    cfg = current_app.config
    sink = UploadSink(
        intake.storage,
        intake.keyring,
        cfg["MAX_FILE_BYTES"],
        cfg["MAX_TRANSFER_BYTES"],
        documents_field,
        Staging() if new_transfer and intake.storage.dated_by_last_write else None,
    )
    try:
        form, files = sink.parse(request, cfg["MAX_FORM_MEMORY_SIZE"])
        yield Received(form, files, sink)
    finally:
        sink.cleanup()


def _check_head(segment: MultipartSegment) -> None:
    """Refuse a part with no name, or whose head is past its size in all (the parser bounds
    each of its lines only)."""
    size = sum(len(name) + len(value) + 4 for name, value in segment.headerlist)  # ": ", CRLF
    if not segment.name or size > HEAD_BYTES:
        raise MultipartError("part without a name, or its head too large")
