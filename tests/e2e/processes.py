"""Celery processes started by the end-to-end tests, and the settings that make recovery quick."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
# Short lease and sweep so a killed worker's transfer is resumed within seconds.
FAST_RECOVERY = {
    "LEASE_SECONDS": 4,
    "STALE_AFTER_SECONDS": 3,
    "SWEEP_INTERVAL_SECONDS": 1,
    "RETRY_BACKOFF_SECONDS": 1,
    "TASK_TIME_LIMIT_SECONDS": 120,
    "MAX_FILE_BYTES": 400 * MiB,
    "MAX_TRANSFER_BYTES": 410 * MiB,
}


@dataclass
class Process:
    """A Celery process started by the tests, stopped by its own pid."""

    args: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process, logging to its file."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.celery_app", *self.args],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no chance to finish, ack or clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Warm shutdown with SIGTERM; SIGKILL if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
