"""Business rules of the dossier format v1: for each rule, valid cases and refused ones with
their exact `(chemin, code)`."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from dossiers import dossier, piece
from marshmallow import ValidationError
from stdnum.fr import nir as stdnum_nir

from mdph_bridge.domain.rights import category_of, complement_number
from schemas.clock import reference_date
from schemas.dossier import DossierSchema
from schemas.errors import CATALOGUE, flatten

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 20)  # the example moves on 2026-11-02
CHILD_BIRTH = date(2012, 4, 10)
PARENT = {"qualite": "parent", "nom": "Exemple", "prenoms": ["Dominique"]}
TUTEUR = {**PARENT, "qualite": "tuteur", "reference_jugement": "RG 24/01234 TJ Lille"}
PCH_BLOCK = {
    "heures_mensuelles": {
        "emploi_direct": 0,
        "mandataire": 0,
        "prestataire": 60,
        "aidant_familial": 0,
    },
    "montant_mensuel": 1260,
    "payeur_departement": "59",
}

Dossier = dict[str, Any]
Edit = Callable[[Dossier], None]


@pytest.fixture(autouse=True)
def _fixed_today() -> Iterator[None]:
    with reference_date(TODAY):
        yield


def make_nir(first_13: str) -> str:
    """A NIR with the right key for its first 13 characters."""
    return first_13 + stdnum_nir.calc_check_digits(first_13)


def born(day: date, sexe: str = "F") -> Edit:
    """Edit that sets the person's birth date and sex, with a NIR that agrees with them."""

    def edit(data: Dossier) -> None:
        sex_digit = "2" if sexe == "F" else "1"
        data["beneficiaire"].update(
            date_naissance=day.isoformat(),
            sexe=sexe,
            nir=make_nir(f"{sex_digit}{day:%y%m}59350045"),
        )

    return edit


PAYMENT = {"montant": 1200, "date_versement": "2025-03-03", "payeur_departement": "59"}
ONE_OFF_BLOCK = {"montant_attribue": 3000, "versements": [PAYMENT], "payeur_departement": "59"}


def born_in(code_insee: str, nir_birthplace: str | None = None) -> Edit:
    """Edit that sets the commune of birth, with a NIR whose birthplace agrees with it."""

    def edit(data: Dossier) -> None:
        place = nir_birthplace or code_insee
        data["beneficiaire"].update(
            code_insee_naissance=code_insee, nir=make_nir(f"28503{place}123")
        )

    return edit


def right(identifiant: str, type_: str, **changes: Any) -> dict[str, Any]:
    """A complete right of `type_`, valid on its own unless `changes` say otherwise."""
    return {
        "identifiant": identifiant,
        "categorie": category_of(type_),
        "type": type_,
        "nature": "attribution",
        "date_decision": "2024-08-20",
        "date_ouverture": "2024-09-01",
        "date_echeance": "2027-08-31",
        "sans_limitation_duree": False,
        "taux_incapacite": None,
        "payeur": "departement" if category_of(type_) in ("2", "5") else "caf",
        "statut": "actif",
        "etablissement_finess": None,
        "creton": False,
        "pch": copy.deepcopy(PCH_BLOCK) if category_of(type_) == "5" else None,
        "aeeh_complement": complement_number(type_),
        **changes,
    }


def aeeh(identifiant: str = "E1", **changes: Any) -> dict[str, Any]:
    """An AEEH base at 50 to 79 %."""
    return right(identifiant, "6.1", **{"taux_incapacite": "50-79", **changes})


def complement(identifiant: str, type_: str = "6.3", **changes: Any) -> dict[str, Any]:
    """An AEEH complément (6.3 is complément 2)."""
    return right(identifiant, type_, **{"taux_incapacite": "50-79", **changes})


def child(birth: date = CHILD_BIRTH) -> Dossier:
    """A valid dossier of a child with an AEEH, represented by a parent."""
    data = dossier()
    born(birth, "M")(data)
    data["representants_legaux"] = [copy.deepcopy(PARENT)]
    data["droits"] = [aeeh()]
    data["demandes_en_cours"] = []
    return data


def at(path: str, value: Any) -> Edit:
    """Edit that sets a dotted path (list indexes as numbers) to `value`."""

    def edit(data: Dossier) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return edit


def without(path: str) -> Edit:
    """Edit that deletes a dotted path."""

    def edit(data: Dossier) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return edit


def rights(*items: dict[str, Any]) -> Edit:
    """Edit that replaces the rights."""
    return at("droits", list(items))


def both(*edits: Edit) -> Edit:
    """Edit that applies several edits in order."""

    def edit(data: Dossier) -> None:
        for one in edits:
            one(data)

    return edit


def build(base: Callable[[], Dossier], edit: Edit) -> Dossier:
    """A fresh base dossier with `edit` applied."""
    data = base()
    edit(data)
    return data


def problems(data: Dossier) -> list[dict[str, str]]:
    """The `erreurs` list of a dossier (empty when it is valid)."""
    try:
        DossierSchema().load(data)
    except ValidationError as exc:
        return flatten(exc.messages)
    return []


def pairs(data: Dossier) -> set[tuple[str, str]]:
    """The `(chemin, code)` pairs of a dossier's errors."""
    return {(item["chemin"], item["code"]) for item in problems(data)}


NIR_2A = make_nir("285032A004123")
NIR_2B = make_nir("285032B033123")

