"""Metrics and alerts also run on the embedded SQLite database (percentiles by an aggregate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from histories import add_transfer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.delays import RELATIVE_ERROR
from mdph_bridge.domain.states import State
from mdph_bridge.models import ContinuityRollup, Transfer, TransferAlert
from mdph_bridge.services import alerts, metrics, metrics_exact
from mdph_bridge.services.alerts import AlertSettings
from mdph_bridge.services.metrics import dashboard
from mdph_bridge.services.rollups import roll_up, snapshot
from mdph_bridge.web.charts import dashboard_charts

pytestmark = pytest.mark.unit
NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


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


def test_alerts_are_decided_once_on_sqlite_and_skipped_without_addresses(session: Session) -> None:
    add_transfer(
        session, "59", "62", NOW - timedelta(days=16), {State.READY: NOW - timedelta(days=15)}
    )
    session.commit()
    quiet = AlertSettings({}, "smtp://127.0.0.1:1", "hub@example.fr", "https://hub.example.fr")
    assert alerts.run(session, quiet, NOW) == (1, 0)  # no address for 62: logged, not mailed
    assert alerts.run(session, quiet, NOW) == (0, 0)
    (alert,) = session.scalars(select(TransferAlert))
    assert (alert.level, alert.side, alert.mailed_at) == ("en_retard", "destination", NOW)


def test_the_dashboard_lists_the_most_overdue_alerts_and_the_csv_every_one(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    ages = (20, 18, 16, 11)  # days since submission: late, late, late, at risk
    ids = [
        str(add_transfer(session, "59", "62", NOW - timedelta(days=age), {State.READY: NOW}))
        for age in ages
    ]
    add_transfer(session, "59", "62", NOW - timedelta(days=2))  # on time: no alert
    session.commit()
    monkeypatch.setattr(metrics, "ALERTS_SHOWN", 2)

    got = dashboard(session, ["59"], NOW)
    assert [row["id"] for row in got["alertes"]] == ids[:2]
    assert got["alertes_total"] == 4
    exported = metrics.export(session, ["59"], "alertes", NOW, 15).splitlines()
    assert [line.split(";")[0] for line in exported[1:]] == ids


def test_the_dashboard_charts_draw_from_the_dashboard_figures(session: Session) -> None:
    start = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    add_transfer(
        session,
        "59",
        "62",
        start,
        {State.READY: start + timedelta(days=1), State.COMPLETED: start + timedelta(days=3)},
    )
    session.commit()
    charts = dashboard_charts(dashboard(session, ["59"], NOW))
    assert set(charts) == {"histogramme", "tendance", "etapes"}
    assert all(svg.startswith("<svg") and "Aucune donnée" not in svg for svg in charts.values())


def _mapped(
    session: Session,
    origin: str,
    dest: str,
    at: datetime,
    steps: dict[State, datetime] | None = None,
    **counts: int,
) -> None:
    """A transfer whose rights mapping gave these counts (the summary the hub keeps)."""
    transfer = session.get(Transfer, add_transfer(session, origin, dest, at, steps))
    assert transfer is not None
    outcomes = ("maintenu", "maintenu_changement_payeur", "a_instruire", "non_transferable")
    transfer.harmonisation = {"resultats": {o: counts.get(o, 0) for o in (*outcomes, "echu")}}


def continuity(session: Session, departements: list[str]) -> list[dict[str, Any]]:
    """The continuity figures as the dashboard reads them (roll-ups plus unfolded transfers)."""
    return metrics.continuity(snapshot(session, departements, NOW, 15))


def test_continuity_counts_rights_by_outcome_per_pair_and_month_on_sqlite(
    session: Session,
) -> None:
    april, may = datetime(2026, 4, 3, tzinfo=UTC), datetime(2026, 5, 4, tzinfo=UTC)
    _mapped(session, "59", "62", april, maintenu=3, maintenu_changement_payeur=1, echu=1)
    _mapped(session, "59", "62", april, a_instruire=1, non_transferable=1, maintenu=1)
    _mapped(session, "62", "59", may, maintenu=2)
    add_transfer(session, "59", "62", may)  # not processed yet: no summary, not counted
    session.commit()

    assert continuity(session, ["59"]) == [
        {
            "mdph_origine": "59",
            "mdph_destination": "62",
            "mois": "2026-04",
            "transferts": 2,
            "maintenu": 4,
            "maintenu_changement_payeur": 1,
            "a_instruire": 1,
            "non_transferable": 1,
            "echu": 1,
            "part_sans_rupture": 0.714,  # 5 carried of the 7 rights still running
        },
        {
            "mdph_origine": "62",
            "mdph_destination": "59",
            "mois": "2026-05",
            "transferts": 1,
            "maintenu": 2,
            "maintenu_changement_payeur": 0,
            "a_instruire": 0,
            "non_transferable": 0,
            "echu": 0,
            "part_sans_rupture": 1.0,
        },
    ]
    assert continuity(session, ["80"]) == []


def test_continuity_from_roll_ups_matches_the_exact_reference_on_sqlite(
    session: Session,
) -> None:
    april, may = datetime(2026, 4, 3, tzinfo=UTC), datetime(2026, 5, 4, tzinfo=UTC)
    done = {State.COMPLETED: datetime(2026, 5, 10, tzinfo=UTC)}
    _mapped(session, "59", "62", april, done, maintenu=3, maintenu_changement_payeur=1, echu=1)
    _mapped(session, "59", "62", april, done, a_instruire=1, non_transferable=1, maintenu=1)
    _mapped(session, "62", "59", may, maintenu=2)  # still open: read from the transfers
    _mapped(session, "62", "59", may, done, maintenu=1, a_instruire=4)
    add_transfer(session, "59", "62", may, done)  # finished without a summary: not counted
    session.commit()
    exact = metrics_exact.continuity(session, ["59"])
    assert continuity(session, ["59"]) == exact

    assert roll_up(session, 15) == 4
    assert session.scalar(select(func.sum(ContinuityRollup.transfers))) == 3
    assert continuity(session, ["59"]) == exact == metrics_exact.continuity(session, ["59"])
    assert continuity(session, ["80"]) == []

    _mapped(session, "59", "62", april, done, maintenu=5)  # finished after the fold
    session.commit()
    assert continuity(session, ["59"]) == metrics_exact.continuity(session, ["59"]) != exact


def test_roll_ups_on_sqlite_keep_the_figures(session: Session) -> None:
    start = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    for delay in (2, 4, 6, 20):
        add_transfer(session, "59", "62", start, {State.COMPLETED: start + timedelta(days=delay)})
    add_transfer(session, "62", "59", NOW - timedelta(days=12), state=State.REJECTED)
    session.commit()
    before = dashboard(session, ["59"], NOW)

    assert roll_up(session, 15) == 4  # the rejected one is still open: read one by one
    after = dashboard(session, ["59"], NOW)

    assert after["quantiles"] == {"exacts": False, "erreur_relative_max": RELATIVE_ERROR}
    for name in ("etats", "ouverts", "histogramme"):
        assert after[name] == before[name], name
    assert [row["nombre"] for row in after["par_mois"]] == [4]
    assert after["delais"]["nombre"] == 4
    assert after["delais"]["moyenne_jours"] == 8.0
    assert after["delais"]["part_dans_les_delais"] == 0.75
    assert after["delais"]["mediane_jours"] == pytest.approx(5.0, rel=RELATIVE_ERROR)
