"""Helpers of the receiving client's tests: what OUT holds, and how to read it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from sqlalchemy.orm import Session

from mdph_bridge.client import pull
from mdph_bridge.models import Transfer

# What the beneficiary of the example file can be recognised by; never in the client's output.
PERSONAL = ("285035935012357", "Exemple", "Camille")

Pull = Callable[..., Result]


def state(session: Session, transfer_id: str) -> str:
    transfer = session.get(Transfer, uuid.UUID(transfer_id), populate_existing=True)
    assert transfer is not None
    return transfer.state


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def snapshot(out: Path) -> dict[str, tuple[int, int]]:
    """Identity and modification time of everything in OUT: equal only if nothing was rewritten."""
    return {
        str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.name != pull.LOCK
    }


def listing(out: Path) -> list[str]:
    """What OUT holds, but the lock file (whether it stays after a run is the lock's business)."""
    return sorted(name for name in os.listdir(out) if name != pull.LOCK)


def only(out: Path, *transfer_ids: str, extra: tuple[str, ...] = ()) -> None:
    """OUT holds these transfers' folders, the state file and index, and no leftover."""
    assert listing(out) == sorted([*transfer_ids, pull.STATE, pull.INDEX, *extra])
