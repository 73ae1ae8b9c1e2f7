"""Keep the hub's latest audit checkpoint beside the received transfers; warn if a newer one
does not extend it (the hub's log was cut, rewritten or rolled back since)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from mdph_bridge.client.hub import Hub, HubError
from mdph_bridge.domain.checkpoints import CheckpointError, extends, open_note

KEPT = "point-de-controle-audit.txt"
WARNING = (
    "ATTENTION : le journal d'audit de la plateforme ne prolonge pas le point de contrôle gardé "
    "ici ({why}). Signalez-le au délégué à la protection des données de la plateforme avec le "
    "fichier {path} ; il reste inchangé."
)


def keep_latest(hub: Hub, trusted: dict[str, str], out: Path, echo: Callable[[str], None]) -> bool:
    """Fetch the latest checkpoint; keep it if it extends the one kept, else warn. True if kept."""
    path = out / KEPT
    try:
        old = open_note(path.read_text(encoding="utf-8"), trusted) if path.exists() else None
        query = f"?{urlencode({'depuis': old.size})}" if old else ""
        answer = hub.json(f"/api/v1/audit/checkpoint{query}")
        if not answer.get("point_de_controle"):
            return False
        new = open_note(answer["point_de_controle"], trusted)
    except HubError as exc:
        echo(f"Point de contrôle du journal d'audit non reçu : {exc}")
        return False
    except CheckpointError as exc:
        echo(WARNING.format(why=str(exc), path=path))
        return False
    if old is not None:
        purged = new.anchor_size >= old.size  # all it covered was purged, under a signed purge
        if not purged and not extends(old, new, answer.get("preuve") or []):
            echo(WARNING.format(why=f"{old.size} entrée(s) puis {new.size}", path=path))
            return False
    temporary = path.with_suffix(".tmp")
    temporary.write_text(answer["point_de_controle"], encoding="utf-8")
    os.replace(temporary, path)
    return True
