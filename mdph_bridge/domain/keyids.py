"""Identifiers of départements' public keys, computable by the hub and by the MDPH alike."""

from __future__ import annotations

import hashlib


def key_id(departement: str, usage: str, public_key: str) -> str:
    """Derive a short, stable key id from the public key."""
    digest = hashlib.sha256(public_key.encode()).hexdigest()[:16]
    return f"{departement}-{usage}-{digest}"
