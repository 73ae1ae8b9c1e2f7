"""Drafts of dossiers composed on the pages: sealed at rest, kept per département, then purged.

What a caseworker types is sealed with the staging keyring (the same seal as submitted payloads)
before it reaches the database; attached documents are sealed as they stream in and kept under
`drafts/<id>/` until the draft is sent, deleted or purged.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.blobpaths import draft_prefix
from mdph_bridge.domain.dossier_form import (
    Typed,
    add_item,
    attached_files,
    compose,
    remove_item,
    shown_at,
    typed_from,
)
from mdph_bridge.domain.harmonisation import harmonise
from mdph_bridge.domain.rulesets import RuleBook
from mdph_bridge.domain.sealing import Keyring, seal, unseal
from mdph_bridge.models import Draft, Transfer, utcnow
from mdph_bridge.services.audit import SYSTEM, record
from mdph_bridge.services.auth import Principal
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.harmonisation import aid_problems
from mdph_bridge.services.keys import destination_problems
from mdph_bridge.services.staging import reseal_folder
from mdph_bridge.services.submission import (
    Created,
    Intake,
    StagedUpload,
    Submission,
    documents_problems,
    parse_dossier,
    submit,
)
from mdph_bridge.storage import Storage
from schemas.errors import error

log = logging.getLogger(__name__)
BATCH = 200


@dataclass
class DraftContent:
    """A draft once unsealed: the typed text and the documents' sealed files by index."""

    typed: Typed = field(default_factory=Typed)
    files: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    """A draft checked as a whole: its dossier, every problem, and the outcome of each right."""

    dossier: dict[str, Any]
    erreurs: list[dict[str, str]]
    report: dict[str, Any] | None


def _seal(keyring: Keyring, content: DraftContent) -> bytes:
    plain = json.dumps(
        {
            "saisie": content.typed.entries,
            "nombres": content.typed.counts,
            "repris": content.typed.kept,
            "fichiers": {str(index): meta for index, meta in content.files.items()},
        },
        ensure_ascii=False,
    ).encode()
    return seal(plain, keyring)


def read(keyring: Keyring, draft: Draft) -> DraftContent:
    """Unseal a draft."""
    data = json.loads(unseal(draft.sealed, keyring))
    return DraftContent(
        Typed(data["saisie"], data["nombres"], data["repris"]),
        {int(index): meta for index, meta in data["fichiers"].items()},
    )


def _store(draft: Draft, keyring: Keyring, content: DraftContent) -> None:
    draft.sealed = _seal(keyring, content)
    draft.key_id = keyring.primary.key_id
    draft.updated_at = utcnow()


def create(
    session: Session, keyring: Keyring, principal: Principal, content: DraftContent | None = None
) -> Draft:
    """Start a draft for the caller's département (empty, with one right and one document)."""
    if content is None:
        content = DraftContent()
        add_item(content.typed, "droits")
        add_item(content.typed, "pieces")
    draft = Draft(departement_code=principal.departement, created_by=principal.token_id)
    _store(draft, keyring, content)
    session.add(draft)
    session.commit()
    return draft


def get_draft(
    session: Session, principal: Principal, draft_id: uuid.UUID, lock: bool = False
) -> Draft:
    """A draft of the caller's département, or 404 whether it is another's or does not exist.

    `lock` holds the row until the caller's commit: an autosave and a step's button sent together
    then save one after the other, and neither loses what the other saved (an added item).
    """
    draft = session.get(Draft, draft_id, with_for_update=lock)
    if draft is None or draft.departement_code != principal.departement:
        raise ServiceError.one(404, "", "brouillon.introuvable")
    return draft


def ensure_draft(session: Session, principal: Principal, draft_id: uuid.UUID) -> None:
    """Refuse (404) before an upload streams in, then end the read transaction (SQLite's lock)."""
    get_draft(session, principal, draft_id)
    session.commit()


def list_drafts(session: Session, principal: Principal) -> list[Draft]:
    """The département's drafts, last saved first."""
    return list(
        session.scalars(
            select(Draft)
            .where(Draft.departement_code == principal.departement)
            .order_by(Draft.updated_at.desc())
        )
    )


def save(session: Session, keyring: Keyring, draft: Draft, content: DraftContent) -> None:
    """Seal and keep what was typed, whatever its problems: nothing typed is lost."""
    _store(draft, keyring, content)
    session.commit()


def attach(
    session: Session,
    storage: Storage,
    keyring: Keyring,
    draft: Draft,
    content: DraftContent,
    found: dict[int, tuple[str, StagedUpload]],
) -> None:
    """Keep the sealed files just uploaded for the draft's documents, replacing earlier ones."""
    replaced = []
    for index, (name, upload) in found.items():
        key = f"{draft_prefix(draft.id)}/{uuid.uuid4().hex}"
        storage.move(upload.key, key)
        if index in content.files:
            replaced.append(content.files[index]["cle"])
        content.files[index] = {
            "nom_fichier": name,
            "cle": key,
            "taille": upload.size,
            "sha256": upload.sha256,
            "mime": upload.mime,
        }
    save(session, keyring, draft, content)
    for key in replaced:
        storage.delete(key)


