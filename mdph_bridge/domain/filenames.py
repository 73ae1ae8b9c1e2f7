"""Safe names for documents inside a package, whatever the sender called them."""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_name(position: int, name: str) -> str:
    """Return a unique, path-free, printable file name for the document at `position`."""
    base = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")[:120] or "piece"
    return f"{position + 1:02d}-{base}"