VALID: list[Any] = [
    pytest.param(dossier, lambda d: None, id="example"),
    pytest.param(child, lambda d: None, id="child-example"),
    # NIR
    pytest.param(dossier, born_in("2A004"), id="nir-born-in-corse-du-sud"),
    pytest.param(dossier, born_in("2B033"), id="nir-born-in-haute-corse"),
    # Born in Corsica before 1976: the NIR says 20, the commune's code now says 2A.
    pytest.param(dossier, born_in("2A004", "20004"), id="nir-born-in-corsica-before-1976"),
    pytest.param(
        dossier, at("beneficiaire.nir", make_nir("8850359350123")), id="nir-provisional-8"
    ),
    pytest.param(
        dossier, at("beneficiaire.nir", make_nir("4850359350123")), id="nir-provisional-4"
    ),
    pytest.param(
        dossier,
        both(at("beneficiaire.sexe", "M"), at("beneficiaire.nir", make_nir("7850359350123"))),
        id="nir-provisional-7-man",
    ),
    pytest.param(dossier, at("beneficiaire.nir", make_nir("2852059350123")), id="nir-month-20"),
    pytest.param(dossier, at("beneficiaire.nir", make_nir("2859959350123")), id="nir-month-99"),
    pytest.param(dossier, born(date(1900, 1, 1)), id="born-1900-01-01"),
    pytest.param(dossier, born(date(1961, 7, 2), "M"), id="born-a-man"),
    # Names and identity
    pytest.param(dossier, at("beneficiaire.nom_naissance", "O'Brien-Léa"), id="name-apostrophe"),
    pytest.param(dossier, at("beneficiaire.nom_naissance", "D’Ornano"), id="name-typographic-'"),
    pytest.param(dossier, at("beneficiaire.prenoms", ["Jean-Pierre", "Zoé"]), id="two-first-names"),
    pytest.param(dossier, at("beneficiaire.prenoms", ["Zoe\u0301"]), id="name-combining-accent"),
    pytest.param(dossier, at("beneficiaire.prenoms", ["Ἀλέξανδρος"]), id="name-greek"),
    pytest.param(dossier, at("beneficiaire.nom_usage", "Martin Dupont"), id="usage-name"),
    pytest.param(dossier, at("beneficiaire.nom_naissance", "X" * 100), id="name-100-chars"),
    pytest.param(dossier, born_in("97411"), id="insee-reunion"),
    pytest.param(dossier, born_in("99134"), id="insee-abroad"),
    pytest.param(dossier, born_in("98818"), id="insee-noumea"),
    # Addresses
    pytest.param(
        dossier, at("beneficiaire.adresse_nouvelle.ligne2", "Bâtiment B"), id="address-line-2"
    ),
    pytest.param(
        dossier,
        both(
            at("beneficiaire.adresse_nouvelle.code_postal", "80000"),
            at("transfert.motif", "domicile_secours"),
        ),
        id="domicile-secours-elsewhere",
    ),
    pytest.param(
        lambda: dossier(dest="2A"),
        at("beneficiaire.adresse_nouvelle.code_postal", "20167"),
        id="postcode-201xx-in-2A",
    ),
    pytest.param(
        lambda: dossier(dest="2B"),
        at("beneficiaire.adresse_nouvelle.code_postal", "20620"),
        id="postcode-206xx-in-2B",
    ),
    pytest.param(lambda: dossier(dest="971"), lambda d: None, id="postcode-97100-in-971"),
    pytest.param(
        lambda: dossier(dest="974"),
        at("beneficiaire.adresse_nouvelle.code_postal", "97490"),
        id="postcode-97490-in-974",
    ),
    pytest.param(
        lambda: dossier(dest="976"),
        at("beneficiaire.adresse_nouvelle.code_postal", "97600"),
        id="postcode-in-mayotte",
    ),
    # FINESS
    pytest.param(
        dossier, at("beneficiaire.etablissement_accueil_finess", "590780193"), id="finess-lille"
    ),
    pytest.param(
        dossier, at("beneficiaire.etablissement_accueil_finess", "2A0000014"), id="finess-2A"
    ),
    pytest.param(
        dossier, at("beneficiaire.etablissement_accueil_finess", "2B0000020"), id="finess-2B"
    ),
    pytest.param(
        dossier, at("beneficiaire.etablissement_accueil_finess", "970408589"), id="finess-97"
    ),
    pytest.param(dossier, at("droits.0.etablissement_finess", "980500029"), id="finess-98-mayotte"),
    # Dates of the move
    pytest.param(
        dossier,
        both(at("transfert.date_demenagement", "1985-03-14"), at("representants_legaux", [PARENT])),
        id="moved-on-birth-day",
    ),
    # Legal representatives
    pytest.param(
        lambda: child(date(2008, 11, 2)), at("representants_legaux", []), id="18-on-move-day"
    ),
    pytest.param(
        dossier,
        both(
            at("pieces", [piece("jugement.pdf", b"j", "jugement_protection")]),
            at("representants_legaux", [TUTEUR]),
        ),
        id="protected-adult-with-tutor",
    ),
    pytest.param(
        dossier,
        at(
            "representants_legaux",
            [{**PARENT, "qualite": "curateur", "reference_jugement": "RG 1"}],
        ),
        id="curator-with-judgement",
    ),
    pytest.param(
        dossier,
        at("representants_legaux", [{**PARENT, "qualite": "mandataire_special"}]),
        id="special-agent-without-judgement",
    ),
    pytest.param(
        child,
        at(
            "representants_legaux.0",
            {
                **PARENT,
                "date_naissance": "1980-02-01",
                "adresse": {
                    "ligne1": "2 place de l'Exemple",
                    "code_postal": "62000",
                    "commune": "Arras",
                },
            },
        ),
        id="representative-with-optional-keys",
    ),
    # Rights: types, dates, rates
    pytest.param(dossier, rights(right("R1", "12")), id="rqth-type-equals-category"),
    pytest.param(
        dossier, at("droits.0.date_decision", "2023-12-01"), id="decided-6-months-after-opening"
    ),
    pytest.param(dossier, at("droits.0.date_decision", "2022-01-01"), id="decided-before-opening"),
    pytest.param(
        dossier,
        rights(
            right(
                "R1",
                "12",
                date_decision="2026-10-15",
                date_ouverture="2026-11-01",
                date_echeance="2026-11-02",
            )
        ),
        id="ends-day-after-opening",
    ),
    pytest.param(
        dossier,
        both(
            at("droits.0.date_echeance", "2025-11-02"),
            at("droits.0.statut", "echu"),
            at("droits.0.date_ouverture", "2020-11-03"),
            at("droits.0.date_decision", "2020-10-01"),
        ),
        id="ended-12-months-before-move",
    ),
    pytest.param(
        dossier,
        both(at("droits.0.date_echeance", None), at("droits.0.sans_limitation_duree", True)),
        id="aah-80-unlimited",
    ),
    pytest.param(
        dossier,
        rights(right("R1", "12", date_echeance=None, sans_limitation_duree=True)),
        id="rqth-unlimited",
    ),
    pytest.param(
        dossier,
        rights(right("P1", "5.2", date_echeance=None, sans_limitation_duree=True)),
        id="pch-unlimited",
    ),
    # Postcodes by the official data: 05110 serves Curbans, in Alpes-de-Haute-Provence (04)
    pytest.param(
        dossier,
        both(
            at("transfert.mdph_destination", "04"),
            at("beneficiaire.adresse_nouvelle.code_postal", "05110"),
            at("beneficiaire.adresse_nouvelle.commune", "Curbans"),
        ),
        id="curbans-05110-is-in-04",
    ),
    # Format v1.1: PCH elements paid once, places of life, the border case without a move
    pytest.param(
        dossier,
        both(
            at("version_format", "1.1"),
            rights(right("P1", "5.2", pch=ONE_OFF_BLOCK)),
        ),
        id="v1.1-pch-technical-aid-paid-once-without-hours",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.lieu_de_vie", {"type": "accueil_familial"}),
        id="v1.1-lives-with-a-paid-host-family",
    ),
    pytest.param(
        dossier,
        both(
            at("beneficiaire.etablissement_accueil_finess", "620001230"),
            at("beneficiaire.lieu_de_vie", {"type": "etablissement", "finess": "620001230"}),
        ),
        id="v1.1-lives-in-an-establishment-both-fields",
    ),
    pytest.param(
        dossier,
        both(
            at("transfert.motif", "orientation_frontaliere"),
            at("beneficiaire.adresse_nouvelle.code_postal", "59000"),
        ),
        id="v1.1-border-orientation-without-a-move",
    ),
    pytest.param(
        child,
        rights(aeeh(taux_incapacite=">=80", date_echeance=None, sans_limitation_duree=True)),
        id="aeeh-80-unlimited",
    ),
    pytest.param(
        dossier, rights(right("C1", "4.3", taux_incapacite="<50")), id="cmi-priorite-below-50"
    ),
    pytest.param(dossier, rights(right("C1", "4.1")), id="cmi-stationnement-without-rate"),
    pytest.param(
        dossier, rights(right("R1", "12", taux_incapacite="<50")), id="rqth-with-any-rate"
    ),
    pytest.param(dossier, rights(right("A1", "1.2", taux_incapacite="50-79")), id="aah-50-79"),
    # PCH block
    pytest.param(dossier, at("droits.1.pch.tarif_horaire_prestataire", None), id="pch-no-rate"),
    pytest.param(dossier, without("droits.1.pch.tarif_horaire_prestataire"), id="pch-rate-omitted"),
    pytest.param(dossier, without("droits.1.pch.payee_jusquau"), id="pch-paid-until-omitted"),
    pytest.param(
        dossier, at("droits.1.pch.heures_mensuelles.prestataire", 744), id="pch-744-hours"
    ),
    pytest.param(
        dossier, at("droits.1.pch.heures_mensuelles.prestataire", 60.5), id="pch-decimal-hours"
    ),
    pytest.param(dossier, at("droits.1.pch.payeur_departement", "2A"), id="pch-payer-2A"),
    # AEEH compléments and age
    pytest.param(child, rights(aeeh(), complement("E2", "6.4")), id="aeeh-complement-3"),
    pytest.param(
        lambda: child(date(2006, 6, 1)),
        rights(
            aeeh(
                date_ouverture="2026-05-31", date_decision="2026-05-01", date_echeance="2026-06-01"
            )
        ),
        id="aeeh-opened-day-before-20",
    ),
    pytest.param(
        lambda: child(date(2010, 9, 1)),
        rights(
            right(
                "A1",
                "1.2",
                taux_incapacite="50-79",
                date_ouverture="2026-09-01",
                date_decision="2026-08-20",
                date_echeance="2031-08-31",
            )
        ),
        id="aah-opened-on-16th-birthday",
    ),
    pytest.param(
        lambda: child(date(2006, 6, 1)),
        rights(right("O1", "7.7", date_echeance="2027-08-31", creton=True)),
        id="child-establishment-past-20-with-creton",
    ),
    pytest.param(
        lambda: child(date(2006, 6, 1)),
        rights(right("O1", "7.7", date_echeance="2026-06-01")),
        id="child-establishment-until-20",
    ),
    # Rights that exclude each other
    pytest.param(
        child,
        rights(
            aeeh(),
            complement("E2", date_echeance="2026-08-31"),
            right("P1", "5.1", date_ouverture="2026-09-01", date_decision="2026-08-01"),
        ),
        id="complement-then-pch",
    ),
    pytest.param(
        child,
        rights(
            aeeh(), complement("E2", statut="echu", date_echeance="2026-10-31"), right("P1", "5.1")
        ),
        id="ended-complement-and-pch",
    ),
    pytest.param(child, rights(aeeh(), right("P1", "5.1")), id="aeeh-base-and-pch"),
    pytest.param(
        child, rights(aeeh(), complement("E2"), right("P1", "5.2")), id="complement-and-pch-aid"
    ),
    pytest.param(
        dossier,
        lambda d: d["droits"].append(right("T1", "2.2", payeur="departement", statut="suspendu")),
        id="suspended-actp-and-pch",
    ),
    # Pending requests
    pytest.param(
        dossier,
        at("demandes_en_cours.0.date_certificat_medical", "2025-09-16"),
        id="certificate-11-months",
    ),
    pytest.param(
        dossier,
        at("demandes_en_cours.0.date_certificat_medical", "2026-10-01"),
        id="certificate-after-lodging",
    ),
    pytest.param(
        dossier, at("demandes_en_cours.0.date_depot", TODAY.isoformat()), id="lodged-today"
    ),
    pytest.param(dossier, at("demandes_en_cours.0.type", "5.1"), id="request-for-pch"),
    # Medical evaluation
    pytest.param(
        dossier, at("evaluation_medicale", {"geva": {"volet": 6}}), id="evaluation-object"
    ),
]


