"""Private key files kept on the MDPH's own machine: created there, read by its client."""

from __future__ import annotations

import os
from pathlib import Path

from mdph_bridge.domain.age import generate_identity, recipient_of
from mdph_bridge.domain.signing import SECRET_PREFIX, generate_signing_key, public_of

SIGNING = "signing"
SUFFIXES = {"receiver": ".agekey", "doctor": ".agekey", SIGNING: ".signkey"}


def create_key_file(path: Path, usage: str) -> str:
    """Write a new private key (owner-only, never overwritten); return its public key."""
    if usage == SIGNING:
        secret, public = generate_signing_key()
    else:
        secret, public = generate_identity()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# {usage} key, public part: {public}\n{secret}\n")
    return public


def read_secret(path: Path) -> str:
    """Return the secret line of a key file (comments skipped)."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    secrets = [line for line in lines if line and not line.startswith("#")]
    if len(secrets) != 1:
        raise ValueError(f"{path.name}: expected exactly one secret key line")
    return secrets[0]


def public_key_of(secret: str) -> str:
    """Public half of an age identity or of an MDPH Ed25519 secret."""
    return public_of(secret) if secret.startswith(SECRET_PREFIX) else recipient_of(secret)
