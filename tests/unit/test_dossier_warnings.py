"""Unit tests of the warnings given with an accepted dossier: they never block a transfer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from dossiers import dossier

from schemas.clock import reference_date
from schemas.dossier import DossierSchema
from schemas.errors import CATALOGUE
from schemas.warnings import dossier_warnings

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 20)  # the example moves on 2026-11-02

Loaded = dict[str, Any]


def loaded(edit: Callable[[Loaded], None] = lambda d: None) -> Loaded:
    """The example, valid and loaded, with `edit` applied to its raw JSON first."""
    data = dossier()
    edit(data)
    with reference_date(TODAY):
        return DossierSchema().load(data)


def warnings_of(data: Loaded, today: date = TODAY) -> list[tuple[str, str]]:
    """The `(chemin, code)` pairs of a dossier's warnings."""
    return [(item["chemin"], item["code"]) for item in dossier_warnings(data, today)]


def right_update(index: int, **changes: Any) -> Callable[[Loaded], None]:
    """Edit that changes keys of one right."""
    return lambda data: data["droits"][index].update(changes)


def test_example_has_no_warning() -> None:
    assert dossier_warnings(loaded(), TODAY) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            right_update(0, date_echeance="2027-05-02"),
            [("droits[0].date_echeance", "avertissement.droit_echeance_proche")],
            id="ends-6-months-after-move",
        ),
        pytest.param(
            right_update(0, date_echeance="2026-11-02"),
            [("droits[0].date_echeance", "avertissement.droit_echeance_proche")],
            id="ends-on-move-day",
        ),
        pytest.param(right_update(0, date_echeance="2027-05-03"), [], id="ends-later"),
        pytest.param(
            right_update(0, date_echeance="2026-11-01"),
            [("droits[0]", "avertissement.droit_echu")],
            id="ended-day-before-move",
        ),
        pytest.param(
            right_update(0, statut="echu", date_echeance="2026-10-31"),
            [("droits[0]", "avertissement.droit_echu")],
            id="status-ended",
        ),
        pytest.param(
            right_update(2, statut="echu", date_echeance="2026-10-31", sans_limitation_duree=False),
            [("droits[2]", "avertissement.droit_echu")],
            id="unlimited-right-closed-before-move",
        ),
        pytest.param(
            lambda d: d["demandes_en_cours"][0].update(date_depot="2026-07-19"),
            [("demandes_en_cours[0].date_depot", "avertissement.demande_rejet_implicite")],
            id="request-4-months-and-a-day",
        ),
        pytest.param(
            lambda d: d["demandes_en_cours"][0].update(
                date_depot="2026-07-20", date_certificat_medical="2026-07-01"
            ),
            [],
            id="request-exactly-4-months",
        ),
        pytest.param(
            lambda d: d["beneficiaire"].update(nir_certifie=False),
            [("beneficiaire.nir_certifie", "avertissement.nir_non_certifie")],
            id="uncertified-nir-with-caf-right",
        ),
        pytest.param(
            lambda d: (d["beneficiaire"].update(nir_certifie=False), d["droits"].pop(0)),
            [],
            id="uncertified-nir-without-caf-right",
        ),
        pytest.param(
            lambda d: (
                d["beneficiaire"].update(nir_certifie=False),
                d["droits"][0].update(payeur="msa"),
            ),
            [("beneficiaire.nir_certifie", "avertissement.nir_non_certifie")],
            id="uncertified-nir-with-msa-right",
        ),
    ],
)
def test_warning(edit: Callable[[Loaded], None], expected: list[tuple[str, str]]) -> None:
    assert warnings_of(loaded(edit)) == expected


def test_implicit_rejection_depends_on_the_date_given() -> None:
    data = loaded(lambda d: d["demandes_en_cours"][0].update(date_depot="2026-07-20"))

    assert warnings_of(data, date(2026, 11, 20)) == []
    assert warnings_of(data, date(2026, 11, 21)) == [
        ("demandes_en_cours[0].date_depot", "avertissement.demande_rejet_implicite")
    ]


def test_warnings_follow_the_order_of_the_file() -> None:
    def edit(data: Loaded) -> None:
        data["beneficiaire"]["nir_certifie"] = False
        data["droits"][0]["date_echeance"] = "2027-01-31"
        data["droits"][1]["statut"] = "echu"
        data["droits"][1]["date_echeance"] = "2026-10-31"
        data["demandes_en_cours"][0]["date_depot"] = "2026-06-01"
        data["demandes_en_cours"][0]["date_certificat_medical"] = "2026-05-01"

    assert warnings_of(loaded(edit)) == [
        ("beneficiaire.nir_certifie", "avertissement.nir_non_certifie"),
        ("droits[0].date_echeance", "avertissement.droit_echeance_proche"),
        ("droits[1]", "avertissement.droit_echu"),
        ("demandes_en_cours[0].date_depot", "avertissement.demande_rejet_implicite"),
    ]


def test_warning_items_carry_french_messages_with_their_dates() -> None:
    def edit(data: Loaded) -> None:
        data["droits"][0]["date_echeance"] = "2027-01-31"
        data["demandes_en_cours"][0]["date_depot"] = "2026-06-01"
        data["demandes_en_cours"][0]["date_certificat_medical"] = "2026-05-01"

    items = dossier_warnings(loaded(edit), TODAY)

    assert all(set(item) == {"chemin", "code", "message"} for item in items)
    assert all(item["code"] in CATALOGUE for item in items)
    assert all("{" not in item["message"] for item in items)
    assert "31/01/2027" in items[0]["message"]
    assert "01/06/2026" in items[1]["message"]
