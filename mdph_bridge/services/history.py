"""Import transfers made before the hub (dates of each step, pair) to compare delays."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import PARIS
from mdph_bridge.models import Departement, HistoricalTransfer

REQUIRED = ("reference", "mdph_origine", "mdph_destination", "soumis_le")
DATES = ("soumis_le", "pret_le", "telecharge_le", "accuse_le", "termine_le")
COLUMNS = (*REQUIRED, *DATES[1:], "attente_expediteur_jours")
FIELDS = {
    "soumis_le": "submitted_at",
    "pret_le": "ready_at",
    "telecharge_le": "downloaded_at",
    "accuse_le": "acknowledged_at",
    "termine_le": "completed_at",
}


class HistoryFileError(ValueError):
    """The file cannot be imported; `problems` lists every one, in French, by line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ImportResult:
    """How many past transfers were added, and how many were already there."""

    added: int
    already: int


def _instant(text: str) -> datetime:
    """Read `AAAA-MM-JJ` (midnight in Paris) or an ISO 8601 date and time with its offset."""
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=PARIS)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(text)
    return value


def _row(
    line: int, raw: dict[str, str], known: set[str], now: datetime
) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    values = {key: (raw.get(key) or "").strip() for key in COLUMNS}
    for key in REQUIRED:
        if not values[key]:
            problems.append(f"ligne {line} : la colonne {key} est vide.")
    if len(values["reference"]) > 64:
        problems.append(f"ligne {line} : la référence dépasse 64 caractères.")
    for key in ("mdph_origine", "mdph_destination"):
        if values[key] and values[key] not in known:
            problems.append(
                f"ligne {line} : département {values[key]!r} inconnu de la plateforme ({key})."
            )
    if values["mdph_origine"] and values["mdph_origine"] == values["mdph_destination"]:
        problems.append(f"ligne {line} : l'origine et la destination sont le même département.")
    row: dict[str, Any] = {
        "reference": values["reference"],
        "origin_code": values["mdph_origine"],
        "dest_code": values["mdph_destination"],
    }
    previous: tuple[str, datetime] | None = None
    for key in DATES:
        if not values[key]:
            continue
        try:
            at = _instant(values[key])
        except ValueError:
            problems.append(
                f"ligne {line} : date {values[key]!r} illisible dans {key} (attendu AAAA-MM-JJ "
                f"ou AAAA-MM-JJTHH:MM+01:00)."
            )
            continue
        if at > now:
            problems.append(f"ligne {line} : {key} ({values[key]}) est dans le futur.")
        if previous and at < previous[1]:
            problems.append(f"ligne {line} : {key} ({values[key]}) précède {previous[0]}.")
        previous = (key, at)
        row[FIELDS[key]] = at
    wait = values["attente_expediteur_jours"].replace(",", ".")
    try:
        days = float(wait) if wait else 0.0
        if not 0 <= days < 3650:
            raise ValueError(wait)  # noqa: TRY301 - reported below
        row["sender_wait_seconds"] = round(days * 86400)
    except ValueError:
        problems.append(
            f"ligne {line} : attente_expediteur_jours {values['attente_expediteur_jours']!r} "
            "n'est pas un nombre de jours positif."
        )
    return row, problems


def parse(text: str, known: set[str], now: datetime) -> list[dict[str, Any]]:
    """Check the whole file; raise HistoryFileError listing every problem, or return the rows."""
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if ";" in first else ",")
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    problems = []
    if missing:
        problems.append(f"ligne 1 : colonne(s) obligatoire(s) absente(s) : {', '.join(missing)}.")
    if unknown:
        problems.append(
            f"ligne 1 : colonne(s) inconnue(s) : {', '.join(unknown)} ; colonnes possibles : "
            f"{', '.join(COLUMNS)}."
        )
    if problems:
        raise HistoryFileError(problems)
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            problems.append(f"ligne {line} : plus de valeurs que de colonnes.")
            continue
        row, found = _row(line, raw, known, now)
        key = (row["origin_code"], row["reference"])
        if key in seen:
            found.append(
                f"ligne {line} : référence {row['reference']!r} déjà vue ligne {seen[key]}."
            )
        seen.setdefault(key, line)
        problems += found
        rows.append(row)
    if not rows and not problems:
        problems.append("le fichier ne contient aucune ligne de données.")
    if problems:
        raise HistoryFileError(problems)
    return rows


def import_history(session: Session, text: str, now: datetime) -> ImportResult:
    """Import every line of a checked file in one transaction; lines already imported are kept."""
    known = set(session.scalars(select(Departement.code)))
    rows = parse(text, known, now)
    existing = set(
        session.execute(
            select(HistoricalTransfer.origin_code, HistoricalTransfer.reference)
        ).tuples()
    )
    new = [row for row in rows if (row["origin_code"], row["reference"]) not in existing]
    session.add_all(HistoricalTransfer(**row) for row in new)
    session.commit()
    return ImportResult(added=len(new), already=len(rows) - len(new))