@pytest.mark.parametrize(("base", "edit"), VALID)
def test_valid_dossier_is_accepted(base: Callable[[], Dossier], edit: Edit) -> None:
    assert problems(build(base, edit)) == []


INVALID: list[Any] = [
    # NIR
    pytest.param(
        dossier,
        at("beneficiaire.code_insee_naissance", "62193"),
        "beneficiaire.nir",
        "beneficiaire.nir_lieu_naissance",
        id="nir-birthplace-not-the-commune-of-birth",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", "28503593501235"),
        "beneficiaire.nir",
        "beneficiaire.nir_format",
        id="nir-14-chars",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", "2 85 03 59 350 123 57"),
        "beneficiaire.nir",
        "beneficiaire.nir_format",
        id="nir-with-spaces",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", make_nir("5850359350123")),
        "beneficiaire.nir",
        "beneficiaire.nir_format",
        id="nir-sex-digit-5",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", NIR_2A.replace("2A", "2a")),
        "beneficiaire.nir",
        "beneficiaire.nir_format",
        id="nir-lowercase-2a",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", NIR_2A.replace("2A", "2C")),
        "beneficiaire.nir",
        "beneficiaire.nir_format",
        id="nir-2C",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", "285035935012358"),
        "beneficiaire.nir",
        "beneficiaire.nir_cle",
        id="nir-wrong-key",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", NIR_2A[:-2] + NIR_2B[-2:]),
        "beneficiaire.nir",
        "beneficiaire.nir_cle",
        id="nir-2A-with-2B-key",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", make_nir("1850359350123")),
        "beneficiaire.nir",
        "beneficiaire.nir_sexe",
        id="nir-man-for-woman",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", make_nir("7850359350123")),
        "beneficiaire.nir",
        "beneficiaire.nir_sexe",
        id="nir-provisional-man-for-woman",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.sexe", "M"),
        "beneficiaire.nir",
        "beneficiaire.nir_sexe",
        id="sex-changed-not-nir",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.date_naissance", "1986-03-14"),
        "beneficiaire.nir",
        "beneficiaire.nir_annee",
        id="nir-year",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.date_naissance", "1985-04-14"),
        "beneficiaire.nir",
        "beneficiaire.nir_mois",
        id="nir-month",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", make_nir("2851359350123")),
        "beneficiaire.nir",
        "beneficiaire.nir_mois",
        id="nir-month-13",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir", make_nir("2850059350123")),
        "beneficiaire.nir",
        "beneficiaire.nir_mois",
        id="nir-month-00",
    ),
    pytest.param(
        dossier, at("beneficiaire.sexe", "X"), "beneficiaire.sexe", "champ.choix", id="sex-X"
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nir_certifie", None),
        "beneficiaire.nir_certifie",
        "champ.nul",
        id="nir-certified-null",
    ),
    # Birth
    pytest.param(
        dossier,
        born(date(1899, 12, 31)),
        "beneficiaire.date_naissance",
        "beneficiaire.date_naissance",
        id="born-1899",
    ),
    pytest.param(
        dossier,
        born(date(2026, 11, 21)),
        "beneficiaire.date_naissance",
        "beneficiaire.date_naissance",
        id="born-tomorrow",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.code_insee_naissance", "20004"),
        "beneficiaire.code_insee_naissance",
        "beneficiaire.code_insee",
        id="insee-20xxx",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.code_insee_naissance", "5935"),
        "beneficiaire.code_insee_naissance",
        "beneficiaire.code_insee",
        id="insee-4-chars",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.code_insee_naissance", "96001"),
        "beneficiaire.code_insee_naissance",
        "beneficiaire.code_insee",
        id="insee-96",
    ),
    # Names
    pytest.param(
        dossier,
        at("beneficiaire.nom_naissance", "Dupont2"),
        "beneficiaire.nom_naissance",
        "personne.nom",
        id="name-with-digit",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nom_naissance", "Dupont_Martin"),
        "beneficiaire.nom_naissance",
        "personne.nom",
        id="name-underscore",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nom_naissance", " - "),
        "beneficiaire.nom_naissance",
        "personne.nom",
        id="name-without-letter",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nom_naissance", "X" * 101),
        "beneficiaire.nom_naissance",
        "champ.longueur",
        id="name-101-chars",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nom_naissance", ""),
        "beneficiaire.nom_naissance",
        "champ.longueur",
        id="name-empty",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.nom_usage", "M. Martin"),
        "beneficiaire.nom_usage",
        "personne.nom",
        id="usage-name-with-dot",
    ),
    pytest.param(
        dossier,
        without("beneficiaire.nom_usage"),
        "beneficiaire.nom_usage",
        "champ.obligatoire",
        id="usage-name-missing",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.prenoms", []),
        "beneficiaire.prenoms",
        "champ.liste_vide",
        id="no-first-name",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.prenoms", ["Camille", "Anne3"]),
        "beneficiaire.prenoms[1]",
        "personne.nom",
        id="second-first-name",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.prenoms", "Camille"),
        "beneficiaire.prenoms",
        "champ.liste",
        id="first-names-string",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.age", 41),
        "beneficiaire.age",
        "champ.inconnu",
        id="unknown-key-in-beneficiaire",
    ),
    pytest.param(
        dossier, without("beneficiaire"), "beneficiaire", "champ.obligatoire", id="no-beneficiaire"
    ),
    # Addresses
    pytest.param(
        dossier,
        at("beneficiaire.adresse_nouvelle.code_postal", "6200"),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.code_postal",
        id="postcode-4-digits",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.adresse_nouvelle.code_postal", "62 000"),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.code_postal",
        id="postcode-with-space",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.adresse_nouvelle.code_postal", "98000"),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.code_postal",
        id="postcode-monaco",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.adresse_nouvelle.code_postal", "20900"),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.code_postal",
        id="postcode-209xx",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.adresse_precedente.code_postal", "00100"),
        "beneficiaire.adresse_precedente.code_postal",
        "adresse.code_postal",
        id="postcode-00",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.adresse_nouvelle.code_postal", "59000"),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.departement",
        id="new-address-in-origin",
    ),
    pytest.param(
        lambda: dossier(dest="2B"),
        at("beneficiaire.adresse_nouvelle.code_postal", "20090"),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.departement",
        id="2A-postcode-for-2B",
    ),
    pytest.param(
        lambda: dossier(dest="2A"),
        at("beneficiaire.adresse_nouvelle.code_postal", "20200"),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.departement",
        id="2B-postcode-for-2A",
    ),
    pytest.param(
        lambda: dossier(dest="972"),
        at("beneficiaire.adresse_nouvelle.code_postal", "97100"),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.departement",
        id="971-postcode-for-972",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.adresse_nouvelle.pays", "France"),
        "beneficiaire.adresse_nouvelle.pays",
        "champ.inconnu",
        id="unknown-key-in-address",
    ),
    pytest.param(
        dossier,
        without("beneficiaire.adresse_nouvelle.commune"),
        "beneficiaire.adresse_nouvelle.commune",
        "champ.obligatoire",
        id="address-without-commune",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.adresse_precedente", None),
        "beneficiaire.adresse_precedente",
        "champ.nul",
        id="previous-address-null",
    ),
    # FINESS
    pytest.param(
        dossier,
        at("beneficiaire.etablissement_accueil_finess", "59078019"),
        "beneficiaire.etablissement_accueil_finess",
        "finess.format",
        id="finess-8-chars",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.etablissement_accueil_finess", "200000004"),
        "beneficiaire.etablissement_accueil_finess",
        "finess.format",
        id="finess-20",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.etablissement_accueil_finess", "990000000"),
        "beneficiaire.etablissement_accueil_finess",
        "finess.format",
        id="finess-99",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.etablissement_accueil_finess", "590780194"),
        "beneficiaire.etablissement_accueil_finess",
        "finess.cle",
        id="finess-wrong-key",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.etablissement_accueil_finess", "2A0000015"),
        "beneficiaire.etablissement_accueil_finess",
        "finess.cle",
        id="finess-2A-wrong-key",
    ),
    pytest.param(
        dossier,
        at("droits.0.etablissement_finess", "590780194"),
        "droits[0].etablissement_finess",
        "finess.cle",
        id="right-finess-wrong-key",
    ),
    # Move
    pytest.param(
        dossier,
        at("transfert.date_demenagement", "1985-03-13"),
        "transfert.date_demenagement",
        "transfert.demenagement_avant_naissance",
        id="moved-before-birth",
    ),
    # Legal representatives
    pytest.param(
        child,
        at("representants_legaux", []),
        "representants_legaux",
        "representant.obligatoire",
        id="minor-without-representative",
    ),
    pytest.param(
        lambda: child(date(2008, 11, 3)),
        at("representants_legaux", []),
        "representants_legaux",
        "representant.obligatoire",
        id="18-the-day-after-move",
    ),
    pytest.param(
        dossier,
        at("pieces", [piece("jugement.pdf", b"j", "jugement_protection")]),
        "representants_legaux",
        "representant.obligatoire",
        id="protected-without-representative",
    ),
    pytest.param(
        dossier,
        at("representants_legaux", [{**TUTEUR, "reference_jugement": None}]),
        "representants_legaux[0].reference_jugement",
        "representant.jugement",
        id="tutor-without-judgement",
    ),
    pytest.param(
        dossier,
        at("representants_legaux", [{**PARENT, "qualite": "curateur"}]),
        "representants_legaux[0].reference_jugement",
        "representant.jugement",
        id="curator-judgement-omitted",
    ),
    pytest.param(
        child,
        at("representants_legaux.0.qualite", "oncle"),
        "representants_legaux[0].qualite",
        "champ.choix",
        id="representative-quality",
    ),
    pytest.param(
        child,
        at("representants_legaux.0.prenoms", []),
        "representants_legaux[0].prenoms",
        "champ.liste_vide",
        id="representative-no-first-name",
    ),
    pytest.param(
        child,
        at("representants_legaux.0.nom", "Dupont (père)"),
        "representants_legaux[0].nom",
        "personne.nom",
        id="representative-name",
    ),
    pytest.param(
        child,
        at(
            "representants_legaux.0.adresse",
            {"ligne1": "1 rue", "code_postal": "98000", "commune": "Monaco"},
        ),
        "representants_legaux[0].adresse.code_postal",
        "adresse.code_postal",
        id="representative-address",
    ),
    pytest.param(
        child,
        at("representants_legaux.0.nir", "1"),
        "representants_legaux[0].nir",
        "champ.inconnu",
        id="representative-unknown-key",
    ),
    # Rights: structure
    pytest.param(dossier, at("droits", []), "droits", "champ.liste_vide", id="no-right"),
    pytest.param(dossier, at("droits.0", None), "droits[0]", "champ.nul", id="right-null"),
    pytest.param(
        dossier,
        at("droits.0.categorie", "15"),
        "droits[0].categorie",
        "champ.choix",
        id="category-15",
    ),
    pytest.param(
        dossier, at("droits.0.type", "1.3"), "droits[0].type", "droit.type_inconnu", id="type-1.3"
    ),
    pytest.param(
        dossier,
        at("droits.0.type", "5.1"),
        "droits[0].type",
        "droit.type_categorie",
        id="pch-type-in-aah-category",
    ),
    pytest.param(
        dossier,
        rights(right("R1", "12", type="12.1")),
        "droits[0].type",
        "droit.type_inconnu",
        id="type-12.1",
    ),
    pytest.param(
        dossier, at("droits.0.nature", "creation"), "droits[0].nature", "champ.choix", id="nature"
    ),
    pytest.param(
        dossier, at("droits.0.statut", "ferme"), "droits[0].statut", "champ.choix", id="status"
    ),
    pytest.param(
        dossier, at("droits.0.payeur", "cpam"), "droits[0].payeur", "champ.choix", id="payer"
    ),
    pytest.param(
        dossier,
        at("droits.0.taux_incapacite", "80"),
        "droits[0].taux_incapacite",
        "champ.choix",
        id="rate-80",
    ),
    pytest.param(
        dossier,
        at("droits.0.date_echeance", "31/05/2028"),
        "droits[0].date_echeance",
        "champ.date",
        id="end-not-iso",
    ),
    pytest.param(
        dossier,
        at("droits.0.sans_limitation_duree", "oui"),
        "droits[0].sans_limitation_duree",
        "champ.booleen",
        id="unlimited-oui",
    ),
    pytest.param(
        dossier,
        without("droits.0.creton"),
        "droits[0].creton",
        "champ.obligatoire",
        id="creton-missing",
    ),
    pytest.param(
        dossier,
        at("droits.0.montant", 12),
        "droits[0].montant",
        "champ.inconnu",
        id="unknown-key-in-right",
    ),
    pytest.param(
        dossier,
        at("droits.1.identifiant", "D1"),
        "droits[1].identifiant",
        "droit.identifiant_double",
        id="duplicate-right-id",
    ),
    # Rights: dates
    pytest.param(
        dossier,
        at("droits.0.date_decision", "2023-12-02"),
        "droits[0].date_decision",
        "droit.date_decision",
        id="decided-6-months-and-a-day-after",
    ),
    pytest.param(
        dossier,
        at("droits.0.date_echeance", "2023-06-01"),
        "droits[0].date_echeance",
        "droit.date_echeance",
        id="ends-on-opening",
    ),
    pytest.param(
        dossier,
        at("droits.0.date_echeance", "2023-05-31"),
        "droits[0].date_echeance",
        "droit.date_echeance",
        id="ends-before-opening",
    ),
    pytest.param(
        dossier,
        at("droits.0.date_echeance", None),
        "droits[0].date_echeance",
        "droit.echeance_obligatoire",
        id="no-end-without-unlimited",
    ),
    pytest.param(
        dossier,
        at("droits.2.date_echeance", "2043-05-31"),
        "droits[2].date_echeance",
        "droit.echeance_interdite",
        id="end-with-unlimited",
    ),
    pytest.param(
        dossier,
        both(
            at("droits.0.date_echeance", "2025-11-01"),
            at("droits.0.date_ouverture", "2020-11-02"),
            at("droits.0.date_decision", "2020-10-01"),
        ),
        "droits[0].date_echeance",
        "droit.trop_ancien",
        id="ended-more-than-12-months-before-move",
    ),
    # Rights: without time limit
    pytest.param(
        dossier,
        rights(
            right(
                "A1", "1.2", taux_incapacite="50-79", date_echeance=None, sans_limitation_duree=True
            )
        ),
        "droits[0].sans_limitation_duree",
        "droit.sans_limitation",
        id="aah-50-79-unlimited",
    ),
    pytest.param(
        dossier,
        rights(
            right(
                "C1", "4.3", taux_incapacite="50-79", date_echeance=None, sans_limitation_duree=True
            )
        ),
        "droits[0].sans_limitation_duree",
        "droit.sans_limitation",
        id="cmi-priorite-unlimited",
    ),
    pytest.param(
        dossier,
        rights(right("C1", "4.1", date_echeance=None, sans_limitation_duree=True)),
        "droits[0].sans_limitation_duree",
        "droit.sans_limitation",
        id="cmi-stationnement-unlimited",
    ),
    pytest.param(
        dossier,
        rights(
            right(
                "C1", "4.2", taux_incapacite="50-79", date_echeance=None, sans_limitation_duree=True
            )
        ),
        "droits[0].sans_limitation_duree",
        "droit.sans_limitation",
        id="cmi-invalidite-50-79-unlimited",
    ),
    pytest.param(
        child,
        rights(aeeh(date_echeance=None, sans_limitation_duree=True)),
        "droits[0].sans_limitation_duree",
        "droit.sans_limitation",
        id="aeeh-50-79-unlimited",
    ),
    pytest.param(
        child,
        rights(
            aeeh(),
            complement(
                "E2", taux_incapacite=">=80", date_echeance=None, sans_limitation_duree=True
            ),
        ),
        "droits[1].sans_limitation_duree",
        "droit.sans_limitation",
        id="aeeh-complement-unlimited",
    ),
    pytest.param(
        child,
        rights(aeeh(), right("O1", "7.7", date_echeance=None, sans_limitation_duree=True)),
        "droits[1].sans_limitation_duree",
        "droit.sans_limitation",
        id="sessad-unlimited",
    ),
    # Rights: rates
    pytest.param(
        dossier,
        at("droits.0.taux_incapacite", None),
        "droits[0].taux_incapacite",
        "droit.taux_obligatoire",
        id="aah-without-rate",
    ),
    pytest.param(
        dossier,
        at("droits.2.taux_incapacite", None),
        "droits[2].taux_incapacite",
        "droit.taux_obligatoire",
        id="cmi-invalidite-without-rate",
    ),
    pytest.param(
        dossier,
        rights(right("C1", "4.3")),
        "droits[0].taux_incapacite",
        "droit.taux_obligatoire",
        id="cmi-priorite-without-rate",
    ),
    pytest.param(
        child,
        at("droits.0.taux_incapacite", None),
        "droits[0].taux_incapacite",
        "droit.taux_obligatoire",
        id="aeeh-without-rate",
    ),
    pytest.param(
        dossier,
        at("droits.0.taux_incapacite", "50-79"),
        "droits[0].taux_incapacite",
        "droit.taux_incoherent",
        id="aah-L821-1-at-50-79",
    ),
    pytest.param(
        dossier,
        rights(right("A1", "1.2", taux_incapacite=">=80")),
        "droits[0].taux_incapacite",
        "droit.taux_incoherent",
        id="aah-L821-2-at-80",
    ),
    pytest.param(
        dossier,
        at("droits.2.taux_incapacite", "50-79"),
        "droits[2].taux_incapacite",
        "droit.taux_incoherent",
        id="cmi-invalidite-at-50-79",
    ),
    pytest.param(
        dossier,
        rights(right("C1", "4.3", taux_incapacite=">=80")),
        "droits[0].taux_incapacite",
        "droit.taux_incoherent",
        id="cmi-priorite-at-80",
    ),
    pytest.param(
        child,
        at("droits.0.taux_incapacite", "<50"),
        "droits[0].taux_incapacite",
        "droit.taux_incoherent",
        id="aeeh-below-50",
    ),
    # Rights: PCH block
    pytest.param(
        dossier,
        at("droits.1.pch", None),
        "droits[1].pch",
        "droit.pch_obligatoire",
        id="pch-without-block",
    ),
    pytest.param(
        dossier,
        both(
            at("transfert.mdph_destination", "971"),
            at("beneficiaire.adresse_nouvelle.code_postal", "97133"),
            at("beneficiaire.adresse_nouvelle.commune", "Saint-Barthélemy"),
        ),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.collectivite_outre_mer",
        id="saint-barthelemy-97133-is-not-guadeloupe-but-a-collectivity",
    ),
    pytest.param(
        dossier,
        both(
            at("beneficiaire.adresse_nouvelle.code_postal", "05110"),
            at("beneficiaire.adresse_nouvelle.commune", "La Saulce"),
        ),
        "beneficiaire.adresse_nouvelle.code_postal",
        "adresse.departement",
        id="la-saulce-05110-is-in-05-not-62",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.lieu_de_vie", {"type": "etablissement"}),
        "beneficiaire.lieu_de_vie.finess",
        "lieu_de_vie.finess_obligatoire",
        id="lives-in-an-establishment-without-finess",
    ),
    pytest.param(
        dossier,
        at("beneficiaire.lieu_de_vie", {"type": "domicile", "finess": "620001230"}),
        "beneficiaire.lieu_de_vie.finess",
        "lieu_de_vie.finess_interdit",
        id="lives-at-home-with-a-finess",
    ),
    pytest.param(
        dossier,
        both(
            at("beneficiaire.etablissement_accueil_finess", "590004560"),
            at("beneficiaire.lieu_de_vie", {"type": "etablissement", "finess": "620001230"}),
        ),
        "beneficiaire.etablissement_accueil_finess",
        "lieu_de_vie.incoherent",
        id="two-different-establishments",
    ),
    pytest.param(
        dossier,
        # A human-help type under another category: the block is refused whole (no crash).
        rights(right("P1", "5.1", categorie="1", pch={**PCH_BLOCK, "heures_mensuelles": None})),
        "droits[0].pch",
        "droit.pch_interdit",
        id="pch-block-under-another-category",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.heures_mensuelles", None),
        "droits[1].pch.heures_mensuelles",
        "droit.pch_heures_obligatoires",
        id="pch-human-help-without-hours",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.versements", [PAYMENT]),
        "droits[1].pch.versements",
        "droit.pch_versements_interdits",
        id="pch-human-help-with-one-off-payments",
    ),
    pytest.param(
        dossier,
        at("droits.0.pch", PCH_BLOCK),
        "droits[0].pch",
        "droit.pch_interdit",
        id="block-on-aah",
    ),
    pytest.param(
        dossier,
        without("droits.1.pch.heures_mensuelles.aidant_familial"),
        "droits[1].pch.heures_mensuelles.aidant_familial",
        "champ.obligatoire",
        id="pch-hours-missing",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.heures_mensuelles.prestataire", 745),
        "droits[1].pch.heures_mensuelles.prestataire",
        "champ.borne",
        id="pch-745-hours",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.heures_mensuelles.prestataire", -1),
        "droits[1].pch.heures_mensuelles.prestataire",
        "champ.borne",
        id="pch-negative-hours",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.heures_mensuelles.prestataire", "60"),
        "droits[1].pch.heures_mensuelles.prestataire",
        "champ.nombre",
        id="pch-hours-as-text",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.heures_mensuelles.prestataire", True),
        "droits[1].pch.heures_mensuelles.prestataire",
        "champ.nombre",
        id="pch-hours-boolean",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.heures_mensuelles.prestataire", float("inf")),
        "droits[1].pch.heures_mensuelles.prestataire",
        "champ.nombre",
        id="pch-hours-infinite",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.montant_mensuel", "1471,20"),
        "droits[1].pch.montant_mensuel",
        "champ.nombre",
        id="pch-amount-text",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.montant_mensuel", 147120000),
        "droits[1].pch.montant_mensuel",
        "champ.borne",
        id="pch-amount-in-cents",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.tarif_horaire_prestataire", -21),
        "droits[1].pch.tarif_horaire_prestataire",
        "champ.borne",
        id="pch-negative-rate",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.payeur_departement", "20"),
        "droits[1].pch.payeur_departement",
        "departement.code",
        id="pch-payer-20",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.payee_jusquau", "2027-02-30"),
        "droits[1].pch.payee_jusquau",
        "champ.date",
        id="pch-paid-until-30-february",
    ),
    pytest.param(
        dossier,
        at("droits.1.pch.element", 1),
        "droits[1].pch.element",
        "champ.inconnu",
        id="pch-unknown-key",
    ),
    pytest.param(
        dossier, at("droits.1.pch", [PCH_BLOCK]), "droits[1].pch", "champ.objet", id="pch-list"
    ),
    # Rights: AEEH compléments
    pytest.param(
        child,
        rights(aeeh(), complement("E2", "6.4", aeeh_complement=2)),
        "droits[1].aeeh_complement",
        "droit.aeeh_complement",
        id="complement-3-said-2",
    ),
    pytest.param(
        child,
        rights(aeeh(), complement("E2", "6.4", aeeh_complement=None)),
        "droits[1].aeeh_complement",
        "droit.aeeh_complement",
        id="complement-number-missing",
    ),
    pytest.param(
        child,
        at("droits.0.aeeh_complement", 1),
        "droits[0].aeeh_complement",
        "droit.aeeh_complement_interdit",
        id="complement-on-base",
    ),
    pytest.param(
        dossier,
        at("droits.0.aeeh_complement", 1),
        "droits[0].aeeh_complement",
        "droit.aeeh_complement_interdit",
        id="complement-on-aah",
    ),
    pytest.param(
        child,
        rights(aeeh(), complement("E2", "6.7", aeeh_complement=7)),
        "droits[1].aeeh_complement",
        "champ.borne",
        id="complement-7",
    ),
    pytest.param(
        child,
        rights(aeeh(), complement("E2", "6.4", aeeh_complement="3")),
        "droits[1].aeeh_complement",
        "champ.entier",
        id="complement-as-text",
    ),
    pytest.param(
        child,
        rights(aeeh(), complement("E2", "6.2", aeeh_complement=True)),
        "droits[1].aeeh_complement",
        "champ.entier",
        id="complement-boolean",
    ),
    pytest.param(
        child,
        rights(aeeh(), complement("E2", "6.4", aeeh_complement=3.0)),
        "droits[1].aeeh_complement",
        "champ.entier",
        id="complement-decimal",
    ),
    # Rights: age conditions
    pytest.param(
        lambda: child(date(2006, 6, 1)),
        rights(
            aeeh(
                date_ouverture="2026-06-01", date_decision="2026-05-01", date_echeance="2026-08-31"
            )
        ),
        "droits[0].date_ouverture",
        "droit.aeeh_age",
        id="aeeh-opened-at-20",
    ),
    pytest.param(
        lambda: child(date(2010, 9, 1)),
        rights(
            right(
                "A1",
                "1.2",
                taux_incapacite="50-79",
                date_ouverture="2026-08-31",
                date_decision="2026-08-20",
                date_echeance="2031-08-30",
            )
        ),
        "droits[0].date_ouverture",
        "droit.aah_age",
        id="aah-opened-at-15",
    ),
    pytest.param(
        lambda: child(date(2006, 6, 1)),
        rights(right("O1", "7.7", date_echeance="2026-06-02")),
        "droits[0].creton",
        "droit.creton",
        id="child-establishment-past-20",
    ),
    # Rights that exclude each other
    pytest.param(
        child,
        rights(aeeh(), complement("E2"), right("P1", "5.1")),
        "droits[2]",
        "droit.cumul_aeeh_pch",
        id="complement-and-pch-human-help",
    ),
    pytest.param(
        child,
        rights(
            right("P1", "5.9", date_echeance=None, sans_limitation_duree=True),
            aeeh(),
            complement(
                "E2",
                date_ouverture="2030-01-01",
                date_decision="2029-12-01",
                date_echeance="2031-12-31",
            ),
        ),
        "droits[2]",
        "droit.cumul_aeeh_pch",
        id="unlimited-pch-and-later-complement",
    ),
    pytest.param(
        dossier,
        at("droits.0.date_decision", "1984-06-01"),
        "droits[0].date_decision",
        "droit.avant_naissance",
        id="decided-before-birth",
    ),
    pytest.param(
        dossier,
        at("droits.0.date_ouverture", "1985-01-01"),
        "droits[0].date_ouverture",
        "droit.avant_naissance",
        id="opened-before-birth",
    ),
    pytest.param(
        dossier,
        at("droits.0.date_decision", "2026-11-21"),
        "droits[0].date_decision",
        "date.future",
        id="decided-in-the-future",
    ),
    pytest.param(
        dossier,
        at("transfert.consentement.date", "2026-12-01"),
        "transfert.consentement.date",
        "date.future",
        id="consent-in-the-future",
    ),
    pytest.param(
        dossier,
        at("pieces.0.date", "2099-01-01"),
        "pieces[0].date",
        "date.future",
        id="document-from-the-future",
    ),
    pytest.param(
        dossier,
        lambda d: d["droits"].append(right("T1", "2.2", payeur="departement")),
        "droits[4]",  # after the four rights of the published adult example
        "droit.cumul_actp_pch",
        id="actp-and-pch",
    ),
    pytest.param(
        dossier,
        at("droits.1.payeur", "caf"),
        "droits[1].payeur",
        "droit.payeur",
        id="pch-paid-by-the-caf",
    ),
    pytest.param(
        dossier,
        at("droits.0.payeur", "departement"),
        "droits[0].payeur",
        "droit.payeur",
        id="aah-paid-by-the-departement",
    ),
    pytest.param(
        dossier,
        at("droits.0.statut", "echu"),
        "droits[0].statut",
        "droit.statut_echu",
        id="ended-right-running-after-the-move",
    ),
    pytest.param(
        dossier,
        lambda d: d["droits"].append(right("T1", "2.1", payeur="departement")),
        "droits[4]",
        "droit.cumul_actp_pch",
        id="acfp-and-pch",
    ),
    # Pending requests
    pytest.param(
        dossier,
        at("demandes_en_cours.0.date_certificat_medical", "2025-09-15"),
        "demandes_en_cours[0].date_certificat_medical",
        "demande.certificat_ancien",
        id="certificate-12-months-old",
    ),
    pytest.param(
        dossier,
        at("demandes_en_cours.0.date_depot", "2026-11-21"),
        "demandes_en_cours[0].date_depot",
        "demande.date_depot",
        id="lodged-tomorrow",
    ),
    pytest.param(
        dossier,
        at("demandes_en_cours.0.date_depot", "1985-03-13"),
        "demandes_en_cours[0].date_depot",
        "demande.date_depot",
        id="lodged-before-birth",
    ),
    pytest.param(
        dossier,
        at("demandes_en_cours.0.type", "99"),
        "demandes_en_cours[0].type",
        "droit.type_inconnu",
        id="request-type",
    ),
    pytest.param(
        dossier,
        at("demandes_en_cours.0.etape", "notification"),
        "demandes_en_cours[0].etape",
        "champ.choix",
        id="request-step",
    ),
    pytest.param(
        dossier,
        without("demandes_en_cours.0.date_certificat_medical"),
        "demandes_en_cours[0].date_certificat_medical",
        "champ.obligatoire",
        id="request-without-certificate",
    ),
    pytest.param(
        dossier,
        at("demandes_en_cours.0", "RQTH"),
        "demandes_en_cours[0]",
        "champ.objet",
        id="request-not-object",
    ),
    # Medical evaluation
    pytest.param(
        dossier,
        at("evaluation_medicale", "texte"),
        "evaluation_medicale",
        "champ.objet",
        id="evaluation-text",
    ),
    pytest.param(
        dossier,
        at("evaluation_medicale", [{"cim10": "G80"}]),
        "evaluation_medicale",
        "champ.objet",
        id="evaluation-list",
    ),
]


