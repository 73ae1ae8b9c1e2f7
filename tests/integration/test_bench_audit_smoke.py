"""The audit benchmark runs at a smoke size, so it keeps working; its figures are not checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_bench_audit_runs_at_smoke_size() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_audit.py"), "--entries", "80"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for figure in ("old", "appended and sealed", "sequencer alone", "audit share", "verify:"):
        assert figure in result.stdout
