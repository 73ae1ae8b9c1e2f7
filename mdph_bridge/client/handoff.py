"""Tell the MDPH's own software that a transfer arrived: run its command with the folder's path."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from mdph_bridge.client.french import their_environment


class Handoff:
    """A command the MDPH configured (`--on-received`), run once per complete folder."""

    def __init__(self, command: str, timeout: int) -> None:
        # Windows paths hold backslashes, which POSIX quoting would eat.
        try:
            self.argv = shlex.split(command, posix=os.name != "nt")
        except ValueError as exc:
            raise ValueError(f"commande --on-received mal formée ({command}).") from exc
        if not self.argv:
            raise ValueError("commande --on-received vide.")
        self.timeout = timeout

    def run(self, folder: Path) -> str | None:
        """Run the command with the folder's path; return None if it succeeded, else why not.

        Its output is not kept: it could show the file's content, which stays out of our logs.
        """
        try:
            done = subprocess.run(  # noqa: S603 - the MDPH's own command, without a shell
                [*self.argv, str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=self.timeout,
                check=False,
                env=their_environment(),
            )
        except subprocess.TimeoutExpired:
            return f"la commande n'a pas fini en {self.timeout} s"
        except OSError as exc:
            return f"la commande ne se lance pas ({exc.strerror})"
        return None if done.returncode == 0 else f"la commande a échoué (code {done.returncode})"
