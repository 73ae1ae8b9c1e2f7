"""Fixtures shared by every test level."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Property tests check what is computed, not how fast: on a loaded machine Hypothesis's default
# 200 ms deadline per example made them fail at random (a flaky test is a defect).
settings.register_profile("mdph_bridge", deadline=None)
settings.load_profile("mdph_bridge")


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    """Folder where the demo set-up writes the départements' private keys."""
    return tmp_path / "keys"
