"""Multipart parsing that seals each uploaded part while it streams in: no plaintext on disk."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Request
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.formparser import FormDataParser

from mdph_bridge.domain.sealing import Keyring, SealReader, SealWriter
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.submission import StagedUpload
from mdph_bridge.storage import LocalStorage

MiB = 1024 * 1024
DOSSIER_PART = "dossier"
MAX_PARTS = 200


class SealedPart:
    """Sink for one uploaded part: encrypts as it writes and stops past the size limit."""

    def __init__(self, storage: LocalStorage, keyring: Keyring, max_bytes: int) -> None:
        self.key = f"incoming/{uuid.uuid4().hex}"
        self._max_bytes = max_bytes
        self._blob = storage.writer(self.key)
        self._sealer = SealWriter(self._blob, keyring)
        self._done = False

    def write(self, data: bytes) -> int:
        """Seal the next bytes of the part."""
        if self._sealer.size + len(data) > self._max_bytes:
            raise ServiceError.one(413, "", "piece.trop_grande", max=self._max_bytes // MiB)
        return self._sealer.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        """Accept the rewind the form parser does once the part is written."""
        return 0

    def finish(self) -> StagedUpload:
        """Publish the sealed blob and describe it."""
        if not self._done:
            self._sealer.close()
            self._blob.commit()
            self._done = True
        return StagedUpload(self.key, self._sealer.size, self._sealer.sha256)

    def discard(self) -> None:
        """Drop the part if it was not published."""
        if not self._done:
            self._blob.discard()
            self._done = True


class UploadSink:
    """Collect the parts of one request and clean up whatever the submission did not keep."""

    def __init__(self, storage: LocalStorage, keyring: Keyring, max_file_bytes: int) -> None:
        self._storage = storage
        self._keyring = keyring
        self._max_file_bytes = max_file_bytes
        self._parts: list[SealedPart] = []

    def _new_part(self, *_args: Any, **_kwargs: Any) -> SealedPart:
        part = SealedPart(self._storage, self._keyring, self._max_file_bytes)
        self._parts.append(part)
        return part

    def parse(
        self, request: Request, max_form_memory_size: int
    ) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
        """Parse a multipart request, sealing every file part."""
        if request.mimetype != "multipart/form-data":
            raise ServiceError.one(415, "", "requete.multipart")
        parser = FormDataParser(
            stream_factory=self._new_part,  # type: ignore[arg-type]
            max_form_memory_size=max_form_memory_size,
            max_content_length=request.max_content_length,
            max_form_parts=MAX_PARTS,  # each open part holds a file descriptor
        )
        _, form, files = parser.parse(
            request.stream, request.mimetype, request.content_length, request.mimetype_params
        )
        return form, files

    def read_dossier(
        self, form: MultiDict[str, str], files: MultiDict[str, FileStorage], max_bytes: int
    ) -> bytes:
        """Return the dossier JSON, sent either as a plain field or as a file part."""
        if DOSSIER_PART in form:
            return form[DOSSIER_PART].encode()
        if DOSSIER_PART not in files:
            raise ServiceError.one(422, DOSSIER_PART, "requete.dossier_absent")
        staged = files[DOSSIER_PART].stream.finish()  # type: ignore[attr-defined]
        if staged.size > max_bytes:
            raise ServiceError.one(
                413, DOSSIER_PART, "requete.dossier_trop_grand", max=max_bytes // MiB
            )
        with self._storage.open(staged.key) as blob:
            return SealReader(blob, self._keyring).read()

    def documents(self, files: MultiDict[str, FileStorage]) -> dict[str, StagedUpload]:
        """Publish every document part, keyed by part name (its `nom_fichier`)."""
        staged: dict[str, StagedUpload] = {}
        for name, storage in files.items(multi=True):
            if name == DOSSIER_PART:
                continue
            if name in staged:
                raise ServiceError.one(422, "pieces", "piece.fichier_double", nom=name)
            staged[name] = storage.stream.finish()  # type: ignore[attr-defined]
        return staged

    def cleanup(self) -> None:
        """Delete every part the submission did not move into its staging folder."""
        for part in self._parts:
            part.discard()
            self._storage.delete(part.key)