def remove_document(
    session: Session,
    storage: Storage,
    keyring: Keyring,
    draft: Draft,
    content: DraftContent,
    index: int,
) -> None:
    """Remove one document of the draft: what declares it and its file."""
    remove_item(content.typed, "pieces", index)
    gone = content.files.pop(index, None)
    content.files = {(i - 1 if i > index else i): meta for i, meta in content.files.items()}
    save(session, keyring, draft, content)
    if gone is not None:
        storage.delete(gone["cle"])


def import_dossier(
    session: Session,
    storage: Storage,
    keyring: Keyring,
    principal: Principal,
    raw: bytes,
    uploads: dict[str, StagedUpload],
) -> Draft:
    """Start a draft from a JSON v1 file (to correct or check it), with the files it declares."""
    try:
        dossier = json.loads(raw.decode("utf-8"))
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise ServiceError.one(422, "dossier", "formulaire.fichier_illisible") from exc
    if not isinstance(dossier, dict):
        raise ServiceError.one(422, "dossier", "formulaire.fichier_illisible")
    draft = create(session, keyring, principal, DraftContent(typed_from(dossier)))
    declared = attached_files(dossier)
    found = {i: (name, uploads[name]) for i, name in declared.items() if name in uploads}
    if found:
        attach(session, storage, keyring, draft, read(keyring, draft), found)
    return draft


def _uploads(content: DraftContent) -> dict[str, StagedUpload]:
    return {
        meta["nom_fichier"]: StagedUpload(meta["cle"], meta["taille"], meta["sha256"], meta["mime"])
        for meta in content.files.values()
    }


def check(
    session: Session, rules: RuleBook, principal: Principal, content: DraftContent
) -> Checked:
    """Every problem of the draft, as the API would list them, and its preview when it is valid.

    Text that cannot be read (a date not written JJ/MM/AAAA) is reported as such, instead of
    the format's own complaint about the value that is then missing.
    """
    dossier, unread = compose(content.typed, principal.departement, content.files)
    erreurs = [error(path, code) for path, code in unread]
    unread_at = {shown_at(path) for path, _ in unread}
    try:
        loaded = parse_dossier(json.dumps(dossier).encode())
    except ServiceError as exc:
        erreurs += [e for e in exc.erreurs if shown_at(e["chemin"]) not in unread_at]
        return Checked(dossier, erreurs, None)
    blocking = destination_problems(session, loaded) + aid_problems(rules, loaded)
    erreurs += blocking + documents_problems(loaded, _uploads(content))
    return Checked(dossier, erreurs, None if blocking else harmonise(loaded, rules))


def export(content: DraftContent, principal: Principal) -> bytes:
    """The draft as a JSON v1 file, as far as it is filled in."""
    dossier, _ = compose(content.typed, principal.departement, content.files)
    return json.dumps(dossier, ensure_ascii=False, indent=2).encode()


def send(
    session: Session, intake: Intake, principal: Principal, draft: Draft
) -> Transfer | Created:
    """Create the transfer of a complete draft (a worker is woken once it commits), drop the draft.

    The draft's id is the submission's idempotency key: sending twice gives one transfer.
    """
    content = read(intake.keyring, draft)
    checked = check(session, intake.rules, principal, content)
    if checked.erreurs:
        raise ServiceError(422, checked.erreurs)
    submission = Submission(
        json.dumps(checked.dossier, ensure_ascii=False).encode(),
        _uploads(content),
        idempotency_key=str(draft.id),
    )
    transfer, _ = submit(session, intake, principal, submission)
    delete(session, intake.storage, draft)
    return transfer


def delete(session: Session, storage: Storage, draft: Draft) -> None:
    """Delete a draft and its documents' files."""
    draft_id = draft.id
    session.delete(draft)
    session.commit()
    storage.delete_prefix(draft_prefix(draft_id))


def purge_drafts(
    session: Session, storage: Storage, keep: timedelta, now: datetime
) -> list[uuid.UUID]:
    """Delete the drafts left unsaved for longer than `keep`, each audited; return their ids.

    Files go first, then the rows with their audit entries in one transaction: a crash in
    between leaves rows whose files are gone, which the next purge deletes.
    """
    drafts = list(
        session.scalars(
            select(Draft)
            .where(Draft.updated_at < now - keep)
            .order_by(Draft.updated_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    ids = [draft.id for draft in drafts]
    for draft_id in ids:
        storage.delete_prefix(draft_prefix(draft_id))
    for draft in drafts:
        session.delete(draft)
        record(session, SYSTEM, "draft.purge", "draft", draft.id, "ok", at=now)
    session.commit()
    if ids:
        log.info("purged %d draft(s) kept past retention", len(ids))
    return ids


def reseal_drafts(session: Session, storage: Storage, keyring: Keyring) -> int:
    """Re-seal the drafts and their files under the primary key, so an old key can be retired."""
    primary = keyring.primary.key_id
    drafts = list(session.scalars(select(Draft)))
    resealed = 0
    for draft in drafts:
        resealed += reseal_folder(storage, draft_prefix(draft.id), keyring)
        if draft.key_id != primary:
            draft.sealed = _seal(keyring, read(keyring, draft))
            draft.key_id = primary
            resealed += 1
    session.commit()
    return resealed