@pytest.mark.parametrize(("base", "edit", "chemin", "code"), INVALID)
def test_invalid_dossier_reports_path_and_code(
    base: Callable[[], Dossier], edit: Edit, chemin: str, code: str
) -> None:
    assert (chemin, code) in pairs(build(base, edit))


@pytest.mark.parametrize(("base", "edit", "chemin", "code"), INVALID)
def test_every_message_is_filled_in_french_catalogue_text(
    base: Callable[[], Dossier], edit: Edit, chemin: str, code: str
) -> None:
    erreurs = problems(build(base, edit))

    assert len({(e["chemin"], e["code"]) for e in erreurs}) == len(erreurs), "duplicate error"
    for item in erreurs:
        assert item["code"] in CATALOGUE
        assert item["message"], item
        assert "{" not in item["message"], item


def _aah(taux: str) -> Callable[[str], dict[str, Any]]:
    type_ = "1.1" if taux == ">=80" else "1.2"
    return lambda end: right(
        "A1",
        type_,
        taux_incapacite=taux,
        date_decision="2023-05-10",
        date_ouverture="2023-06-01",
        date_echeance=end,
    )


def _opened(type_: str, opened: str, **changes: Any) -> Callable[[str], dict[str, Any]]:
    return lambda end: right(
        "R1", type_, date_decision=opened, date_ouverture=opened, date_echeance=end, **changes
    )


