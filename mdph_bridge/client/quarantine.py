"""Transfers the client could not receive, set aside with their reason until retried."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mdph_bridge.client.files import sync_folder, sync_tree, write_json
from mdph_bridge.client.hub import PullError
from mdph_bridge.domain.reception import FAILURES

FOLDER = "quarantaine"
REASON = "motif.json"
READ_ME = "motif.txt"


class Quarantine:
    """`OUT/quarantaine/<id>/`: the reason in French (text and JSON), never decrypted content."""

    def __init__(self, out: Path, temp_prefix: str) -> None:
        self.root = out / FOLDER
        self._temp_prefix = temp_prefix

    def holds(self, transfer_id: str) -> bool:
        """Tell whether the transfer is set aside."""
        return (self.root / transfer_id / REASON).is_file()

    def set_aside(self, transfer_id: str, code: str, detail: str) -> None:
        """Record why the transfer was not received; a second failure replaces the reason."""
        reason = {
            "transfert": transfer_id,
            "code": code,
            "motif": FAILURES[code],
            "detail": detail,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "signale": False,
        }
        folder = self.root / transfer_id
        if folder.is_dir():
            write_json(folder / REASON, reason, self._temp_prefix)
            return
        self.root.mkdir(exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=self._temp_prefix, dir=self.root.parent))
        try:
            (work / REASON).write_text(json.dumps(reason, ensure_ascii=False, indent=1))
            (work / READ_ME).write_text(_read_me(reason), encoding="utf-8")
            sync_tree(work)
            os.rename(work, folder)
            sync_folder(self.root)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _reason(self, transfer_id: str) -> dict[str, Any]:
        """The recorded reason of a transfer set aside."""
        path = self.root / transfer_id / REASON
        try:
            reason = json.loads(path.read_text(encoding="utf-8"))
            if reason["code"] in FAILURES and isinstance(reason["signale"], bool):
                return dict(reason)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        raise PullError(f"{path} illisible : le supprimer, puis relancer avec --retry.")

    def unreported(self) -> list[str]:
        """Transfers set aside whose failure the hub has not been told yet."""
        if not self.root.is_dir():
            return []
        found = sorted(path.parent.name for path in self.root.glob(f"*/{REASON}"))
        return [transfer_id for transfer_id in found if not self._reason(transfer_id)["signale"]]

    def mark_reported(self, transfer_id: str) -> None:
        """Remember that the hub knows (or needs not know) of this failure."""
        reason = self._reason(transfer_id)
        write_json(self.root / transfer_id / REASON, {**reason, "signale": True}, self._temp_prefix)

    def code(self, transfer_id: str) -> str:
        """The failure code recorded for the transfer."""
        return str(self._reason(transfer_id)["code"])

    def release(self, transfer_id: str) -> None:
        """Forget a transfer received after all."""
        shutil.rmtree(self.root / transfer_id, ignore_errors=True)
        with contextlib.suppress(OSError):  # still holds others
            self.root.rmdir()


def _read_me(reason: dict[str, Any]) -> str:
    """The reason as a person reads it, with what to do next."""
    return (
        f"Transfert {reason['transfert']} mis de côté le {reason['date']}.\n"
        f"Motif : {reason['motif']}.\n"
        f"Détail : {reason['detail']}\n\n"
        "Rien de ce transfert n'a été écrit dans le dossier de réception. La MDPH d'origine et "
        "les superviseurs voient cet échec sur la plateforme.\n"
        "Une fois la cause corrigée (une clé ajoutée, par exemple), relancez la réception de ce "
        f"seul transfert avec l'option --retry {reason['transfert']}.\n"
    )
