"""Where each blob lives in the storage: uploads, a transfer's staged payload, its packages."""

from __future__ import annotations

import uuid

# Sealed uploads not yet moved into a transfer's staging folder (the orphan sweeper's to clear).
INCOMING = "incoming"
# A transfer's sealed payload until it is packaged: `staging/<id>/dossier`, `…/piece-<n>`.
STAGING = "staging"
# A transfer's packages, the attempt that wrote each (its lease token) at the start of its name:
# `packages/<id>/<lease token>-dossier.age`. Until 2026-12-05 each attempt had a folder of its
# own, `packages/<id>/<lease token>/dossier.age` (one more folder to create per transfer); keys
# recorded so stay readable, and both layouts are swept.
PACKAGES = "packages"
TRANSFER_FOLDERS = (STAGING, PACKAGES)
# A draft's sealed documents until it is sent, deleted or purged: `drafts/<id>/<random hex>`.
DRAFTS = "drafts"


def new_upload() -> str:
    """A fresh key for an upload that is streaming in."""
    return f"{INCOMING}/{uuid.uuid4().hex}"


def staging_prefix(transfer_id: uuid.UUID) -> str:
    """Folder of a transfer's sealed payload until it is packaged."""
    return f"{STAGING}/{transfer_id}"


def staged_dossier(transfer_id: uuid.UUID) -> str:
    """The sealed dossier JSON of a transfer."""
    return f"{staging_prefix(transfer_id)}/dossier"


def staged_piece(transfer_id: uuid.UUID, position: int) -> str:
    """The sealed document at `position` in the dossier's `pieces`."""
    return f"{staging_prefix(transfer_id)}/piece-{position}"


def draft_prefix(draft_id: uuid.UUID) -> str:
    """Folder of a draft's sealed documents."""
    return f"{DRAFTS}/{draft_id}"


def package_prefix(transfer_id: uuid.UUID) -> str:
    """Folder of every processing attempt's packages of a transfer."""
    return f"{PACKAGES}/{transfer_id}"


def attempt_prefix(transfer_id: uuid.UUID, token: str) -> str:
    """What names the packages one processing attempt (its lease token) writes."""
    return f"{package_prefix(transfer_id)}/{token}"


def attempt_package(prefix: str, name: str) -> str:
    """The key of the package `name` (`dossier.age`) of the attempt `attempt_prefix` names."""
    return f"{prefix}-{name}"


def attempt_of(key: str) -> str:
    """The attempt (`packages/<id>/<lease token>`) a package key belongs to, in either layout."""
    transfer, token = key.split("/", 3)[1:3]
    return f"{PACKAGES}/{transfer}/{token.split('-', 1)[0]}"


def in_attempt_folder(key: str) -> bool:
    """Tell whether a package key is in an attempt's own folder (the layout before 2026-12-05)."""
    return key.count("/") > 2


def transfer_folder(key: str) -> str:
    """The transfer folder (`staging/<id>` or `packages/<id>`) a key belongs to."""
    return "/".join(key.split("/")[:2])
