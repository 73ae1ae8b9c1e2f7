"""Packages: a package whose commit fails leaves no file under its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdph_bridge import storage as storage_module
from mdph_bridge.domain.age import generate_identity
from mdph_bridge.services.packaging import build_package, json_entry
from mdph_bridge.storage import LocalStorage


def test_a_package_whose_flush_fails_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written in place, a package's file is under its key from the start: if its commit fails
    (the disk refuses the folder's flush), the attempt's error must not leave it there."""
    storage = LocalStorage(tmp_path)
    (tmp_path / "packages").mkdir()
    _, recipient = generate_identity()

    def refused(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(storage_module, "fsync_path", refused)
    with pytest.raises(OSError, match="Input/output"):
        build_package(
            storage, "packages/t.a-dossier.age", {"k": recipient}, [json_entry("d.json", {})]
        )
    assert list(tmp_path.rglob("*")) == [tmp_path / "packages"]
