"""Worked examples of the rights mapping, 59→62 and 62→59, with the shipped rule files."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from harmonisation_cases import FINESS_59, FINESS_62, aid, loaded, pch, request, right

from mdph_bridge.domain.harmonisation import harmonise, school_deadline, summary
from mdph_bridge.domain.rulesets import (
    Contact,
    DepartementRules,
    ExtraLegalAid,
    NationalRules,
    RuleBook,
    Sourced,
)
from mdph_bridge.rulebook import load_rulebook

pytestmark = pytest.mark.unit
BOOK = load_rulebook()
DS_59_TO_62 = date(2027, 2, 2)  # 02/11/2026 + 3 months: the domicile de secours moves


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["identifiant"]: item for item in report["droits"] + report["aides_extra_legales"]}


def payers(item: dict[str, Any]) -> list[tuple[str, str | None, str, str | None]]:
    return [
        (p["du"], p["au"], p["payeur"]["organisme"], p["payeur"]["departement"])
        for p in item["payeurs"]
    ]


def alerts(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(a["code"], a["reference"], a["date_limite"]) for a in report["alertes"]]


def every_category(origin: str) -> list[dict[str, Any]]:
    """One right of every category of docs/DOMAIN.md §3.1, and orientations towards each side."""
    return [
        right("AAH", "1.1"),
        right("ACTP", "2.2", payeur="departement"),
        right("AVA", "3"),
        right("CMI", "4.1", payeur="etat"),
        right("PCH", "5.1", payeur="departement", pch_block=pch(payeur=origin)),
        right("PCH-LOGT", "5.3", payeur="departement"),
        right("AEEH", "6.1"),
        right("IME-59", "7.1", payeur="assurance_maladie", finess=FINESS_59),
        right("IME-62", "7.2", payeur="assurance_maladie", finess=FINESS_62),
        right("ULIS", "8.2", payeur="education_nationale"),
        right("MPA", "9", payeur="education_nationale"),
        right("AESH", "10.1", payeur="education_nationale"),
        right("ESAT", "11.4", payeur="assurance_maladie"),
        right("RQTH", "12", payeur="autre", echeance=None),
        right("FOYER", "13.1", payeur="departement"),
        right("PCPE", "14", payeur="assurance_maladie"),
        right("ANCIEN", "1.2", echeance=date(2026, 6, 30), statut="echu"),
    ]


EVERY_CATEGORY = every_category("59")
OUTCOMES = {
    "AAH": "maintenu",
    "ACTP": "maintenu_changement_payeur",
    "AVA": "maintenu",
    "CMI": "maintenu",
    "PCH": "maintenu_changement_payeur",
    "PCH-LOGT": "a_instruire",  # works for the old home do not fund the new one
    "AEEH": "maintenu",
    "ULIS": "a_instruire",
    "MPA": "a_instruire",
    "AESH": "a_instruire",
    "ESAT": "a_instruire",
    "RQTH": "maintenu",
    "FOYER": "a_instruire",
    "PCPE": "maintenu",
    "ANCIEN": "echu",
}


@pytest.mark.parametrize(("origin", "dest"), [("59", "62"), ("62", "59")])
def test_every_category_gets_its_outcome_and_payers(origin: str, dest: str) -> None:
    report = harmonise(loaded(every_category(origin), origin=origin, dest=dest), BOOK)
    items = by_id(report)

    # A named establishment keeps the orientation valid on either side of the border (the one
    # in the origin is flagged); without one, a place is needed in the new area.
    expected = {**OUTCOMES, "IME-59": "maintenu", "IME-62": "maintenu"}
    assert {k: v["resultat"] for k, v in items.items()} == expected
    assert report["resultats"] == {
        "maintenu": 8,
        "maintenu_changement_payeur": 2,
        "a_instruire": 6,
        "non_transferable": 0,
        "echu": 1,
    }
    assert report["versions_regles"] == [
        "national@2026-01-01",
        f"{origin}@2022-01-01",
        f"{dest}@2022-01-01",
    ]
    # AAH, AVA, AEEH: the family fund of the new address, from the move to the right's end.
    for family_fund in ("AAH", "AVA", "AEEH"):
        assert payers(items[family_fund]) == [("2026-11-02", "2029-12-31", "caf", dest)]
    # PCH, ACTP and the département's social aid for a home: the origin until the domicile de
    # secours is acquired, the destination from that day; the decision keeps its end date.
    for by_departement in ("ACTP", "PCH", "PCH-LOGT", "FOYER"):
        assert payers(items[by_departement]) == [
            ("2026-11-02", "2027-02-01", "departement", origin),
            ("2027-02-02", "2029-12-31", "departement", dest),
        ]
        assert items[by_departement]["valable_jusquau"] == "2029-12-31"
    # A card and a recognition pay nothing, whatever the file's `payeur` says.
    assert payers(items["CMI"]) == [("2026-11-02", "2029-12-31", "aucun", None)]
    assert payers(items["RQTH"]) == [("2026-11-02", None, "aucun", None)]
    assert items["RQTH"]["payeurs"][0]["payeur"]["libelle"] == (
        "aucun versement : reconnaissance valable sur tout le territoire"
    )
    assert items["RQTH"]["valable_jusquau"] is None
    assert items["ANCIEN"]["payeurs"] == []
    assert "recalcul_pch" in items["PCH"]
    assert "recalcul_pch" not in items["PCH-LOGT"]  # an amount, not hours at a tariff
    assert report["informations_accueil"]["contact"]["courriel"] == (
        f"a-confirmer@mdph{dest}.invalid"
    )


def test_alerts_from_59_to_62_say_what_to_do_and_by_when() -> None:
    report = harmonise(loaded(EVERY_CATEGORY), BOOK)

    assert alerts(report) == [
        ("etablissement_autre_departement", "IME-59", "2026-11-02"),
        ("logement_nouvelle_adresse", "PCH-LOGT", "2026-11-02"),
        ("nouvelle_demande", "ANCIEN", "2026-11-02"),
        ("orientation_place", "ESAT", "2026-11-02"),
        ("orientation_place", "FOYER", "2026-11-02"),
        ("scolarite", "ULIS", "2026-11-02"),
        ("scolarite", "MPA", "2026-11-02"),
        ("scolarite", "AESH", "2026-11-02"),
        ("bascule_payeur", "ACTP", "2027-02-02"),
        ("bascule_payeur", "PCH", "2027-02-02"),
        ("bascule_payeur", "FOYER", "2027-02-02"),
        ("versement_ponctuel", "PCH-LOGT", "2027-02-02"),
    ]
    border = next(a for a in report["alertes"] if a["code"] == "etablissement_autre_departement")
    assert "situé dans le Nord (59)" in border["message"]
    assert "reste valable" in border["message"]
    switch = next(a for a in report["alertes"] if a["reference"] == "PCH")
    assert switch["message"] == (
        "PCH aide humaine : le département du Pas-de-Calais (62) devient payeur le 02/02/2027 ; "
        "mettre en place le versement par virement avant cette date."
    )


def test_from_62_to_59_the_sides_swap() -> None:
    rights = [
        right("PCH", "5.1", payeur="departement", pch_block=pch(payeur="62", tarif=None)),
        right("MAS-59", "13.3", payeur="assurance_maladie", finess=FINESS_59),
        right("IME-62", "7.1", payeur="assurance_maladie", finess=FINESS_62, creton=True),
        right("AAH", "1.1", payeur="msa"),
    ]
    report = harmonise(
        loaded(rights, origin="62", dest="59", aids=[aid("A1", "62_aide_menagere")]), BOOK
    )
    items = by_id(report)

    assert payers(items["PCH"]) == [
        ("2026-11-02", "2027-02-01", "departement", "62"),
        ("2027-02-02", "2029-12-31", "departement", "59"),
    ]
    assert items["MAS-59"]["resultat"] == "maintenu"
    assert items["IME-62"]["resultat"] == "maintenu"  # valid across the border, flagged
    assert any("Creton" in reason for reason in items["IME-62"]["motifs"])
    assert payers(items["AAH"]) == [("2026-11-02", "2029-12-31", "msa", "59")]
    # Services ménagers are legal social aid (CASF L241-1 → L231-1): owed by 59 too, they go
    # on with the payer switching at the domicile de secours, like the PCH.
    assert items["A1"]["resultat"] == "maintenu_changement_payeur"
    assert payers(items["A1"]) == [
        ("2026-11-02", "2027-02-01", "departement", "62"),
        ("2027-02-02", None, "departement", "59"),
    ]
    assert report["versions_regles"] == ["national@2026-01-01", "62@2022-01-01", "59@2022-01-01"]
    assert ("etablissement_autre_departement", "IME-62", "2026-11-02") in alerts(report)


def test_in_an_establishment_the_origin_keeps_paying_the_pch_for_good() -> None:
    rights = [right("PCH", "5.1", payeur="departement", pch_block=pch())]
    report = harmonise(
        loaded(rights, establishment=FINESS_62, aids=[aid("A1", "59_aide_menagere_ph")]), BOOK
    )
    items = by_id(report)

    assert items["PCH"]["resultat"] == "maintenu_changement_payeur"
    assert payers(items["PCH"]) == [("2026-11-02", "2029-12-31", "departement", "59")]
    assert "recalcul_pch" not in items["PCH"]
    assert any("vit en établissement" in reason for reason in items["PCH"]["motifs"])
    assert report["domicile_secours_acquis_le"] is None
    assert summary(report)["bascule_payeur"] is None
    assert "bascule_payeur" not in [a["code"] for a in report["alertes"]]
    # The aid that ends with the domicile de secours goes on too: it never moves, and no
    # equivalent is opened on the other side (no double payment).
    assert items["A1"]["resultat"] == "maintenu"
    assert payers(items["A1"]) == [("2026-11-02", None, "departement", "59")]
    assert "aide_equivalente" not in [a["code"] for a in report["alertes"]]


def test_when_the_domicile_de_secours_is_already_the_destination_it_pays_from_the_move() -> None:
    rights = [right("PCH", "5.1", payeur="departement", pch_block=pch())]
    report = harmonise(loaded(rights, motif="domicile_secours"), BOOK)

    assert payers(by_id(report)["PCH"]) == [("2026-11-02", "2029-12-31", "departement", "62")]


def test_a_pch_ending_before_the_switch_stays_with_the_origin() -> None:
    rights = [
        right("PCH", "5.1", payeur="departement", pch_block=pch(), echeance=date(2027, 1, 15))
    ]
    report = harmonise(loaded(rights), BOOK)

    assert payers(by_id(report)["PCH"]) == [("2026-11-02", "2027-01-15", "departement", "59")]
    assert alerts(report) == [("renouvellement", "PCH", "2026-11-02")]


def test_a_right_opening_after_the_move_is_covered_from_its_opening() -> None:
    rights = [right("AAH", "1.1", ouverture=date(2026, 12, 1))]
    report = harmonise(loaded(rights), BOOK)

    assert payers(by_id(report)["AAH"]) == [("2026-12-01", "2029-12-31", "caf", "62")]


def test_renewal_alert_gives_the_cdaph_its_four_months() -> None:
    rights = [
        right("SOON", "1.1", echeance=date(2027, 3, 31)),
        right("VERY-SOON", "4.1", payeur="etat", echeance=date(2027, 1, 15)),
        right("LATER", "12", payeur="autre", echeance=date(2027, 6, 1)),
    ]
    report = harmonise(loaded(rights), BOOK)

    assert alerts(report) == [
        ("renouvellement", "VERY-SOON", "2026-11-02"),  # already late: act on arrival
        ("renouvellement", "SOON", "2026-11-30"),  # 31/03/2027 - 4 months
    ]


def test_pending_requests_implicit_rejection_and_old_certificate() -> None:
    requests = [
        request("4.3", date(2026, 9, 15), date(2026, 9, 1)),
        request("1.1", date(2026, 5, 1), date(2025, 10, 1)),
    ]
    report = harmonise(loaded([right("AAH", "1.1")], requests=requests), BOOK)

    assert alerts(report) == [
        ("certificat_medical", "demandes_en_cours[1]", "2026-11-02"),
        ("rejet_implicite", "demandes_en_cours[1]", "2026-11-02"),
        ("demande_en_cours", "demandes_en_cours[0]", "2027-01-15"),
    ]
    certificate = report["alertes"][0]["message"]
    assert "plus de 12 mois" in certificate
    assert "Pas-de-Calais (62)" in certificate


def test_extra_legal_aids_an_equivalent_to_open_or_none() -> None:
    aids = [aid("MENAGE", "59_aide_menagere_ph"), aid("TRANSPORT", "59_transport_adapte")]
    report = harmonise(loaded([right("AAH", "1.1")], aids=aids), BOOK)
    items = by_id(report)

    # Legal social aid, not the origin's own: never « non transférable » (CASF L241-1).
    assert items["MENAGE"]["resultat"] == "maintenu_changement_payeur"
    assert payers(items["MENAGE"]) == [
        ("2026-11-02", "2027-02-01", "departement", "59"),
        ("2027-02-02", None, "departement", "62"),
    ]
    assert ("bascule_payeur", "MENAGE", "2027-02-02") in alerts(report)
    assert "L241-1" in items["MENAGE"]["motifs"][0]
    assert items["TRANSPORT"]["resultat"] == "non_transferable"
    assert items["TRANSPORT"]["payeurs"] == []  # it ends the day before the move
    assert "sans équivalent" in items["TRANSPORT"]["motifs"][0]
    # The rule that decides it is a placeholder of 59's file: the report says so.
    assert items["TRANSPORT"]["a_confirmer"] is True
    assert "Résultat provisoire" in items["TRANSPORT"]["motifs"][-1]
    assert report["resultats"]["non_transferable"] == 1


def test_school_orientation_waits_for_september_only_in_summer() -> None:
    assert school_deadline(date(2026, 7, 15)) == date(2026, 9, 1)
    assert school_deadline(date(2026, 8, 31)) == date(2026, 9, 1)
    assert school_deadline(date(2026, 11, 2)) == date(2026, 11, 2)
    report = harmonise(
        loaded([right("ULIS", "8.2", payeur="education_nationale")], moved_on=date(2026, 7, 15)),
        BOOK,
    )
    assert alerts(report) == [("scolarite", "ULIS", "2026-09-01")]


def _rules(code: str, rate: str) -> DepartementRules:
    return DepartementRules(
        code=code,
        name=f"Test {code}",
        article="le",
        effective=date(2022, 1, 1),
        home_service_rate=Sourced(Decimal(rate), "test"),
        payment_mode=Sourced("virement", "test"),
        certificate_max_months=Sourced(12, "test"),
        urgent_pch_days=Sourced(15, "test"),
        contact=Contact("service", "a@b.invalid", "0", "test"),
        aids=(ExtraLegalAid("x_aide", "Aide", "aide", "demenagement", "test"),),
    )


TARIFFS = RuleBook(
    national=(
        NationalRules(
            effective=date(2024, 6, 1),
            direct_employment_rate=Sourced(Decimal("18.96"), "test"),
            mandatary_rate=Sourced(Decimal("20.86"), "test"),
            family_carer_rate=Sourced(Decimal("7.04"), "test"),
            home_service_floor=Sourced(Decimal("22.00"), "test"),
            direct_employment_care_rate=Sourced(Decimal("19.71"), "test"),
            mandatary_care_rate=Sourced(Decimal("21.68"), "test"),
            family_carer_full_rate=Sourced(Decimal("7.04"), "test"),
        ),
    ),
    departements={"59": (_rules("59", "23.00"),), "62": (_rules("62", "25.50"),)},
)


def test_pch_hours_are_kept_and_the_amount_recomputed_at_the_destination_tariffs() -> None:
    block = pch(
        emploi_direct=10, mandataire=5, prestataire=60, aidant=30, tarif=None, montant=1885.1
    )
    report = harmonise(
        loaded([right("PCH", "5.1", payeur="departement", pch_block=block)]), TARIFFS
    )
    amounts = by_id(report)["PCH"]["recalcul_pch"]

    # Worked by hand: 10 × 18.96 + 5 × 20.86 + 60 × 23.00 + 30 × 7.04 = 1 885.10 at 59's tariffs;
    # with 62's home-service rate of 25.50 instead: 1 885.10 + 60 × 2.50 = 2 035.10.
    assert amounts["heures_maintenues"] == "105"
    assert amounts["montant_mensuel_tarifs_origine"] == "1885.10"
    assert amounts["montant_mensuel_tarifs_destination"] == "2035.10"
    assert amounts["ecart_mensuel"] == "150.00"
    assert amounts["a_partir_du"] == DS_59_TO_62.isoformat()
    assert amounts["tarifs_a_confirmer"] is False
    assert {line["mode"]: line["tarif_destination"] for line in amounts["lignes"]} == {
        "emploi_direct": "18.96",
        "mandataire": "20.86",
        "prestataire": "25.50",
        "aidant_familial": "7.04",
    }
    assert "+150,00 €" in amounts["explication"]


def test_the_declared_home_service_rate_is_the_origin_side_of_the_comparison() -> None:
    block = pch(prestataire=60, aidant=0, tarif=21.0, montant=1260)
    report = harmonise(
        loaded([right("PCH", "5.1", payeur="departement", pch_block=block)]), TARIFFS
    )
    amounts = by_id(report)["PCH"]["recalcul_pch"]

    assert amounts["montant_mensuel_tarifs_origine"] == "1260.00"  # 60 × 21.00
    assert amounts["montant_mensuel_tarifs_destination"] == "1530.00"  # 60 × 25.50
    assert amounts["ecart_mensuel"] == "270.00"


def test_shipped_placeholder_tariffs_are_flagged_in_the_report() -> None:
    block = pch()
    report = harmonise(loaded([right("PCH", "5.1", payeur="departement", pch_block=block)]), BOOK)
    amounts = by_id(report)["PCH"]["recalcul_pch"]

    # 62's 22 € of 2022 is under the floor in force on the switch day (02/02/2027): 25 € from
    # 01/01/2026 (CASF D314-130-1), still to confirm; the carer's general rate is 4,78 €.
    assert amounts["tarifs_a_confirmer"] is True
    assert amounts["montant_mensuel_tarifs_destination"] == "1643.40"  # 60 × 25.00 + 30 × 4.78
    assert "Montant provisoire" in amounts["explication"]


def test_a_destination_without_rule_set_uses_the_national_floor() -> None:
    block = pch()
    report = harmonise(
        loaded([right("PCH", "5.1", payeur="departement", pch_block=block)], dest="75"), BOOK
    )
    amounts = by_id(report)["PCH"]["recalcul_pch"]

    assert report["versions_regles"] == ["national@2026-01-01", "59@2022-01-01"]
    assert {line["mode"]: line["tarif_destination"] for line in amounts["lignes"]}[
        "prestataire"
    ] == "25.00"
    assert any("règles et tarifs nationaux" in note for note in report["observations"])
    assert payers(by_id(report)["PCH"])[-1][3] == "75"


def test_summary_keeps_counts_dated_alert_codes_and_switch_date_only() -> None:
    rights = [*EVERY_CATEGORY, right("NOM-DUPONT", "1.1", echeance=date(2027, 3, 31))]
    report = harmonise(loaded(rights), BOOK)
    brief = summary(report)

    assert set(brief) == {
        "version_rapport",
        "versions_regles",
        "resultats",
        "bascule_payeur",
        "alertes",
    }
    assert brief["bascule_payeur"] == "2027-02-02"
    assert brief["resultats"] == report["resultats"]
    assert all(set(a) == {"code", "chemin", "date_limite", "libelle"} for a in brief["alertes"])
    assert ("renouvellement", "droits[17]", "2026-11-30") in [
        (a["code"], a["chemin"], a["date_limite"]) for a in brief["alertes"]
    ]
    # Neither the sender's identifiants nor the nature of the rights reach the hub's copy.
    kept = str(brief)
    secrets = ("NOM-DUPONT", "IME-59", "AAH", "PCH aide humaine", "Orientation en ESAT", FINESS_59)
    for secret in secrets:
        assert secret not in kept, secret


def test_amounts_are_those_in_force_on_the_day_the_destination_starts_paying() -> None:
    # CASF D314-130-1: the home-service floor is indexed each 1 January; 24,58 € in 2025.
    block = pch(prestataire=10, aidant=0, tarif=None, montant=245.8)
    rights = [right("PCH", "5.1", payeur="departement", pch_block=block)]
    in_2025 = harmonise(loaded(rights, moved_on=date(2025, 3, 3)), BOOK)
    in_2026 = harmonise(loaded(rights, moved_on=date(2025, 11, 3)), BOOK)

    first = by_id(in_2025)["PCH"]["recalcul_pch"]
    assert first["a_partir_du"] == "2025-06-03"
    assert first["montant_mensuel_tarifs_destination"] == "245.80"  # 10 × 24,58 €, sourced
    assert first["tarifs_a_confirmer"] is False
    assert in_2025["versions_regles"][0] == "national@2025-01-01"
    second = by_id(in_2026)["PCH"]["recalcul_pch"]
    assert second["a_partir_du"] == "2026-02-03"
    assert second["montant_mensuel_tarifs_destination"] == "250.00"  # 10 × 25,00 €, to confirm
    assert "Montant provisoire" in second["explication"]


def test_each_carer_and_care_gesture_hours_get_their_own_rate() -> None:
    block = pch(prestataire=0, aidant=10, tarif=None)
    block["heures_mensuelles"] |= {
        "aidant_familial_cessation_activite": 10,
        "emploi_direct_gestes_soins": 10,
        "mandataire_gestes_soins": 10,
    }
    report = harmonise(loaded([right("PCH", "5.1", payeur="departement", pch_block=block)]), BOOK)
    lines = {
        line["mode"]: line["tarif_destination"]
        for line in by_id(report)["PCH"]["recalcul_pch"]["lignes"]
    }

    assert lines == {
        "aidant_familial": "4.78",  # 50 % of the net SMIC
        "aidant_familial_cessation_activite": "7.16",  # 75 %, a carer who gave up work
        "emploi_direct_gestes_soins": "20.10",
        "mandataire_gestes_soins": "22.11",
    }


@pytest.mark.parametrize(
    ("birth", "acquired"),
    [
        (date(2008, 11, 2), "2027-02-02"),  # 18 on the move day: an adult, move + 3 months
        (date(2008, 11, 3), "2027-02-03"),  # 18 the day after: 3 months after majority
        (date(2009, 2, 2), "2027-05-02"),  # 18 the day the family's DS moves: already an adult
        (date(2009, 2, 3), "2027-02-02"),  # still a minor that day: follows the family
    ],
)
def test_the_domicile_de_secours_around_the_18th_birthday(birth: date, acquired: str) -> None:
    """L122-2: residence counts from majority; a minor follows the parents until then."""
    dossier = loaded(
        [right("PCH", "5.1", payeur="departement", pch_block=pch())],
        birth=birth,
        representatives=("parent",),
    )

    report = harmonise(dossier, BOOK)

    assert report["domicile_secours_acquis_le"] == acquired
    assert payers(by_id(report)["PCH"])[1][0] == acquired
