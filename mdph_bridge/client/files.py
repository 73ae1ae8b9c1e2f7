"""Durable writes in the output folder, on Linux and Windows alike: a crash leaves old or new."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# Windows can neither open nor flush a folder; NTFS journals the rename itself.
FOLDERS_SYNC = os.name != "nt"


def sync_file(path: Path) -> None:
    """Flush a file's content to disk."""
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def sync_folder(path: Path) -> None:
    """Flush a folder's entries (so that a rename in it survives a power cut)."""
    if FOLDERS_SYNC:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def sync_tree(root: Path) -> None:
    """Flush every file and folder, so a power cut after the rename cannot leave them empty."""
    for folder, _, files in os.walk(root):
        for name in files:
            sync_file(Path(folder) / name)
        sync_folder(Path(folder))


def write_json(path: Path, document: Any, temp_prefix: str) -> None:
    """Replace a JSON file atomically: write a temporary file beside it, flush, rename."""
    temp = path.with_name(f"{temp_prefix}{path.name}")
    with temp.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    sync_folder(path.parent)


class Index:
    """The append-only list of received transfers, one JSON line each, for the MDPH's software."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ids = self._load()

    def _load(self) -> set[str]:
        """Read the ids listed; drop a last line cut short by a crash, so appends stay valid."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return set()
        if raw and not raw.endswith(b"\n"):
            with self.path.open("rb+") as handle:
                handle.truncate(raw.rfind(b"\n") + 1)
                os.fsync(handle.fileno())
            raw = raw[: raw.rfind(b"\n") + 1]
        return {json.loads(line)["transfert"] for line in raw.splitlines() if line.strip()}

    def append(self, entry: dict[str, Any]) -> None:
        """Add one line and flush it; a transfer already listed is not listed again."""
        if entry["transfert"] in self.ids:
            return
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.path.open("ab") as handle:
            handle.write(line.encode())
            handle.flush()
            os.fsync(handle.fileno())
        self.ids.add(entry["transfert"])
