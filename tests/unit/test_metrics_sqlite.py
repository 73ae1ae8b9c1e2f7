"""The metrics also run on the embedded SQLite database (percentiles by a registered aggregate)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from histories import add_transfer
from sqlalchemy.orm import Session

from mdph_bridge.domain.states import State
from mdph_bridge.extensions import make_engine
from mdph_bridge.models import Base, Departement
from mdph_bridge.services.metrics import dashboard

pytestmark = pytest.mark.unit
NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [Departement(code="59", nom="Nord"), Departement(code="62", nom="Pas-de-Calais")]
        )
        yield session
    engine.dispose()


def test_dashboard_on_sqlite(session: Session) -> None:
    start = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    for delay in (2, 4, 6, 20):  # days to completion
        done = start + timedelta(days=delay)
        add_transfer(
            session,
            "59",
            "62",
            start,
            {
                State.READY: start + timedelta(days=1),
                State.DOWNLOADED: done - timedelta(hours=2),
                State.ACKNOWLEDGED: done - timedelta(hours=1),
                State.COMPLETED: done,
            },
        )
    add_transfer(session, "62", "59", NOW - timedelta(days=12), state=State.REJECTED)
    session.commit()

    got = dashboard(session, ["59"], NOW)
    assert got["delais"] == {
        "nombre": 4,
        "mediane_jours": 5.0,
        "p90_jours": 15.8,  # 6 + 0.7 × (20 − 6)
        "p95_jours": 17.9,
        "max_jours": 20.0,
        "moyenne_jours": 8.0,
        "part_dans_les_delais": 0.75,
    }
    assert got["histogramme"] == [{"jours": d, "nombre": 1} for d in (2, 4, 6, 20)]
    assert [row["mois"] for row in got["par_mois"]] == ["2026-04"]
    assert got["ouverts"] == {"total": 1, "a_risque": 1, "en_retard": 0}
    assert got["alertes"][0]["cote_a_agir"] == "origine"
    assert got["etapes"][0]["mediane_jours"] == 1.0
