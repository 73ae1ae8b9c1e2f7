"""Steps integration tests share: process a transfer as the worker does, open its packages."""

from __future__ import annotations

import io
import tarfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mdph_bridge.blobpaths import staged_dossier
from mdph_bridge.domain.age import Decryptor
from mdph_bridge.domain.sealing import Keyring, seal
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer
from mdph_bridge.services.processing import Limits, process_transfer

LIMITS = Limits(lease=timedelta(minutes=5), max_attempts=3)
MEDICAL_PDF = PDF + b"% certificat\n"


def identity(demo: dict[str, Any], code: str, usage: str) -> str:
    return Path(demo[code]["cles"][usage]["identity_file"]).read_text().splitlines()[-1]


def unpack(blob: bytes, identities: list[str]) -> dict[str, bytes]:
    with tarfile.open(fileobj=Decryptor(io.BytesIO(blob), identities), mode="r|") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def sealed_dossier(session: Session, transfer_id: uuid.UUID) -> bytes | None:
    """The sealed dossier the transfer's row holds, as the database has it now."""
    found = session.scalar(select(Transfer.sealed_dossier).where(Transfer.id == transfer_id))
    session.commit()
    return found


def restage_dossier(
    session: Session, keyring: Keyring, transfer_id: uuid.UUID, plain: bytes
) -> None:
    """Replace the staged dossier in the row (as a fault or a restore out of step would)."""
    session.execute(
        update(Transfer)
        .where(Transfer.id == transfer_id)
        .values(sealed_dossier=seal(plain, keyring))
    )
    session.commit()


def staged_as_before_0018(session: Session, backends: Backends, transfer_id: uuid.UUID) -> None:
    """Move a transfer's sealed dossier from its row to its own file, as staged before 0018."""
    sealed = sealed_dossier(session, transfer_id)
    assert sealed is not None
    with backends.storage.writer(staged_dossier(transfer_id)) as blob:
        blob.write(sealed)
    session.execute(update(Transfer).where(Transfer.id == transfer_id).values(sealed_dossier=None))
    session.commit()


def run(app: Flask, backends: Backends, transfer_id: uuid.UUID) -> State | None:
    return process_transfer(
        backends.sessions(),
        backends.storage,
        app.config["KEYRING"],
        app.config["SIGNER"],
        app.config["RULES"],
        LIMITS,
        transfer_id,
    )


def ready(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, **kwargs: Any
) -> uuid.UUID:
    """A transfer from 59 to 62, processed: ready for the receiver."""
    files = {"piece_identite.pdf": PDF}
    data = dossier(files=files, **kwargs)
    extra = {"certificat.pdf": MEDICAL_PDF} if kwargs.get("medical") else {}
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], data, {**files, **extra})
    run(app, backends, transfer_id)
    return transfer_id
