"""Submit a transfer: validate, seal the payload at rest, record it, then wake a worker."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mdph_bridge.domain.sealing import Keyring, SealWriter
from mdph_bridge.domain.states import State
from mdph_bridge.models import Transfer, TransferDocument, TransferEvent, utcnow
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.keys import destination_problems
from mdph_bridge.storage import LocalStorage
from schemas.dossier import DossierSchema
from schemas.errors import error, flatten

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedUpload:
    """An uploaded part, already sealed into a blob while it streamed in."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Submission:
    """What the sending MDPH sent: the dossier JSON and its documents by part name."""

    dossier: bytes
    uploads: Mapping[str, StagedUpload]
    idempotency_key: str | None


def staging_prefix(transfer_id: uuid.UUID) -> str:
    """Folder of a transfer's sealed payload until it is packaged."""
    return f"staging/{transfer_id}"


def parse_dossier(raw: bytes) -> dict[str, Any]:
    """Decode and validate the dossier JSON, listing every problem at once."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServiceError.one(422, "dossier", "requete.dossier_json") from exc
    try:
        return DossierSchema().load(data)
    except ValidationError as exc:
        raise ServiceError(422, flatten(exc.messages)) from exc


def _documents_problems(
    dossier: dict[str, Any], uploads: Mapping[str, StagedUpload]
) -> list[dict[str, str]]:
    problems = []
    declared = set()
    for index, piece in enumerate(dossier["pieces"]):
        name = piece["nom_fichier"]
        declared.add(name)
        upload = uploads.get(name)
        if upload is None:
            problems.append(
                error(f"pieces[{index}].nom_fichier", "piece.fichier_manquant", nom=name)
            )
        elif upload.sha256 != piece["sha256"]:
            problems.append(error(f"pieces[{index}].sha256", "piece.empreinte_differente"))
    for name in sorted(set(uploads) - declared):
        problems.append(error("pieces", "piece.fichier_non_declare", nom=name))
    return problems


def find_by_idempotency_key(session: Session, origin: str, key: str) -> Transfer | None:
    """Return the transfer an earlier submission with this key created, if any."""
    return session.scalar(
        select(Transfer).where(Transfer.origin_code == origin, Transfer.idempotency_key == key)
    )


def submit(
    session: Session,
    storage: LocalStorage,
    keyring: Keyring,
    sla_days: int,
    principal: Principal,
    submission: Submission,
) -> tuple[Transfer, bool]:
    """Create the transfer (or return the one this Idempotency-Key created); True if new."""
    key = submission.idempotency_key
    if key is not None and (
        existing := find_by_idempotency_key(session, principal.departement, key)
    ):
        return existing, False
    dossier = parse_dossier(submission.dossier)
    problems = []
    if dossier["transfert"]["mdph_origine"] != principal.departement:
        problems.append(
            error("transfert.mdph_origine", "transfert.origine", departement=principal.departement)
        )
    problems += destination_problems(session, dossier)
    problems += _documents_problems(dossier, submission.uploads)
    if problems:
        raise ServiceError(422, problems)

    transfer_id = uuid.uuid4()
    prefix = staging_prefix(transfer_id)
    try:
        _stage(storage, keyring, prefix, submission, dossier)
        transfer = _record(session, keyring, sla_days, principal, transfer_id, dossier, submission)
        session.commit()
    except IntegrityError:
        session.rollback()
        storage.delete_prefix(prefix)
        existing = key and find_by_idempotency_key(session, principal.departement, key)
        if not existing:
            raise
        return existing, False
    except BaseException:
        session.rollback()
        storage.delete_prefix(prefix)
        raise
    log.info("transfer %s received %s -> %s", transfer_id, transfer.origin_code, transfer.dest_code)
    return transfer, True


def _stage(
    storage: LocalStorage,
    keyring: Keyring,
    prefix: str,
    submission: Submission,
    dossier: dict[str, Any],
) -> None:
    with storage.writer(f"{prefix}/dossier") as blob:
        sealer = SealWriter(blob, keyring)
        sealer.write(submission.dossier)
        sealer.close()
    for index, piece in enumerate(dossier["pieces"]):
        storage.move(submission.uploads[piece["nom_fichier"]].key, f"{prefix}/piece-{index}")


def _record(
    session: Session,
    keyring: Keyring,
    sla_days: int,
    principal: Principal,
    transfer_id: uuid.UUID,
    dossier: dict[str, Any],
    submission: Submission,
) -> Transfer:
    now = utcnow()
    transfert = dossier["transfert"]
    transfer = Transfer(
        id=transfer_id,
        origin_code=transfert["mdph_origine"],
        dest_code=transfert["mdph_destination"],
        state=State.RECEIVED.value,
        numero_dossier_origine=transfert["numero_dossier_origine"],
        motif=transfert["motif"],
        idempotency_key=submission.idempotency_key,
        submitted_by=principal.token_id,
        submitted_at=now,
        due_at=now + timedelta(days=sla_days),
        state_changed_at=now,
        staging_key_id=keyring.primary.key_id,
        problems=[],
    )
    transfer.documents = [
        TransferDocument(
            position=index,
            type_piece=piece["type_piece"],
            medical=piece["medical"],
            size=submission.uploads[piece["nom_fichier"]].size,
            sha256=piece["sha256"],
        )
        for index, piece in enumerate(dossier["pieces"])
    ]
    transfer.events = [
        TransferEvent(at=now, from_state=None, to_state=State.RECEIVED.value, actor=principal.actor)
    ]
    session.add(transfer)
    session.flush()
    return transfer
