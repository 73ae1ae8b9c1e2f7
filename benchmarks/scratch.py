"""Where the benchmarks keep their files: beside the repository, as a deployment keeps its var/.

Not under /tmp: creating a file there cost 2.5 to 5 times the CPU it costs under /work on the
project's machines, the same disk (docs/PERFORMANCE.md, "Benchmarks serve what is deployed").
`MDPH_BENCH_SCRATCH` names another folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRATCH = Path(
    os.environ.get("MDPH_BENCH_SCRATCH") or Path(__file__).resolve().parent.parent / ".bench"
)


def scratch_dir(prefix: str) -> Path:
    """A new folder under SCRATCH, made if needed; the caller removes it."""
    SCRATCH.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=SCRATCH))


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A new folder under SCRATCH, removed with what it holds at the end."""
    folder = scratch_dir(prefix)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
