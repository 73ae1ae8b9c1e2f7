"""Where each blob lives in the storage: uploads, a transfer's staged payload, its packages.

A transfer's blobs are named by key in the shared `staging/` and `packages/` folders
(`staging/<id>.dossier`, `packages/<id>.<lease token>.dossier.age`): a new folder cost more CPU
than anything else a small transfer did to the disk. Hubs before that kept a folder per transfer
and per attempt (`staging/<id>/dossier`, `packages/<id>/<lease token>/dossier.age`); those blobs
are still read, swept and purged, so an upgrade loses nothing stored by a running hub.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# Sealed uploads not yet moved into a transfer's staging (the orphan sweeper's to clear).
INCOMING = "incoming"
# A transfer's sealed payload until it is packaged: `staging/<id>.dossier`, `….piece-<n>`.
STAGING = "staging"
# A transfer's packages, named per processing attempt: `packages/<id>.<lease token>.<name>`.
PACKAGES = "packages"
TRANSFER_FOLDERS = (STAGING, PACKAGES)
# A draft's sealed documents until it is sent, deleted or purged: `drafts/<id>/<random hex>`.
DRAFTS = "drafts"


def new_upload() -> str:
    """A fresh key for an upload that is streaming in."""
    return f"{INCOMING}/{uuid.uuid4().hex}"


def staged_dossier(transfer_id: uuid.UUID, legacy: bool = False) -> str:
    """The sealed dossier JSON of a transfer (`legacy`: in the folder older hubs made)."""
    return f"{STAGING}/{transfer_id}{'/' if legacy else '.'}dossier"


def staged_piece(transfer_id: uuid.UUID, position: int, legacy: bool = False) -> str:
    """The sealed document at `position` in the dossier's `pieces`."""
    return f"{STAGING}/{transfer_id}{'/' if legacy else '.'}piece-{position}"


def staged_keys(transfer_id: uuid.UUID, pieces: int) -> list[str]:
    """Every key of a transfer's staged payload of `pieces` documents (the flat layout)."""
    return [staged_dossier(transfer_id)] + [staged_piece(transfer_id, n) for n in range(pieces)]


def legacy_staging_folder(transfer_id: uuid.UUID) -> str:
    """The folder older hubs staged a transfer's payload in."""
    return f"{STAGING}/{transfer_id}"


def draft_prefix(draft_id: uuid.UUID) -> str:
    """Folder of a draft's sealed documents."""
    return f"{DRAFTS}/{draft_id}"


def package_names(transfer_id: uuid.UUID) -> str:
    """The start of the key of every package any attempt writes for a transfer (flat layout)."""
    return f"{PACKAGES}/{transfer_id}."


def attempt_package(transfer_id: uuid.UUID, token: str, name: str) -> str:
    """The package `name` (`dossier.age`, `medical.age`) one processing attempt writes."""
    return f"{package_names(transfer_id)}{token}.{name}"


def legacy_package_folder(transfer_id: uuid.UUID) -> str:
    """The folder older hubs kept every attempt's packages of a transfer in."""
    return f"{PACKAGES}/{transfer_id}"


@dataclass(frozen=True)
class Owner:
    """Whose a staged or package blob is: its transfer, and for a package its attempt's token.

    `folder` is the key to delete with `delete_prefix` for the older layout (a transfer's
    staging folder, an attempt's package folder), None for a flat blob, deleted by its key.
    """

    kind: str
    transfer: str
    attempt: str | None
    folder: str | None


def owner(key: str) -> Owner | None:
    """Whose blob `key` (under `staging/` or `packages/`, either layout) is; None if unknown."""
    kind, _, rest = key.partition("/")
    if kind not in TRANSFER_FOLDERS or not rest:
        return None
    if "/" in rest:  # the older layout: a folder per transfer, per attempt for packages
        parts = rest.split("/")
        if kind == STAGING:
            return Owner(kind, parts[0], None, f"{kind}/{parts[0]}")
        if len(parts) < 3:
            return None
        return Owner(kind, parts[0], parts[1], f"{kind}/{parts[0]}/{parts[1]}")
    parts = rest.split(".")
    if kind == STAGING:
        return Owner(kind, parts[0], None, None)
    if len(parts) < 3:
        return None
    return Owner(kind, parts[0], parts[1], None)
