"""Signed checkpoints of the audit log, in the transparency-dev "signed note" layout.

A checkpoint says "the log had `size` entries and its head hash was `head`" at a time; the hub signs
it with its Ed25519 key. Whoever keeps a checkpoint can later prove that the log was cut, edited or
rolled back. The chain is `head(n) = SHA-256(head(n-1) || leaf(n))`, so the leaf hashes between two
sizes prove that the newer head extends the older one without revealing any entry.
See https://github.com/transparency-dev/formats/blob/main/log/README.md (checkpoint) and
https://pkg.go.dev/golang.org/x/mod/sumdb/note (signed note).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mdph_bridge.domain.signing import SECRET_PREFIX

GENESIS = "0" * 64
ORIGIN = "mdph-bridge/audit"
DASH = "\u2014"  # the em dash that starts a note's signature line


def link(head: str, leaf: str) -> str:
    """Extend the chain's head by one leaf hash (both hex)."""
    return hashlib.sha256(bytes.fromhex(head) + bytes.fromhex(leaf)).hexdigest()


def extend(head: str, leaves: Iterable[str]) -> str:
    """Extend `head` by each leaf in turn."""
    for leaf in leaves:
        head = link(head, leaf)
    return head


@dataclass(frozen=True)
class Checkpoint:
    """The signed state of the log: its size, head hash and time; a purge also names its anchor."""

    size: int
    head: str
    at: datetime
    anchor_size: int = 0  # entries up to this size were purged past retention (purge checkpoints)
    anchor_head: str = GENESIS

    def body(self) -> str:
        """The text that is signed: origin, size, base64 head, then extension lines."""
        head = base64.b64encode(bytes.fromhex(self.head)).decode()
        lines = [ORIGIN, str(self.size), head, f"time {self.at.isoformat()}"]
        if self.anchor_size:
            lines.append(f"purge {self.anchor_size} {self.anchor_head}")
        return "\n".join(lines) + "\n"


def _key_hash(name: str, public: bytes) -> bytes:
    """The note's 4-byte key hash: SHA-256(name, newline, 0x01 for Ed25519, public key)."""
    return hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]


def sign(checkpoint: Checkpoint, key_id: str, secret: str) -> str:
    """Return the signed note: the body, a blank line, and the hub key's signature line."""
    private = Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    )
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    body = checkpoint.body()
    signature = _key_hash(key_id, public) + private.sign(body.encode())
    return f"{body}\n{DASH} {key_id} {base64.b64encode(signature).decode()}\n"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or whose signature does not hold."""


def open_note(note: str, publics: Mapping[str, str]) -> Checkpoint:
    """Check the note's signature against one of the hub's public keys and read the checkpoint."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointError("point de contrôle illisible (pas de signature)")
    body += "\n"
    if not any(_signed_by(body, line, publics) for line in signatures.splitlines()):
        raise CheckpointError("signature du point de contrôle invalide ou clé inconnue")
    return parse(body)


def _signed_by(body: str, line: str, publics: Mapping[str, str]) -> bool:
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != DASH or parts[1] not in publics:
        return False
    try:
        public = base64.b64decode(publics[parts[1]], validate=True)
        raw = base64.b64decode(parts[2], validate=True)
        if raw[:4] != _key_hash(parts[1], public):
            return False
        Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], body.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def parse(body: str) -> Checkpoint:
    """Read a checkpoint's body (already verified)."""
    lines = body.rstrip("\n").split("\n")
    try:
        if lines[0] != ORIGIN:
            raise CheckpointError(f"point de contrôle d'un autre journal ({lines[0]!r})")
        size, head = int(lines[1]), base64.b64decode(lines[2], validate=True).hex()
        extensions = dict(line.split(" ", 1) for line in lines[3:])
        at = datetime.fromisoformat(extensions["time"])
        anchor_size, anchor_head = 0, GENESIS
        if "purge" in extensions:
            count, anchor_head = extensions["purge"].split(" ")
            anchor_size = int(count)
    except (IndexError, KeyError, ValueError) as exc:
        raise CheckpointError("point de contrôle illisible") from exc
    return Checkpoint(size, head, at, anchor_size, anchor_head)


def extends(older: Checkpoint, newer: Checkpoint, leaves: list[str]) -> bool:
    """Tell whether `newer` is `older` plus `leaves` (the leaf hashes of the entries between)."""
    if newer.size < older.size or len(leaves) != newer.size - older.size:
        return False
    return extend(older.head, leaves) == newer.head
