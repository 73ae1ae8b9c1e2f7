"""Supervisors' figures checked against values computed here from a generated history."""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from histories import DAY, NOW, add_transfer, generate
from sqlalchemy import event
from sqlalchemy.orm import Session
from support import bearer

from mdph_bridge.domain.clock import PARIS
from mdph_bridge.domain.delays import RELATIVE_ERROR
from mdph_bridge.domain.states import FINISHED, State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer
from mdph_bridge.services import metrics_exact
from mdph_bridge.services.metrics import dashboard as dashboard_figures
from mdph_bridge.services.rollups import roll_up, snapshot

pytestmark = pytest.mark.integration


def pct(values: list[float], fraction: float) -> float:
    """Percentile with linear interpolation between closest ranks, as written in textbooks."""
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    below, above = ordered[math.floor(rank)], ordered[math.ceil(rank)]
    return below + (above - below) * (rank - math.floor(rank))


def visible(
    made: list[dict[str, Any]], code: str, historical: bool = False
) -> list[dict[str, Any]]:
    return [
        t
        for t in made
        if bool(t.get("historical")) == historical and code in (t["origin"], t["dest"])
    ]


def figures(delays: list[float], within: list[bool]) -> dict[str, Any]:
    return {
        "nombre": len(delays),
        "mediane_jours": statistics.median(delays),
        "p90_jours": pct(delays, 0.9),
        "p95_jours": pct(delays, 0.95),
        "max_jours": max(delays),
        "moyenne_jours": statistics.fmean(delays),
        "part_dans_les_delais": sum(within) / len(within),
    }


def expected_delays(transfers: list[dict[str, Any]]) -> dict[str, Any]:
    done = [t for t in transfers if State.COMPLETED in t["steps"]]
    delays = [(t["steps"][State.COMPLETED] - t["submitted"]).total_seconds() / DAY for t in done]
    return figures(delays, [t["steps"][State.COMPLETED] <= t["due"] for t in done])


