"""Every département by data: the registry file is the official data, and reads as French."""

from __future__ import annotations

import importlib.util
import json
from datetime import date
from pathlib import Path

import pytest
from harmonisation_cases import loaded, pch, right

from mdph_bridge.domain.harmonisation import harmonise
from mdph_bridge.rulebook import load_rulebook
from mdph_bridge.territoires import DATA, commune_key, departement_of, places

pytestmark = pytest.mark.unit
BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_territoires.py"


def test_the_registry_holds_the_101_departements_with_their_articles() -> None:
    known = places()

    assert len(known) == 101
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= set(known)
    assert known["59"].of() == "du Nord (59)"
    assert known["80"].of() == "de la Somme (80)"
    assert known["78"].in_() == "dans les Yvelines (78)"
    assert known["75"].council() == "le département de Paris (75)"
    assert known["35"].in_() == "en Ille-et-Vilaine (35)"
    assert known["976"].in_() == "à Mayotte (976)"


def test_the_registry_file_is_the_build_of_the_locked_official_package() -> None:
    spec = importlib.util.spec_from_file_location("build_territoires", BUILD_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    assert script.SOURCE.exists(), "run make assets: it installs the locked package"
    assert json.loads(DATA.read_text(encoding="utf-8")) == json.loads(json.dumps(script.build()))


@pytest.mark.parametrize(
    ("postcode", "commune", "departement"),
    [
        ("05110", "Curbans", "04"),  # a postcode of 05 serving a commune of 04
        ("05110", "CURBANS", "04"),
        ("05110", "La Saulce", "05"),
        ("97133", "Saint-Barthélemy", "977"),  # not Guadeloupe (971)
        ("97150", "Saint-Martin", "978"),
        ("62117", "Brebières", "62"),
        ("20000", "Ajaccio", "2A"),
        ("59000", None, "59"),
        ("75000", "Paris", "75"),  # unknown to La Poste: its digits decide, as before
        ("98000", "Monaco", None),
    ],
)
def test_postcode_and_commune_give_the_departement(
    postcode: str, commune: str | None, departement: str | None
) -> None:
    assert departement_of(postcode, commune) == departement


def test_commune_names_compare_without_accents_case_or_abbreviations() -> None:
    assert commune_key("Saint-Étienne") == commune_key("ST ETIENNE") == "st etienne"


def test_a_departement_without_rule_file_is_named_in_the_report() -> None:
    rights = [right("PCH", "5.1", payeur="departement", pch_block=pch())]
    report = harmonise(loaded(rights, dest="35", moved_on=date(2026, 11, 2)), load_rulebook())

    switch = report["alertes"][0]["message"]
    assert switch.startswith("PCH aide humaine : le département d'Ille-et-Vilaine (35) devient")
    assert any("Aucune règle propre d'Ille-et-Vilaine (35)" in n for n in report["observations"])


def test_the_rule_book_names_each_departement_once_as_its_latest_rule_file_does() -> None:
    book = load_rulebook()
    named = book.named_places

    assert named is book.named_places  # built once per rule book, not per transfer
    assert set(named) == set(places())
    assert all(named[code] == versions[-1].place for code, versions in book.departements.items())
    assert named["35"] == places()["35"]  # no rule file: the registry's name
