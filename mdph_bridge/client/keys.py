"""The MDPH's private keys, several per usage so that a rotation overlaps: picked by key id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdph_bridge.client.hub import PullError
from mdph_bridge.domain.age import AgeError
from mdph_bridge.domain.keyids import key_id
from mdph_bridge.domain.signing import SECRET_PREFIX
from mdph_bridge.keyfiles import public_key_of, read_secret


@dataclass(frozen=True)
class Keys:
    """Age identities to decrypt and Ed25519 keys to sign receipts, newest file first."""

    folder: Path
    identities: dict[str, str]  # age recipient -> identity
    signing: list[tuple[str, str]]  # (secret, public)

    def opening(self, destination: str, usage: str, part: dict[str, Any]) -> list[str]:
        """Our identities among the keys the envelope was encrypted to (by the manifest's ids)."""
        wanted = set(part["cles"])
        return [
            secret
            for public, secret in self.identities.items()
            if key_id(destination, usage, public) in wanted
        ]


def load_keys(folder: Path) -> Keys:
    """Read every key file of `folder` as `mdph-bridge keys generate` writes them."""
    identities: dict[str, str] = {}
    signing: list[tuple[str, str]] = []
    paths = [p for p in folder.iterdir() if p.suffix in (".agekey", ".signkey")]
    for path in sorted(paths, key=lambda p: (-p.stat().st_mtime_ns, p.name)):
        try:
            secret = read_secret(path)
            public = public_key_of(secret)
        except (OSError, ValueError, AgeError) as exc:
            raise PullError(f"fichier de clé illisible : {path}.") from exc
        if (path.suffix == ".signkey") != secret.startswith(SECRET_PREFIX):
            raise PullError(f"{path} ne contient pas le type de clé qu'annonce son extension.")
        if path.suffix == ".agekey":
            identities[public] = secret
        else:
            signing.append((secret, public))
    if not identities:
        raise PullError(f"aucune clé de déchiffrement (*.agekey) dans {folder}.")
    if not signing:
        raise PullError(
            f"aucune clé de signature des accusés de réception (*.signkey) dans {folder}."
        )
    return Keys(folder, identities, signing)