# base, right ending on a given date, last end date allowed
DURATIONS: list[Any] = [
    pytest.param(dossier, _aah(">=80"), "2033-06-01", id="aah-80-10-years"),
    pytest.param(dossier, _aah("50-79"), "2028-06-01", id="aah-50-79-5-years"),
    pytest.param(dossier, _opened("4.1", "2010-01-01"), "2030-01-01", id="cmi-20-years"),
    pytest.param(
        dossier,
        _opened("4.2", "2010-01-01", taux_incapacite=">=80"),
        "2030-01-01",
        id="cmi-invalidite-20-years",
    ),
    pytest.param(dossier, _opened("5.1", "2022-01-01"), "2032-01-01", id="pch-10-years"),
    pytest.param(dossier, _opened("12", "2020-01-01"), "2030-01-01", id="rqth-10-years"),
    pytest.param(dossier, _opened("11.4", "2020-01-01"), "2030-01-01", id="esat-10-years"),
    pytest.param(dossier, _opened("2.2", "2020-01-01"), "2030-01-01", id="actp-10-years"),
    pytest.param(
        child,
        _opened("6.1", "2024-09-01", taux_incapacite=">=80"),
        "2032-04-10",
        id="aeeh-80-until-20",
    ),
    pytest.param(
        child,
        _opened("6.1", "2024-09-01", taux_incapacite="50-79"),
        "2029-09-01",
        id="aeeh-50-79-5-years",
    ),
    pytest.param(
        child,
        _opened("6.4", "2024-09-01", taux_incapacite=">=80"),
        "2029-09-01",
        id="aeeh-complement-5-years",
    ),
    pytest.param(
        lambda: child(date(2008, 1, 15)),
        _opened("6.1", "2025-01-01", taux_incapacite="50-79"),
        "2028-01-15",
        id="aeeh-50-79-stops-at-20",
    ),
    pytest.param(
        lambda: child(date(2008, 2, 29)),
        _opened("6.1", "2025-01-01", taux_incapacite=">=80"),
        "2028-02-29",
        id="aeeh-born-29-february",
    ),
]


