"""`mdph-bridge history import`: past transfers for the before/after comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import bearer

from mdph_bridge.models import HistoricalTransfer

pytestmark = pytest.mark.integration

HEADER = (
    "\ufeffreference;mdph_origine;mdph_destination;soumis_le;pret_le;telecharge_le;accuse_le;"
    "termine_le;attente_expediteur_jours\n"
)
GOOD = (
    HEADER
    + """A-2023-001;59;62;2023-01-02;;;;2023-03-15;
A-2023-002;59;62;2023-02-01;2023-02-10;2023-02-20;2023-02-21;2023-05-02;4,5
B-2023-001;62;59;2023-03-01T09:30:00+01:00;;;;2023-04-01T10:00:00+02:00;
B-2023-002;62;59;2023-06-01;;;;;
"""
)


@pytest.fixture
def import_csv(cli: Any, demo: dict[str, Any], tmp_path: Path) -> Any:
    """Import a CSV text with `mdph-bridge history import`; return what it printed."""

    def run(text: str, status: int = 0) -> str:
        path = tmp_path / "historique.csv"
        path.write_text(text, encoding="utf-8")
        return cli("history", "import", str(path), status=status)

    return run


def count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(HistoricalTransfer)) or 0


def test_a_good_file_is_imported_once_and_shows_in_the_figures(
    import_csv: Any, session: Session, client: FlaskClient, demo: dict[str, Any]
) -> None:
    output = import_csv(GOOD)
    assert "4 transfert(s) historique(s) importé(s), 0 déjà présent(s)." in output
    again = import_csv(GOOD)
    assert "0 transfert(s) historique(s) importé(s), 4 déjà présent(s)." in again
    assert count(session) == 4
    second = session.scalar(
        select(HistoricalTransfer).where(HistoricalTransfer.reference == "A-2023-002")
    )
    assert second is not None
    assert second.sender_wait_seconds == 4.5 * 86400

    body = client.get(
        "/api/v1/metrics", headers=bearer(demo["59"]["jetons"]["supervisor"])
    ).get_json()
    past = body["historique"]["delais"]
    # 2 Jan → 15 Mar (72 days, midnight Paris both), 1 Feb → 2 May (90 days, over the DST change),
    # 1 Mar 09:30+01 → 1 Apr 10:00+02 (31 days minus half an hour); 1 Jun never completed.
    assert past["nombre"] == 3
    assert past["mediane_jours"] == 72.0
    assert past["max_jours"] == pytest.approx(90 - 1 / 24, abs=0.01)
    assert past["part_dans_les_delais"] == 0
    assert {row["mois"] for row in body["historique"]["par_mois"]} == {
        "2023-03",
        "2023-04",
        "2023-05",
    }


def test_a_bad_file_is_refused_whole_with_french_errors_per_line(
    import_csv: Any, session: Session
) -> None:
    bad = (
        "reference,mdph_origine,mdph_destination,soumis_le,termine_le\n"
        "X1,59,62,2023-01-02,2023-03-15\n"
        "X2,59,75,2023-13-01,\n"
        "X3,62,62,2023-05-01,2023-04-01\n"
        "X1,59,62,2023-01-03,\n"
        ",59,62,2099-01-01,\n"
    )
    output = import_csv(bad, status=1)
    lines = output.splitlines()
    assert "ligne 3 : département '75' inconnu de la plateforme (mdph_destination)." in lines
    assert any(
        line.startswith("ligne 3 : date '2023-13-01' illisible dans soumis_le") for line in lines
    )
    assert "ligne 4 : l'origine et la destination sont le même département." in lines
    assert "ligne 4 : termine_le (2023-04-01) précède soumis_le." in lines
    assert "ligne 5 : référence 'X1' déjà vue ligne 2." in lines
    assert "ligne 6 : la colonne reference est vide." in lines
    assert "ligne 6 : soumis_le (2099-01-01) est dans le futur." in lines
    assert "Fichier refusé : 7 problème(s), rien n'a été importé." in output
    assert count(session) == 0


def test_a_wrong_header_is_explained(import_csv: Any, session: Session) -> None:
    output = import_csv("ref;origine;mdph_destination;soumis_le\nA;59;62;2023-01-01\n", status=1)
    assert "ligne 1 : colonne(s) obligatoire(s) absente(s) : reference, mdph_origine." in output
    assert "ligne 1 : colonne(s) inconnue(s) : ref, origine" in output
    assert count(session) == 0
