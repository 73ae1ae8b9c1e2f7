"""The dossier form's steps: typed text to JSON v1 and back, and where each problem is shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dossiers import EXAMPLES

from mdph_bridge.domain.dossier_form import (
    STEP_BY_SLUG,
    Typed,
    compose,
    field_of,
    french_to_iso,
    ignored,
    layout,
    remove_item,
    step_fields,
    typed_from,
)
from mdph_bridge.services.submission import parse_dossier

pytestmark = pytest.mark.unit
EXAMPLE_FILES = sorted(EXAMPLES.glob("*/dossier.json"))


def files_of(dossier: dict) -> dict[int, dict[str, str]]:
    return {
        index: {"nom_fichier": piece["nom_fichier"], "sha256": piece["sha256"]}
        for index, piece in enumerate(dossier["pieces"])
    }


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.parent.name)
def test_every_example_goes_through_the_form_unchanged(path: Path) -> None:
    """Each field of the format has its place on a step: nothing is lost on the way."""
    dossier = json.loads(path.read_text())
    composed, unread = compose(
        typed_from(dossier), dossier["transfert"]["mdph_origine"], files_of(dossier)
    )
    assert unread == []
    assert parse_dossier(json.dumps(composed).encode()) == parse_dossier(path.read_bytes())


@pytest.mark.parametrize(
    ("typed", "iso"),
    [
        ("14/03/1985", "1985-03-14"),
        (" 1/2/2024 ", "2024-02-01"),
        ("31/02/2026", None),
        ("2026-10-20", None),
        ("14031985", None),
    ],
)
def test_dates_are_typed_the_french_way(typed: str, iso: str | None) -> None:
    assert french_to_iso(typed) == iso


def test_typed_text_that_cannot_be_read_is_reported_where_it_was_typed() -> None:
    typed = Typed(counts={"droits": 1, "pieces": 1})
    typed.entries.update(
        {
            "transfert.date_demenagement": "2026-11-02",
            "droits[0].pch.montant_mensuel": "1471,20",
            "droits[0].pch.heures_mensuelles.prestataire": "soixante",
            "droits[0].aeeh_complement": "2,5",
        }
    )
    dossier, unread = compose(typed, "59", {})
    assert dossier["transfert"]["mdph_origine"] == "59"
    assert dossier["droits"][0]["pch"]["montant_mensuel"] == 1471.2
    assert "date_demenagement" not in dossier["transfert"]
    assert sorted(unread) == [
        ("droits[0].aeeh_complement", "formulaire.entier"),
        ("droits[0].pch.heures_mensuelles.prestataire", "formulaire.nombre"),
        ("pieces[0].fichier", "formulaire.fichier_absent"),
        ("transfert.date_demenagement", "formulaire.date"),
    ]


def test_optional_objects_left_empty_are_null_and_unticked_boxes_false() -> None:
    typed = Typed(counts={"droits": 1, "representants_legaux": 1})
    typed.entries["representants_legaux[0].nom"] = "Exemple"
    dossier, _ = compose(typed, "59", {})
    assert dossier["representants_legaux"][0]["adresse"] is None
    assert dossier["droits"][0]["pch"] is None
    assert dossier["droits"][0]["sans_limitation_duree"] is False
    assert dossier["representants_legaux"][0]["nom"] == "Exemple"


def test_removing_an_item_moves_the_later_ones_up() -> None:
    typed = Typed(counts={"droits": 3})
    typed.entries.update(
        {
            "droits[0].identifiant": "D1",
            "droits[1].identifiant": "D2",
            "droits[2].identifiant": "D3",
        }
    )
    remove_item(typed, "droits", 1)
    assert typed.counts["droits"] == 2
    assert typed.entries == {"droits[0].identifiant": "D1", "droits[1].identifiant": "D3"}


def test_each_problem_is_shown_next_to_its_field_or_its_item() -> None:
    typed = Typed(counts={"droits": 1, "pieces": 1})
    known = {path for step in STEP_BY_SLUG.values() for path, _ in step_fields(step, typed.counts)}
    known.add("pieces[0].fichier")
    assert field_of("beneficiaire.prenoms[1]", known) == "beneficiaire.prenoms"
    assert field_of("pieces[0].sha256", known) == "pieces[0].fichier"
    assert field_of("droits[0].categorie", known) == "droits[0].type"
    assert field_of("droits[0]._schema", known) == "droits[0]"
    assert field_of("droits[0].pch.heures_mensuelles", known) == "droits[0]"
    assert field_of("transfert.consentement.date", known) == "transfert.consentement.date"
    assert field_of("representants_legaux", known) == ""


def test_parts_that_do_not_fit_the_right_are_left_out_and_listed() -> None:
    typed = Typed(counts={"droits": 1, "droits[0].pch.versements": 1})
    typed.entries.update(
        {
            "droits[0].type": "1.1",
            "droits[0].sans_limitation_duree": "oui",
            "droits[0].pch.montant_mensuel": "1471,20",
            "droits[0].pch.versements[0].montant": "1200",
            "droits[0].etablissement_finess": "620001230",
        }
    )
    dossier, _ = compose(typed, "59", {})
    right = dossier["droits"][0]
    assert (right["pch"], right["etablissement_finess"]) == (None, None)
    assert right["sans_limitation_duree"] is True  # AAH at 80 % or more may be unlimited
    assert ignored(STEP_BY_SLUG["droits"], typed) == {
        "droits[0].pch.montant_mensuel",
        "droits[0].pch.versements[0].montant",
        "droits[0].etablissement_finess",
    }
    typed.entries["droits[0].type"] = "5.2"  # a technical aid: paid once, its payments count
    right = compose(typed, "59", {})[0]["droits"][0]
    assert right["pch"]["versements"] == [{"montant": 1200}]
    assert "montant_mensuel" not in right["pch"]
    assert right["pch"]["heures_mensuelles"] is None
    assert right["sans_limitation_duree"] is True


def test_removing_a_right_moves_its_neighbours_payments_with_it() -> None:
    typed = Typed(counts={"droits": 2, "droits[0].pch.versements": 0})
    typed.counts["droits[1].pch.versements"] = 2
    typed.entries["droits[1].pch.versements[1].montant"] = "300,5"
    assert layout(STEP_BY_SLUG["droits"], typed.counts) == (
        "droits=2;droits[0].pch.versements=0;droits[1].pch.versements=2"
    )
    remove_item(typed, "droits", 0)
    assert typed.counts == {"droits": 1, "droits[0].pch.versements": 2}
    assert typed.entries == {"droits[0].pch.versements[1].montant": "300,5"}
