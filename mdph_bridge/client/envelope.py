"""Open a downloaded envelope in one streaming pass: decrypt, hash the plaintext, extract safely."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from mdph_bridge.client.hub import CHUNK, PullError, RefusedError
from mdph_bridge.domain.age import AgeError, Decryptor

LABELS = {"dossier": "administrative", "medical": "médicale"}


class _HashingReader(io.RawIOBase):
    """Hash and count what is read through it, so the plaintext is checked while extracted."""

    def __init__(self, src: io.RawIOBase) -> None:
        super().__init__()
        self._src = src
        self._hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        """Let `tarfile` read from this object."""
        return True

    def readinto(self, b: bytearray | memoryview) -> int:
        """Read from the source, hashing and counting the bytes on the way."""
        count = self._src.readinto(b) or 0
        self._hash.update(memoryview(b)[:count])
        self.size += count
        return count

    def hexdigest(self) -> str:
        """SHA-256 of everything read so far."""
        return self._hash.hexdigest()


def label(part: dict[str, Any]) -> str:
    """Name an envelope for the person: « administrative » or « médicale »."""
    return LABELS.get(part["nom"], str(part["nom"]))


def unpack(
    envelope: Path,
    identities: Sequence[str],
    dest: Path,
    part: dict[str, Any],
    required: str,
    reserved: frozenset[str] = frozenset(),
) -> None:
    """Extract the envelope into `dest`, refusing it unless its plaintext is the one signed for."""
    what = f"l'enveloppe {label(part)}"
    try:
        with envelope.open("rb") as src:
            plain = _HashingReader(Decryptor(src, identities))
            with tarfile.open(fileobj=plain, mode="r|") as tar:
                for member in tar:
                    if not reserved.isdisjoint(PurePosixPath(member.name).parts[:1]):
                        message = f"{what} contient un nom réservé : archive refusée."
                        raise RefusedError("archive_refusee", message)
                    tar.extract(member, dest, filter="data")
            # Reading to the end authenticates the final chunk and hashes the tar padding.
            while plain.read(CHUNK):
                pass
    except AgeError as exc:
        message = f"{what} ne se déchiffre pas : altérée, tronquée ou clé inadaptée."
        raise RefusedError("dechiffrement", message) from exc
    # Neither error is quoted whole: both would name the files, which may be personal data.
    except tarfile.TarError as exc:
        message = f"{what} contient une archive illisible ou refusée."
        raise RefusedError("archive_refusee", message) from exc
    except OSError as exc:
        raise PullError(f"{what} n'a pas pu être écrite sur le disque ({exc.strerror}).") from exc
    expected = (part["taille_claire"], part["sha256_clair"])
    if plain.size != expected[0] or not hmac.compare_digest(plain.hexdigest(), expected[1]):
        message = f"le contenu déchiffré de {what} diffère du manifeste signé."
        raise RefusedError("contenu_different", message)
    if not (dest / required).is_file():
        raise RefusedError("archive_refusee", f"{what} ne contient pas {required}.")
    _check_documents(dest, required, what)


def _check_documents(dest: Path, required: str, what: str) -> None:
    """Check each document against the SHA-256 the sending MDPH declared: end to end, not hub."""
    try:
        pieces = json.loads((dest / required).read_text(encoding="utf-8"))["pieces"]
        for number, piece in enumerate(pieces, 1):
            digest = hashlib.sha256()
            with (dest / piece["fichier"]).open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
            if not hmac.compare_digest(digest.hexdigest(), piece["sha256"]):
                raise RefusedError(
                    "piece_alteree",
                    f"la pièce n°{number} de {what} ne correspond pas à l'empreinte déclarée "
                    "par la MDPH d'origine.",
                )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        message = f"{what} décrit mal ses pièces : archive refusée."
        raise RefusedError("archive_refusee", message) from exc