def grouped(
    transfers: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
) -> dict[Any, dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for t in transfers:
        if State.COMPLETED in t["steps"]:
            groups[key(t)].append(t)
    return {k: expected_delays(v) for k, v in groups.items()}


def assert_close(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=0.011), name


@pytest.fixture
def made(session: Session, demo: dict[str, Any]) -> list[dict[str, Any]]:
    return generate(session)


def dashboard(client: FlaskClient, demo: dict[str, Any], code: str) -> dict[str, Any]:
    response = client.get("/api/v1/metrics", headers=bearer(demo[code]["jetons"]["supervisor"]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_figures_match_the_history_computed_independently(
    client: FlaskClient,
    demo: dict[str, Any],
    made: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mdph_bridge.api.metrics.utcnow", lambda: NOW)
    got = dashboard(client, demo, "59")
    mine = visible(made, "59")
    assert got["departements"] == ["59"]

    counts = {row["etat"]: row["nombre"] for row in got["etats"]}
    for state in State:
        assert counts[state.value] == sum(t["state"] == state for t in mine), state
    closed = (State.COMPLETED, State.CANCELLED, State.RETURNED)
    open_ = [t for t in mine if t["state"] not in closed]
    assert got["ouverts"] == {
        "total": len(open_),
        "a_risque": sum(t["warn"] <= NOW < t["due"] for t in open_),
        "en_retard": sum(t["due"] <= NOW for t in open_),
    }
    assert got["ouverts"]["a_risque"] > 0
    assert got["ouverts"]["en_retard"] > 0

    assert_close(got["delais"], expected_delays(mine))
    assert got["en_bref"] == {
        "part_dans_les_delais": got["delais"]["part_dans_les_delais"],
        "delai_median_jours": got["delais"]["mediane_jours"],
        **got["ouverts"],
        "avant_la_plateforme": {
            "part_dans_les_delais": got["historique"]["delais"]["part_dans_les_delais"],
            "delai_median_jours": got["historique"]["delais"]["mediane_jours"],
        },
    }
    by_pair = grouped(mine, lambda t: (t["origin"], t["dest"]))
    assert {(r["mdph_origine"], r["mdph_destination"]) for r in got["par_paire"]} == set(by_pair)
    for row in got["par_paire"]:
        assert_close(row, by_pair[(row["mdph_origine"], row["mdph_destination"])])
    by_month = grouped(
        mine, lambda t: t["steps"][State.COMPLETED].astimezone(PARIS).strftime("%Y-%m")
    )
    assert [r["mois"] for r in got["par_mois"]] == sorted(by_month)
    for row in got["par_mois"]:
        assert_close(row, by_month[row["mois"]])

    done = [t for t in mine if State.COMPLETED in t["steps"]]
    whole_days = defaultdict(int)
    for t in done:
        whole_days[
            min(int((t["steps"][State.COMPLETED] - t["submitted"]).total_seconds() // DAY), 60)
        ] += 1
    assert {r["jours"]: r["nombre"] for r in got["histogramme"]} == whole_days

    def span(t: dict[str, Any], start: State | None, end: State) -> float | None:
        begin = t["submitted"] if start is None else t["steps"].get(start)
        stop = t["steps"].get(end)
        if begin is None or stop is None:
            return None
        return (stop - begin).total_seconds() / DAY - (t["wait"] if start is None else 0)

    expected_steps = {
        "soumis_pret": [span(t, None, State.READY) for t in mine],
        "pret_telecharge": [span(t, State.READY, State.DOWNLOADED) for t in mine],
        "telecharge_accuse": [span(t, State.DOWNLOADED, State.ACKNOWLEDGED) for t in mine],
        "accuse_termine": [span(t, State.ACKNOWLEDGED, State.COMPLETED) for t in mine],
        "attente_expediteur": [t["wait"] if State.READY in t["steps"] else None for t in mine],
    }
    assert [r["etape"] for r in got["etapes"]] == list(expected_steps)
    for row in got["etapes"]:
        values = [v for v in expected_steps[row["etape"]] if v is not None]
        assert row["nombre"] == len(values)
        assert_close(
            row,
            {
                "moyenne_jours": statistics.fmean(values),
                "mediane_jours": statistics.median(values),
                "p90_jours": pct(values, 0.9),
            },
        )
    assert {r["cote"] for r in got["etapes"]} == {"plateforme", "destination", "origine"}

    alerting = sorted((t for t in open_ if t["warn"] <= NOW), key=lambda t: (t["due"], t["id"]))
    assert [r["id"] for r in got["alertes"]] == [t["id"] for t in alerting]
    first = got["alertes"][0]
    assert first["niveau"] == "en_retard"
    assert first["age_jours"] == pytest.approx(
        (NOW - alerting[0]["submitted"]).total_seconds() / DAY, abs=0.01
    )
    assert first["lien"] == f"/api/v1/metrics/transfers/{first['id']}"
    assert set(first) == {
        "id", "mdph_origine", "mdph_destination", "etat", "etat_libelle", "age_jours",
        "attente_expediteur_jours", "niveau", "niveau_libelle", "cote_a_agir", "echeance", "lien",
    }  # fmt: skip

    past = [t for t in visible(made, "59", historical=True) if t["completed"]]
    past_delays = [(t["completed"] - t["submitted"]).total_seconds() / DAY for t in past]
    assert_close(got["historique"]["delais"], figures(past_delays, [d <= 15 for d in past_delays]))
    assert got["historique"]["delais"]["part_dans_les_delais"] == 0


def test_a_supervisor_sees_only_transfers_from_or_to_its_departement(
    client: FlaskClient, demo: dict[str, Any], made: list[dict[str, Any]]
) -> None:
    for code in ("59", "62", "80"):
        got = dashboard(client, demo, code)
        assert sum(r["nombre"] for r in got["etats"]) == len(visible(made, code))
        pairs = {(r["mdph_origine"], r["mdph_destination"]) for r in got["par_paire"]}
        assert all(code in pair for pair in pairs)
        assert got["delais"]["nombre"] == expected_delays(visible(made, code))["nombre"]
    other = next(t for t in made if (t["origin"], t["dest"]) == ("80", "62") and "id" in t)
    for code, status in (("59", 404), ("62", 200), ("80", 200)):
        response = client.get(
            f"/api/v1/metrics/transfers/{other['id']}",
            headers=bearer(demo[code]["jetons"]["supervisor"]),
        )
        assert response.status_code == status


def test_csv_exports_hold_the_same_figures(
    client: FlaskClient,
    demo: dict[str, Any],
    made: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mdph_bridge.api.metrics.utcnow", lambda: NOW)
    headers = bearer(demo["59"]["jetons"]["supervisor"])
    got = dashboard(client, demo, "59")
    for section, rows in (
        ("paires", got["par_paire"]),
        ("mois", got["par_mois"]),
        ("alertes", got["alertes"]),
    ):
        response = client.get(f"/api/v1/metrics/{section}.csv", headers=headers)
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        text = response.get_data(as_text=True)
        assert text.startswith("\ufeff")
        table = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
        assert len(table) == len(rows)
        for line, row in zip(table, rows, strict=True):
            for key, value in row.items():
                if key == "lien":
                    continue
                shown = str(value).replace(".", ",") if isinstance(value, float) else str(value)
                assert line[key] == ("" if value is None else shown), key
    for section in ("etats", "delais", "histogramme", "etapes", "historique"):
        assert client.get(f"/api/v1/metrics/{section}.csv", headers=headers).status_code == 200
    unknown = client.get("/api/v1/metrics/noms.csv", headers=headers)
    assert unknown.status_code == 404


def test_a_supervisor_follows_a_listed_transfer_without_its_file_number(
    client: FlaskClient, demo: dict[str, Any], made: list[dict[str, Any]]
) -> None:
    headers = bearer(demo["59"]["jetons"]["supervisor"])
    row = client.get("/api/v1/metrics", headers=headers).get_json()["alertes"][0]
    response = client.get(row["lien"], headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == row["id"]
    assert body["horloge"]["niveau"] in ("a_risque", "en_retard")
    assert body["evenements"][0]["vers"] == "received"
    assert "detail" not in body["evenements"][0]
    assert "59-2026-0001" not in response.get_data(as_text=True)
    assert "numero_dossier_origine" not in body


def test_continuity_matches_the_history_computed_independently(
    client: FlaskClient, demo: dict[str, Any], made: list[dict[str, Any]]
) -> None:
    expected: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in visible(made, "59"):
        if t["resultats"] is None:
            continue
        month = t["submitted"].astimezone(PARIS).strftime("%Y-%m")
        row = expected[(t["origin"], t["dest"], month)]
        row["transferts"] += 1
        for outcome, count in t["resultats"].items():
            row[outcome] += count

    got = dashboard(client, demo, "59")["continuite"]

    assert {(r["mdph_origine"], r["mdph_destination"], r["mois"]) for r in got} == set(expected)
    for r in got:
        want = expected[(r["mdph_origine"], r["mdph_destination"], r["mois"])]
        assert {k: r[k] for k in want} == want
        running = sum(want[k] for k in ("maintenu", "maintenu_changement_payeur", "a_instruire"))
        running += want["non_transferable"]
        carried = want["maintenu"] + want["maintenu_changement_payeur"]
        assert r["part_sans_rupture"] == round(carried / running, 3)


QUANTILES = ("mediane_jours", "p90_jours", "p95_jours")


def assert_same_figures(fast: Any, exact: Any, path: str = "") -> None:
    """Counts, sums, shares and maxima equal; quantiles within the sketches' relative error."""
    if isinstance(exact, dict):
        assert set(fast) >= set(exact), path
        for name, value in exact.items():
            assert_same_figures(fast[name], value, f"{path}.{name}")
    elif isinstance(exact, list):
        assert len(fast) == len(exact), path
        for index, (got, want) in enumerate(zip(fast, exact, strict=True)):
            assert_same_figures(got, want, f"{path}[{index}]")
    elif path.rsplit(".", 1)[-1] in QUANTILES and exact is not None:
        # Each order statistic is within the relative error, so is their interpolation; both
        # sides were rounded to the hundredth.
        assert abs(fast - exact) <= RELATIVE_ERROR * abs(exact) + 0.01 + 1e-9, path
    elif isinstance(exact, float):
        assert fast == pytest.approx(exact, abs=0.011), path
    else:
        assert fast == exact, path


def test_rolled_up_figures_match_the_exact_reference(
    session: Session, made: list[dict[str, Any]]
) -> None:
    before = {code: dashboard_figures(session, [code], NOW, 15) for code in ("59", "62", "80")}
    assert all(figures["quantiles"]["exacts"] for figures in before.values())

    folded = roll_up(session, 15, batch=150)  # several batches, each its own transaction

    assert folded == len(made) - sum(
        1 for t in made if not t.get("historical") and t["state"] not in FINISHED
    )
    for code in ("59", "62", "80"):
        fast = dashboard_figures(session, [code], NOW, 15)
        assert fast["quantiles"] == {"exacts": False, "erreur_relative_max": RELATIVE_ERROR}
        exact = metrics_exact.figures(session, [code], NOW, 15)
        assert_same_figures(fast, exact)
        assert_same_figures(fast, {name: before[code][name] for name in exact})
    assert roll_up(session, 15) == 0  # each transfer is folded once

    late = add_transfer(  # finished after the fold: read one by one until the next fold
        session, "59", "62", NOW - timedelta(days=20), {State.COMPLETED: NOW}, state=State.COMPLETED
    )
    session.commit()
    fast = dashboard_figures(session, ["59"], NOW, 15)
    assert_same_figures(fast, metrics_exact.figures(session, ["59"], NOW, 15))
    assert roll_up(session, 15) == 1
    assert session.get(Transfer, late).rolled_up  # type: ignore[union-attr]


def test_two_folders_at_once_fold_each_transfer_once(
    backends: Backends, session: Session, made: list[dict[str, Any]]
) -> None:
    exact = metrics_exact.figures(session, ["59"], NOW, 15)
    session.commit()

    def fold() -> int:
        other = backends.sessions.session_factory()
        try:
            return roll_up(other, 15, batch=50)
        finally:
            other.close()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: fold(), range(2)))
    results.append(fold())  # whichever stepped aside, the rest is folded now

    assert sum(results) == len(made) - sum(
        1 for t in made if not t.get("historical") and t["state"] not in FINISHED
    )
    assert_same_figures(dashboard_figures(session, ["59"], NOW, 15), exact)


def test_the_steps_of_an_open_transfer_are_folded_as_it_moves_on(
    session: Session, made: list[dict[str, Any]]
) -> None:
    roll_up(session, 15, batch=150)
    moving = add_transfer(  # mapped when it became ready, as the worker does
        session, "59", "62", NOW - timedelta(days=6), {State.READY: NOW - timedelta(days=5)}
    )
    session.get(Transfer, moving).harmonisation = {  # type: ignore[union-attr]
        "resultats": {"maintenu": 3, "a_instruire": 1},
        "alertes": [],
    }
    session.commit()
    milestones = [
        (State.DOWNLOADED, "downloaded_at", NOW - timedelta(days=4)),
        (State.ACKNOWLEDGED, "acknowledged_at", NOW - timedelta(days=3)),
        (State.COMPLETED, "completed_at", NOW - timedelta(days=1)),
    ]
    for reached, (state, column, at) in enumerate(milestones, start=1):
        # Its steps done since the last fold are read one by one, then folded once.
        assert_same_figures(
            dashboard_figures(session, ["59"], NOW, 15),
            metrics_exact.figures(session, ["59"], NOW, 15),
        )
        assert roll_up(session, 15) == 0  # nothing finished: only its new steps are folded
        transfer = session.get(Transfer, moving)
        assert transfer is not None
        assert transfer.steps_rolled_up == reached
        assert_same_figures(
            dashboard_figures(session, ["59"], NOW, 15),
            metrics_exact.figures(session, ["59"], NOW, 15),
        )
        transfer.state = state.value
        setattr(transfer, column, at)
        session.commit()

    assert roll_up(session, 15) == 1  # completed: the rest of it is folded with its delay
    assert_same_figures(
        dashboard_figures(session, ["59"], NOW, 15), metrics_exact.figures(session, ["59"], NOW, 15)
    )


def test_the_roll_ups_kept_by_the_process_are_read_again_after_each_fold(
    backends: Backends, session: Session, made: list[dict[str, Any]]
) -> None:
    def fold() -> int:  # as the beat task does, in its own session
        other = backends.sessions.session_factory()
        try:
            return roll_up(other, 15, batch=150)
        finally:
            other.close()

    def check() -> None:
        assert_same_figures(
            dashboard_figures(session, ["59"], NOW, 15),
            metrics_exact.figures(session, ["59"], NOW, 15),
        )
        session.commit()

    check()  # kept before anything is folded
    kept = snapshot(session, ["59"], NOW, 15).rolled
    assert fold() > 0
    check()
    read = snapshot(session, ["59"], NOW, 15).rolled
    assert read is not kept
    assert snapshot(session, ["59"], NOW, 15).rolled is read  # kept until the next fold

    add_transfer(  # finished after the fold: its values join groups the roll-ups hold
        session, "59", "62", NOW - timedelta(days=20), {State.COMPLETED: NOW}, state=State.COMPLETED
    )
    session.commit()
    check()
    check()  # the kept distributions were not added to by the call before
    assert fold() == 1
    check()
    assert snapshot(session, ["59"], NOW, 15).rolled is not read


def test_a_fold_committed_while_a_call_reads_is_not_left_out(
    backends: Backends, session: Session, made: list[dict[str, Any]]
) -> None:
    folded: list[int] = []

    def fold_before_the_unfolded_rows(
        conn: Any, cursor: Any, statement: str, *_: Any
    ) -> None:  # the beat task commits between the call's reads of roll-ups and unfolded rows
        if (
            not folded
            and statement.startswith("SELECT transfers.origin_code")
            and "GROUP BY" in statement
        ):
            folded.append(0)
            other = backends.sessions.session_factory()
            try:
                folded[0] = roll_up(other, 15, batch=150)
            finally:
                other.close()

    dashboard_figures(session, ["59"], NOW, 15)  # the roll-ups kept, before any fold
    session.commit()
    event.listen(backends.engine, "before_cursor_execute", fold_before_the_unfolded_rows)
    try:
        fast = dashboard_figures(session, ["59"], NOW, 15)
    finally:
        event.remove(backends.engine, "before_cursor_execute", fold_before_the_unfolded_rows)

    assert folded[0] > 0
    assert_same_figures(fast, metrics_exact.figures(session, ["59"], NOW, 15))
