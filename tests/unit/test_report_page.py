"""The rights report's page and JSON are byte for byte what receivers read before they were made
cheaper.

The digests in `report_pages.json` are those of the pages the Jinja template wrote on 2026-12-04
for the published examples and the reviewed corpus; those in `report_json.json` of the JSON files
of the same reports as the package held them on 2026-12-05. A deliberate change of the report
writes them again: `.venv/bin/python tests/unit/test_report_page.py`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too
from dossiers import EXAMPLES
from harmonisation_corpus import CASES

from mdph_bridge.domain.harmonisation import harmonise
from mdph_bridge.rulebook import load_rulebook
from mdph_bridge.services.harmonisation import REPORT_JSON, report_html
from mdph_bridge.services.packaging import json_entry
from mdph_bridge.services.submission import dossier_schema

pytestmark = pytest.mark.unit
DIGESTS = Path(__file__).with_name("report_pages.json")
JSON_DIGESTS = Path(__file__).with_name("report_json.json")
BOOK = load_rulebook()


def dossiers() -> dict[str, dict[str, Any]]:
    """Each published example (loaded as the worker loads it) and each corpus case, by name."""
    examples = {
        f"example {p.name}": dossier_schema().load(json.loads((p / "dossier.json").read_text()))
        for p in sorted(EXAMPLES.iterdir())
        if (p / "dossier.json").is_file()
    }
    return examples | {f"corpus {case.name}": case.dossier for case in CASES}


def digest(dossier: dict[str, Any]) -> str:
    """The SHA-256 of the report page's UTF-8 bytes."""
    return hashlib.sha256(report_html(harmonise(dossier, BOOK)).encode()).hexdigest()


def json_digest(dossier: dict[str, Any]) -> str:
    """The SHA-256 of the report's JSON file as the package holds it."""
    with json_entry(REPORT_JSON, harmonise(dossier, BOOK)).open() as content:
        return hashlib.sha256(content.read()).hexdigest()


def test_every_report_page_is_the_one_the_template_wrote() -> None:
    expected = json.loads(DIGESTS.read_text())

    assert {name: digest(dossier) for name, dossier in dossiers().items()} == expected


def test_every_report_json_is_the_one_packages_held() -> None:
    expected = json.loads(JSON_DIGESTS.read_text())

    assert {name: json_digest(dossier) for name, dossier in dossiers().items()} == expected


def test_what_the_page_shows_of_a_dossier_is_escaped() -> None:
    name, dossier = next(iter(dossiers().items()))
    report = harmonise(dossier, BOOK)
    report["droits"][0]["identifiant"] = "<script>alert('x') & \"y\"</script>"

    page = report_html(report)

    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;) &amp; &#34;y&#34;&lt;/script&gt;" in page, name


def test_confirmed_rates_and_contact_are_shown_as_the_template_showed_them() -> None:
    """The two branches no example nor corpus case takes: nothing left to confirm."""
    name, dossier = next((n, d) for n, d in dossiers().items() if "pch" in n)
    report = harmonise(dossier, BOOK)
    pch = next(right["recalcul_pch"] for right in report["droits"] if right.get("recalcul_pch"))
    pch["tarifs_a_confirmer"] = False
    pch["explication"] = "Montant <recalculé>."
    report["informations_accueil"]["contact"] |= {
        "service": "Service & accueil",
        "courriel": "accueil@mdph.invalid",
        "telephone": "03 00 00 00 00",
        "a_confirmer": False,
    }

    page = report_html(report)

    assert "</table>\n<p>Montant &lt;recalculé&gt;.</p>\n" in page, name
    assert (
        "<li>Contact : Service &amp; accueil, accueil@mdph.invalid, 03 00 00 00 00</li>\n</ul>\n"
    ) in page, name


if __name__ == "__main__":
    for path, of in ((DIGESTS, digest), (JSON_DIGESTS, json_digest)):
        found = {name: of(dossier) for name, dossier in dossiers().items()}
        path.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