@pytest.mark.parametrize(("base", "make", "latest"), DURATIONS)
def test_right_may_last_up_to_its_legal_maximum(
    base: Callable[[], Dossier], make: Callable[[str], dict[str, Any]], latest: str
) -> None:
    assert problems(build(base, rights(make(latest)))) == []


@pytest.mark.parametrize(("base", "make", "latest"), DURATIONS)
def test_right_longer_than_its_legal_maximum_is_refused(
    base: Callable[[], Dossier], make: Callable[[str], dict[str, Any]], latest: str
) -> None:
    day_after = date.fromisoformat(latest).toordinal() + 1
    too_long = date.fromordinal(day_after).isoformat()

    erreurs = problems(build(base, rights(make(too_long))))

    assert [(e["chemin"], e["code"]) for e in erreurs] == [
        ("droits[0].date_echeance", "droit.duree_max")
    ]
    assert f"{date.fromisoformat(latest):%d/%m/%Y}" in erreurs[0]["message"]


RULE_PREFIXES = (
    "beneficiaire.",
    "personne.",
    "adresse.",
    "finess.",
    "representant.",
    "droit.",
    "demande.",
)


def test_every_rule_has_a_refused_case() -> None:
    covered = {param.values[3] for param in INVALID} | {"droit.duree_max"}
    rules = {code for code in CATALOGUE if code.startswith(RULE_PREFIXES)}
    rules |= {"transfert.demenagement_avant_naissance", "champ.nombre", "champ.liste_vide"}

    assert rules - covered == set()


