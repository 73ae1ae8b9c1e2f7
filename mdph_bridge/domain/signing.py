"""Ed25519 signatures over canonical JSON: the hub's manifests and the receivers' receipts."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM = "Ed25519"
SECRET_PREFIX = "MDPH-ED25519-SECRET-"  # noqa: S105 - a marker, not a secret


def canonical_json(value: Any) -> bytes:
    """Serialise `value` the one way both signer and verifier compute (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of `value`: what a receipt refers to."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str, size: int) -> bytes:
    raw = base64.b64decode(text.encode(), validate=True)
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes, got {len(raw)}")
    return raw


def generate_signing_key() -> tuple[str, str]:
    """Return a new (secret, public) pair as text: `MDPH-ED25519-SECRET-<b64 seed>`, `<b64 key>`."""
    secret = SECRET_PREFIX + _b64(Ed25519PrivateKey.generate().private_bytes_raw())
    return secret, public_of(secret)


@lru_cache(maxsize=16)  # loading a key derives its public half: once per process, not per use
def _private(secret: str) -> Ed25519PrivateKey:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("not an MDPH Ed25519 secret key")
    return Ed25519PrivateKey.from_private_bytes(_unb64(secret.removeprefix(SECRET_PREFIX), 32))


def public_of(secret: str) -> str:
    """Derive the public key (base64 of 32 bytes) of a secret key."""
    raw = _private(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _b64(raw)


def check_public_key(public: str) -> str:
    """Return the public key if it is a valid base64 Ed25519 key, else raise ValueError."""
    Ed25519PublicKey.from_public_bytes(_unb64(public.strip(), 32))
    return public.strip()


def sign(secret: str, value: Any) -> str:
    """Sign the canonical JSON of `value`; return the base64 signature."""
    return _b64(_private(secret).sign(canonical_json(value)))


def verify(public: str, signature: str, value: Any) -> bool:
    """Tell whether `signature` is `public`'s signature of the canonical JSON of `value`."""
    try:
        key = Ed25519PublicKey.from_public_bytes(_unb64(public, 32))
        key.verify(_unb64(signature, 64), canonical_json(value))
    except (InvalidSignature, ValueError):
        return False
    return True


def _is_secret(secret: str) -> bool:
    try:
        public_of(secret)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HubKey:
    """One of the hub's signing keys."""

    key_id: str
    secret: str = field(repr=False)

    @property
    def public(self) -> str:
        """The public half, published at /api/v1/keys."""
        return public_of(self.secret)


class HubSigner:
    """The hub's ordered signing keys: the first signs, all are published for verification."""

    def __init__(self, keys: Sequence[HubKey]) -> None:
        if not keys or len({k.key_id for k in keys}) != len(keys):
            raise ValueError("signing keys must be a non-empty list with unique ids")
        self.keys = tuple(keys)

    @classmethod
    def parse(cls, text: str) -> HubSigner:
        """Read `id:MDPH-ED25519-SECRET-…,id2:…` (as written by `mdph-bridge init-env`)."""
        keys = []
        for position, item in enumerate(filter(None, (p.strip() for p in text.split(","))), 1):
            key_id, _, secret = item.partition(":")
            if not key_id or not _is_secret(secret):
                raise ValueError(f"signing key #{position} is malformed (expected id:secret)")
            keys.append(HubKey(key_id, secret))
        return cls(keys)

    def sign(self, value: Any) -> dict[str, str]:
        """Sign `value` with the current key; return the signature block stored beside it."""
        key = self.keys[0]
        return {"algorithme": ALGORITHM, "cle": key.key_id, "valeur": sign(key.secret, value)}


def generate_hub_key(key_id: str) -> str:
    """Return `id:secret` for a new hub signing key, as MDPH_BRIDGE_SIGNING_KEYS expects."""
    secret, _ = generate_signing_key()
    return f"{key_id}:{secret}"
