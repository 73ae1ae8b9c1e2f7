"""The dossier's cross-field rules live in the domain: they run on plain data, by error code."""

from datetime import date

from mdph_bridge.domain.dossier_rules import Breach, dossier_breaches, right_breaches


def test_a_right_breaks_its_rules_by_code_without_any_schema() -> None:
    right = {
        "type": "2.1",  # an allocation compensatrice...
        "categorie": "1",  # ...under the AAH category
        "date_ouverture": date(2025, 1, 1),
        "date_echeance": date(2024, 1, 1),
    }
    found = dict(right_breaches(right))
    assert found[("type",)].code == "droit.type_categorie"
    assert found[("date_echeance",)] == Breach("droit.date_echeance")


def test_the_new_address_is_placed_by_the_locator_it_is_given() -> None:
    dossier = {
        "transfert": {"mdph_destination": "62", "motif": "demenagement"},
        "beneficiaire": {"adresse_nouvelle": {"code_postal": "59000", "commune": "Lille"}},
    }
    in_59 = list(dossier_breaches(dossier, lambda postcode, commune: "59"))
    in_62 = list(dossier_breaches(dossier, lambda postcode, commune: "62"))
    assert [(path, found.code) for path, found in in_59] == [
        (("beneficiaire", "adresse_nouvelle", "code_postal"), "adresse.departement")
    ]
    assert in_62 == []
