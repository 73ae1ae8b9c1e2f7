"""Unit tests of the dashboard's SVG charts: valid SVG, accessible names, the target where due."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from mdph_bridge.domain.clock import STEP_LABELS
from mdph_bridge.web.charts import (
    LEFT,
    RIGHT,
    WIDTH,
    delay_histogram,
    fr_number,
    monthly_trend,
    step_breakdown,
)

pytestmark = pytest.mark.unit
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None
    assert desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_french_numbers() -> None:
    assert fr_number(5.25, 2) == "5,25"
    assert fr_number(5.0) == "5"
    assert fr_number(12.34) == "12,3"
    assert fr_number(87.6, 0) == "88"


def test_histogram_has_one_bar_per_day_and_the_target_line_at_fifteen_days() -> None:
    bars = [{"jours": 3, "nombre": 5}, {"jours": 9, "nombre": 12}, {"jours": 21, "nombre": 2}]
    root = parse(delay_histogram(bars, target_days=15, chart_id="h1"))
    rects = list(root.iter(f"{SVG}rect"))
    assert len(rects) == 3
    assert ["".join(r.itertext()) for r in rects] == [
        "3 à 4 j : 5 transferts",
        "9 à 10 j : 12 transferts",
        "21+ jours : 2 transferts",
    ]
    heights = [float(r.get("height", 0)) for r in rects]
    assert heights[1] > heights[0] > heights[2] > 0
    (target,) = [line for line in root.iter(f"{SVG}line") if line.get("class") == "objectif"]
    slot = (WIDTH - LEFT - RIGHT) / 22  # days 0 to 21, one slot each
    assert float(target.get("x1", 0)) == pytest.approx(LEFT + 15 * slot, abs=0.1)
    assert "objectif 15 jours" in texts(root)
    assert root.find(f"{SVG}desc").text == (  # type: ignore[union-attr]
        "19 transferts terminés ; 17 en moins de 15 jours, 2 en 15 jours ou plus."
    )
    assert root.get("aria-labelledby") == "h1-titre h1-desc"


@pytest.mark.parametrize(("last_day", "anchor"), [(30, "start"), (3, "end")])
def test_the_target_label_stays_inside_the_chart(last_day: int, anchor: str) -> None:
    root = parse(delay_histogram([{"jours": last_day, "nombre": 1}], target_days=15))
    (label,) = [t for t in root.iter(f"{SVG}text") if "".join(t.itertext()).startswith("objectif")]
    (target,) = [line for line in root.iter(f"{SVG}line") if line.get("class") == "objectif"]
    assert label.get("text-anchor") == anchor
    # About 100 units of text on the free side of the line, which must fit before the edge.
    if anchor == "start":
        assert float(label.get("x", 0)) + 100 <= WIDTH - RIGHT
    else:
        assert float(label.get("x", 0)) < float(target.get("x1", 0))


def test_monthly_trend_draws_the_median_and_the_share_per_month() -> None:
    months = [
        {"mois": "2026-01", "mediane_jours": 40.0, "part_dans_les_delais": 0.1},
        {"mois": "2026-02", "mediane_jours": 12.5, "part_dans_les_delais": 0.6},
        {"mois": "2026-03", "mediane_jours": 8.0, "part_dans_les_delais": 0.92},
    ]
    root = parse(monthly_trend(months))
    lines = {p.get("class"): p.get("points", "").split() for p in root.iter(f"{SVG}polyline")}
    assert set(lines) == {"mediane", "part"}
    assert all(len(points) == 3 for points in lines.values())
    median_y = [float(p.split(",")[1]) for p in lines["mediane"]]
    share_y = [float(p.split(",")[1]) for p in lines["part"]]
    assert median_y[0] < median_y[1] < median_y[2]  # shorter delays are lower
    assert share_y[0] > share_y[1] > share_y[2]  # larger shares are higher
    tips = ["".join(c.itertext()) for c in root.iter(f"{SVG}circle")]
    assert tips[2] == "2026-03 : délai médian 8 j, 92 % dans les délais"
    assert "2026-01" in texts(root)


def test_step_breakdown_names_each_step_and_the_side_that_acts() -> None:
    steps = [
        {"etape": name, "libelle": STEP_LABELS[name], "cote": side, "moyenne_jours": value}
        for name, side, value in (
            ("soumis_pret", "plateforme", 0.2),
            ("pret_telecharge", "destination", 4.5),
            ("telecharge_accuse", "destination", 1.0),
            ("accuse_termine", "destination", None),
            ("attente_expediteur", "origine", 2.25),
        )
    ]
    root = parse(step_breakdown(steps))
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 4  # the step nobody reached is left out
    assert "".join(bars[1].itertext()) == (
        "Prêt → téléchargé (MDPH d'accueil) : 4,5 j (MDPH d'accueil)"
    )
    assert "La plus longue : Prêt → téléchargé" in root.find(f"{SVG}desc").text  # type: ignore[union-attr, operator]


def test_text_is_escaped_and_empty_data_says_so() -> None:
    svg = step_breakdown(
        [{"etape": "x", "libelle": "<script>", "cote": "origine", "moyenne_jours": 1.0}]
    )
    assert "<script>" not in svg
    parse(svg)
    for empty in (delay_histogram([]), monthly_trend([]), step_breakdown([])):
        root = parse(empty)
        assert "Aucune donnée" in texts(root)
