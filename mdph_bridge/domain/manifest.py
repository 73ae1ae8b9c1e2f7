"""The package manifest: what was sent, to whom, with which hashes; signed by the hub."""

from __future__ import annotations

from datetime import datetime
from typing import Any

MANIFEST_VERSION = 1
FORMAT_VERSION = "1"


def part(
    name: str,
    filename: str,
    sha256: str,
    size: int,
    plain_sha256: str,
    plain_size: int,
    key_ids: list[str],
) -> dict[str, Any]:
    """Describe one envelope of the package."""
    return {
        "nom": name,
        "fichier": filename,
        "sha256_chiffre": sha256,
        "taille_chiffree": size,
        "sha256_clair": plain_sha256,
        "taille_claire": plain_size,
        "cles": key_ids,
    }


def manifest(
    transfer_id: str,
    origin: str,
    destination: str,
    created_at: datetime,
    parts: list[dict[str, Any]],
    rule_versions: list[str] | None = None,
) -> dict[str, Any]:
    """Build the manifest body that the hub signs (no personal data: ids, codes, hashes)."""
    return {
        "version": MANIFEST_VERSION,
        "transfert": transfer_id,
        "mdph_origine": origin,
        "mdph_destination": destination,
        "version_format": FORMAT_VERSION,
        "version_regles": rule_versions or [],
        "cree_le": created_at.isoformat(),
        "parties": parts,
    }


def receipt(transfer_id: str, manifest_sha256: str, at: datetime) -> dict[str, str]:
    """Build the receipt body a receiving MDPH signs: which transfer, which manifest, when."""
    return {"transfert": transfer_id, "sha256_manifeste": manifest_sha256, "date": at.isoformat()}