def test_every_mistake_is_reported_at_once_each_at_its_path() -> None:
    data = dossier()
    data["beneficiaire"]["nir"] = "285035935012358"
    data["beneficiaire"]["adresse_nouvelle"]["code_postal"] = "59000"
    data["droits"][0]["date_echeance"] = "2035-05-31"
    data["droits"][1]["pch"] = None
    data["droits"][2]["identifiant"] = "D1"
    data["demandes_en_cours"][0]["date_certificat_medical"] = "2024-01-01"
    data["pieces"][0]["sha256"] = "nope"

    assert pairs(data) == {
        ("beneficiaire.nir", "beneficiaire.nir_cle"),
        ("beneficiaire.adresse_nouvelle.code_postal", "adresse.departement"),
        ("droits[0].date_echeance", "droit.duree_max"),
        ("droits[1].pch", "droit.pch_obligatoire"),
        ("droits[2].identifiant", "droit.identifiant_double"),
        ("demandes_en_cours[0].date_certificat_medical", "demande.certificat_ancien"),
        ("pieces[0].sha256", "piece.sha256"),
    }


def test_rules_still_run_on_the_valid_parts_of_a_refused_right() -> None:
    data = dossier()
    data["droits"][0]["statut"] = "ferme"
    data["droits"][0]["taux_incapacite"] = None

    assert pairs(data) == {
        ("droits[0].statut", "champ.choix"),
        ("droits[0].taux_incapacite", "droit.taux_obligatoire"),
    }


