"""Safe names for documents inside a package, whatever the sender called them."""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r"[^\w.\- ]+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
MAX_BYTES = 120  # well under the 255-byte limit of common file systems, prefix included


def _truncate(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode(errors="ignore")


def safe_name(position: int, name: str) -> str:
    """Return a unique, path-free, printable file name for the document at `position`."""
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    match = _EXTENSION.search(base)
    extension = match.group(0) if match else ""
    stem = _truncate(base[: len(base) - len(extension)], MAX_BYTES - len(extension)).strip(" .")
    return f"{position + 1:02d}-{stem or 'piece'}{extension}"


def with_type_extension(name: str, extension: str) -> str:
    """Replace whatever extension a safe name has with the one of the document's real type."""
    match = _EXTENSION.search(name)
    return (name[: match.start()] if match else name) + extension
