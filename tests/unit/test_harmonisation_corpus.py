"""The reviewed corpus: every dossier gets the outcomes, payers and alerts the law gives it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from harmonisation_corpus import CASES, Case

from mdph_bridge.domain.harmonisation import harmonise
from mdph_bridge.rulebook import load_rulebook

pytestmark = pytest.mark.unit
BOOK = load_rulebook()
MIN_CASES = 25


def _items(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["identifiant"]: item for item in report["droits"] + report["aides_extra_legales"]}


def _payers(item: dict[str, Any]) -> list[tuple[str, str | None, str, str | None]]:
    return [
        (p["du"], p["au"], p["payeur"]["organisme"], p["payeur"]["departement"])
        for p in item["payeurs"]
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_report_gives_what_the_law_says(case: Case) -> None:
    report = harmonise(case.dossier, BOOK)
    items = _items(report)

    assert {key: item["resultat"] for key, item in items.items()} == case.outcomes
    assert [(a["code"], a["reference"], a["date_limite"]) for a in report["alertes"]] == (
        case.alerts
    )
    for key, expected in case.payers.items():
        assert _payers(items[key]) == expected, key
    text = json.dumps(report, ensure_ascii=False)
    for fragment in case.says:
        assert fragment in text, fragment
    if case.competent is not None:
        assert report["mdph_competente"] == case.competent


def test_the_corpus_is_large_and_every_case_names_its_law() -> None:
    assert len(CASES) >= MIN_CASES
    assert len({case.name for case in CASES}) == len(CASES)
    assert all(len(case.reference) > 10 for case in CASES)
