"""Fixtures shared by every test level."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    """Folder where the demo set-up writes the départements' private keys."""
    return tmp_path / "keys"