def test_a_null_right_does_not_shift_the_other_rights_errors() -> None:
    data = dossier()
    data["droits"].insert(1, None)
    data["droits"][2]["identifiant"] = "D1"

    assert pairs(data) == {("droits[1]", "champ.nul")}


def test_a_refused_birth_date_does_not_give_nir_errors() -> None:
    data = dossier()
    data["beneficiaire"]["date_naissance"] = "14/03/1985"

    assert pairs(data) == {("beneficiaire.date_naissance", "champ.date")}


def test_birth_in_the_past_is_judged_on_the_reference_date() -> None:
    data = build(dossier, born(date(2026, 11, 21)))

    with reference_date(date(2026, 11, 21)):
        assert ("beneficiaire.date_naissance", "beneficiaire.date_naissance") not in pairs(data)


def test_address_message_names_both_departements() -> None:
    data = build(dossier, at("beneficiaire.adresse_nouvelle.code_postal", "20090"))

    (item,) = problems(data)

    assert "20090" in item["message"]
    assert "2A" in item["message"]
    assert "(62)" in item["message"]


def test_type_message_lists_the_category_types_in_order() -> None:
    erreurs = problems(build(dossier, at("droits.1.type", "1.1")))
    (item,) = [e for e in erreurs if e["code"] == "droit.type_categorie"]

    assert item["message"].endswith("5.1, 5.2, 5.3, 5.4, 5.5, 5.6, 5.7, 5.8, 5.9, 5.10.")


def test_overlap_message_names_the_other_right() -> None:
    data = build(child, rights(aeeh(), complement("E2"), right("P1", "5.1")))

    (item,) = problems(data)

    assert "« E2 »" in item["message"]


def test_certificate_message_gives_the_oldest_date_accepted() -> None:
    data = build(dossier, at("demandes_en_cours.0.date_certificat_medical", "2025-09-15"))

    (item,) = problems(data)

    assert "16/09/2025" in item["message"]
