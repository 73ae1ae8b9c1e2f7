"""Where each blob lives in the storage: uploads, a transfer's staged payload, its packages."""

from __future__ import annotations

import uuid

# Sealed uploads not yet moved into a transfer's staging: a correction's, a draft's, any on S3
# (on the local disk a new transfer's documents stream straight into its staging keys); the
# orphan sweeper's to clear.
INCOMING = "incoming"
# A transfer's sealed payload until it is packaged, named after the transfer in one folder for
# all: `staging/<id>.dossier`, `staging/<id>.piece-<n>`. Until 2026-12-05 each transfer had a
# folder of its own, `staging/<id>/dossier` (one more inode to create and free per transfer);
# payloads staged so stay readable, and both layouts are swept.
STAGING = "staging"
# A transfer's packages, named after the transfer and the attempt that wrote each (its lease
# token): `packages/<id>.<lease token>-dossier.age`. Until 2026-12-05 a transfer had a folder
# of its own, `packages/<id>/<lease token>-dossier.age`, and before that each attempt too,
# `packages/<id>/<lease token>/dossier.age`; keys recorded so stay readable, all are swept.
PACKAGES = "packages"
TRANSFER_FOLDERS = (STAGING, PACKAGES)
# A draft's sealed documents until it is sent, deleted or purged: `drafts/<id>/<random hex>`.
DRAFTS = "drafts"
# A transfer id's length in a name: what follows it says the layout (`.` flat, `/` a folder).
_ID_LENGTH = len(str(uuid.UUID(int=0)))


def new_upload() -> str:
    """A fresh key for an upload that is streaming in."""
    return f"{INCOMING}/{uuid.uuid4().hex}"


def staging_prefix(transfer_id: uuid.UUID) -> str:
    """What every key of a transfer's sealed payload starts with, until it is packaged."""
    return f"{STAGING}/{transfer_id}."


def staged_dossier(transfer_id: uuid.UUID) -> str:
    """The sealed dossier JSON of a transfer."""
    return f"{staging_prefix(transfer_id)}dossier"


def staged_piece(transfer_id: uuid.UUID, position: int) -> str:
    """The sealed document at `position` in the dossier's `pieces`."""
    return f"{staging_prefix(transfer_id)}piece-{position}"


def staging_folder(transfer_id: uuid.UUID) -> str:
    """The folder a transfer's payload was staged in before 2026-12-05."""
    return f"{STAGING}/{transfer_id}"


def in_staging_folder(key: str) -> str:
    """The key a staged blob (`staging/<id>.dossier`) had in its transfer's folder, before."""
    cut = len(STAGING) + 1 + _ID_LENGTH
    return f"{key[:cut]}/{key[cut + 1 :]}"


def draft_prefix(draft_id: uuid.UUID) -> str:
    """Folder of a draft's sealed documents."""
    return f"{DRAFTS}/{draft_id}"


def package_folder(transfer_id: uuid.UUID) -> str:
    """The folder of a transfer's packages written before 2026-12-05, every attempt's."""
    return f"{PACKAGES}/{transfer_id}"


def attempt_prefix(transfer_id: uuid.UUID, token: str) -> str:
    """What names the packages one processing attempt (its lease token) writes."""
    return f"{PACKAGES}/{transfer_id}.{token}"


def attempt_package(prefix: str, name: str) -> str:
    """The key of the package `name` (`dossier.age`) of the attempt `attempt_prefix` names."""
    return f"{prefix}-{name}"


def attempt_of(key: str) -> str:
    """The attempt (`packages/<id>.<lease token>`, before `packages/<id>/<lease token>`) a
    package key belongs to, in any layout."""
    transfer = transfer_of(key)
    rest = key[len(transfer) :]  # `.<token>-dossier.age`, `/<token>-…` or `/<token>/dossier.age`
    token = rest[1:].split("/", 1)[0].split("-", 1)[0]
    return f"{transfer}{rest[:1]}{token}"


def in_attempt_folder(key: str) -> bool:
    """Tell whether a package key is in an attempt's own folder (the oldest layout)."""
    return key.count("/") > 2


def transfer_folder(key: str) -> str | None:
    """The transfer's folder (`staging/<id>`, `packages/<id>`) a key is in, None if it is not
    (the layouts before 2026-12-05 had one)."""
    parts = key.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else None


def transfer_of(key: str) -> str:
    """What names the transfer (`staging/<id>`, `packages/<id>`) a key belongs to, any layout."""
    kind, _, name = key.partition("/")
    return f"{kind}/{name[:_ID_LENGTH]}"
