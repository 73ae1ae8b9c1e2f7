"""The published examples are complete, valid files, and the published JSON Schema accepts them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from dossiers import EXAMPLES
from jsonschema import Draft202012Validator

from mdph_bridge.api.dossier_schema import dossier_json_schema, dossier_json_schema_text
from mdph_bridge.services.submission import documents_problems, folder_uploads
from schemas.dossier import DossierSchema

pytestmark = pytest.mark.unit
CASES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "dossier.json").is_file())
PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "dossier-v1.schema.json"


def example(case: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / case / "dossier.json").read_text(encoding="utf-8"))


def test_the_four_situations_of_the_issue_are_published() -> None:
    assert CASES == [
        "adulte-aah-pch-cmi-rqth",
        "enfant-aeeh-sessad-aesh",
        "majeur-sous-tutelle",
        "personne-en-etablissement",
    ]


@pytest.mark.parametrize("case", CASES)
def test_example_passes_every_rule_with_its_documents(case: str) -> None:
    loaded = DossierSchema().load(example(case))
    assert documents_problems(loaded, folder_uploads(EXAMPLES / case / "pieces")) == []


@pytest.mark.parametrize("case", CASES)
def test_published_json_schema_accepts_the_example(case: str) -> None:
    Draft202012Validator(dossier_json_schema()).validate(example(case))


def test_published_json_schema_refuses_unknown_keys_and_wrong_enums() -> None:
    validator = Draft202012Validator(dossier_json_schema())
    typo = copy.deepcopy(example(CASES[0]))
    typo["transfert"]["motiff"] = typo["transfert"].pop("motif")
    assert not validator.is_valid(typo)
    wrong = copy.deepcopy(example(CASES[0]))
    wrong["pieces"][0]["type_piece"] = "photo"
    assert not validator.is_valid(wrong)


def test_docs_json_schema_is_generated_from_the_schemas() -> None:
    assert PUBLISHED.read_text(encoding="utf-8") == dossier_json_schema_text(), (
        "regenerate with: mdph-bridge dossier schema > docs/dossier-v1.schema.json"
    )


def test_dossier_check_command_accepts_an_example_and_lists_problems_in_french(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from mdph_bridge.cli import main

    folder = EXAMPLES / "majeur-sous-tutelle"
    ok = CliRunner().invoke(
        main, ["dossier", "check", str(folder / "dossier.json"), "--pieces", str(folder / "pieces")]
    )
    assert ok.exit_code == 0, ok.output
    assert "conformes au format v1" in ok.output

    broken = example("majeur-sous-tutelle")
    broken["representants_legaux"][0].pop("reference_jugement")
    broken["beneficiaire"]["nir"] = broken["beneficiaire"]["nir"][:-2] + "00"
    path = tmp_path / "dossier.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    refused = CliRunner().invoke(main, ["dossier", "check", str(path)])
    assert refused.exit_code == 1
    lines = refused.output.splitlines()
    assert any(
        line.startswith("beneficiaire.nir : ") and "[beneficiaire.nir_cle]" in line
        for line in lines
    )
    assert any("[representant.jugement]" in line for line in lines)
