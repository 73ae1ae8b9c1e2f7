"""The TRE_R420 rights nomenclature and the legal rules of each right (docs/DOMAIN.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mdph_bridge.domain.dates import add_years


def _numbered(category: str, count: int) -> frozenset[str]:
    return frozenset(f"{category}.{n}" for n in range(1, count + 1))


# Category (level 1) -> its types (level 2), as listed in docs/DOMAIN.md §3.1. A category without
# sub-types there (AVA, MPA, RQTH, PCPE) has a single type written like the category.
TYPES_BY_CATEGORY: dict[str, frozenset[str]] = {
    "1": _numbered("1", 2),  # AAH L821-1 (≥ 80 %) / L821-2 (50–79 %)
    "2": _numbered("2", 2),  # allocation compensatrice: ACFP / ACTP
    "3": frozenset({"3"}),  # AVA, old-age insurance of the carer
    "4": _numbered("4", 3),  # CMI stationnement / invalidité / priorité
    "5": _numbered("5", 10),  # PCH elements 1–5 and parenthood help
    "6": _numbered("6", 7),  # AEEH base / compléments 1–6
    "7": _numbered("7", 13) | {"7.99"},  # orientation towards a child establishment or service
    "8": _numbered("8", 10),  # school orientation
    "9": frozenset({"9"}),  # adapted school equipment (MPA)
    "10": _numbered("10", 2),  # AESH individual / shared
    "11": _numbered("11", 7),  # vocational rehabilitation, ESAT, supported employment
    "12": frozenset({"12"}),  # RQTH
    "13": _numbered("13", 5) | {"13.99"},  # orientation towards an adult establishment or service
    "14": frozenset({"14"}),  # PCPE
}
ALL_TYPES = frozenset().union(*TYPES_BY_CATEGORY.values())

AAH = "1"
ALLOCATION_COMPENSATRICE = "2"
CMI = "4"
PCH = "5"
AEEH = "6"
CHILD_ESTABLISHMENT = "7"
VOCATIONAL = "11"
RQTH = "12"
AAH_80 = "1.1"
AAH_50_79 = "1.2"
CMI_INVALIDITE = "4.2"
CMI_PRIORITE = "4.3"
AEEH_BASE = "6.1"
PCH_HUMAN_HELP = frozenset({"5.1", "5.9"})  # element 1, with its parenthood part
# Paid once on invoice (CASF annexe 2-5): technical aids (element 2, and for parenthood), housing
# and vehicle fitting (element 3), exceptional costs (element 4).
PCH_ONE_OFF = frozenset({"5.2", "5.3", "5.4", "5.7", "5.10"})
PCH_HOUSING = frozenset({"5.3"})
AEEH_COMPLEMENTS = {f"6.{n + 1}": n for n in range(1, 7)}  # 6.2 → complément 1 … 6.7 → 6

RATE_BELOW_50 = "<50"
RATE_50_79 = "50-79"
RATE_80 = ">=80"
RATES = (RATE_BELOW_50, RATE_50_79, RATE_80)

AEEH_END_AGE = 20  # AEEH is for children: it stops at 20
AAH_START_AGE = 16  # AAH from 20, or from 16 for a young person no longer a dependent child
CRETON_AGE = 20  # past 20, a child establishment needs the Creton amendment
FAMILY_FUND_PAYERS = frozenset({"caf", "msa"})  # they match the person on a certified NIR
# Who may pay each kind of right (docs/DOMAIN.md §3.2); other categories have no fixed payer.
PAYERS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "1": ("caf", "msa"),  # AAH
    "2": ("departement",),  # allocation compensatrice
    "5": ("departement",),  # PCH
    "6": ("caf", "msa"),  # AEEH
}

# Default ceiling for the rights no text gives a maximum (orientations, allocation
# compensatrice, AVA, RQTH with a term…): 10 years, the longest term of docs/DOMAIN.md §3.3
# (AAH at 80 %, PCH). It catches typing mistakes without second-guessing a CDAPH.
DEFAULT_MAX_YEARS = 10


@dataclass(frozen=True)
class Limit:
    """The longest a right may run: years from its opening, and/or until a birthday."""

    years: int | None = None
    until_age: int | None = None

    def latest_end(self, ouverture: date, birth: date | None) -> date | None:
        """Last end date allowed for a right opened on `ouverture` (birth needed for ages)."""
        ends = [] if self.years is None else [add_years(ouverture, self.years)]
        if self.until_age is not None and birth is not None:
            ends.append(add_years(birth, self.until_age))
        return min(ends, default=None)


def category_of(type_: str) -> str:
    """Category of a type code: what comes before its dot."""
    return type_.split(".")[0]


def belongs_to(type_: str, categorie: str) -> bool:
    """Tell whether `type_` is one of the types of `categorie`."""
    return type_ in TYPES_BY_CATEGORY.get(categorie, frozenset())


def complement_number(type_: str) -> int | None:
    """Number (1 to 6) of the AEEH complément a type stands for, None for any other right."""
    return AEEH_COMPLEMENTS.get(type_)


def needs_rate(type_: str) -> bool:
    """Tell whether a right is granted on an incapacity rate: AAH, AEEH, CMI invalidité/priorité."""
    return category_of(type_) in (AAH, AEEH) or type_ in (CMI_INVALIDITE, CMI_PRIORITE)


def allowed_rates(type_: str) -> tuple[str, ...]:
    """Incapacity rates a right can be granted on (every rate for a right that has no condition)."""
    if type_ in (AAH_80, CMI_INVALIDITE):
        return (RATE_80,)
    if type_ == AAH_50_79:
        return (RATE_50_79,)
    if type_ == CMI_PRIORITE:
        return (RATE_BELOW_50, RATE_50_79)
    if category_of(type_) == AEEH:
        return (RATE_50_79, RATE_80)
    return RATES


def may_be_unlimited(type_: str, taux: str | None) -> bool:
    """Tell whether the law lets this right be granted without a time limit.

    AAH, CMI invalidité and AEEH base at 80 % or more (décret 2018-1222), RQTH when the
    impairment is permanent, and every PCH element (since 1 January 2022).
    """
    if category_of(type_) in (PCH, RQTH):
        return True
    return taux == RATE_80 and (category_of(type_) == AAH or type_ in (CMI_INVALIDITE, AEEH_BASE))


def legal_limit(type_: str, taux: str | None) -> Limit | None:
    """Longest term a right may be granted for, or None while its rate is unknown."""
    category = category_of(type_)
    if category == AAH:
        return None if taux is None else Limit(years=10 if taux == RATE_80 else 5)
    if category == AEEH:
        return _aeeh_limit(type_, taux)
    if category == CMI:
        return Limit(years=20)
    if category == PCH:
        return Limit(years=10)
    return Limit(years=DEFAULT_MAX_YEARS)


def _aeeh_limit(type_: str, taux: str | None) -> Limit | None:
    """AEEH base: up to 20 at 80 % or more, else 5 years; compléments: 5 years; never past 20."""
    if type_ == AEEH_BASE and taux is None:
        return None
    if type_ == AEEH_BASE and taux == RATE_80:
        return Limit(until_age=AEEH_END_AGE)
    return Limit(years=5, until_age=AEEH_END_AGE)


def may_conflict(type_: str) -> bool:
    """Tell whether a right is one side of an option between two (below): only such rights need
    comparing with the others, and most dossiers hold one or none."""
    return type_ in AEEH_COMPLEMENTS or category_of(type_) in (ALLOCATION_COMPENSATRICE, PCH)


def aeeh_pch_conflict(type_a: str, type_b: str) -> bool:
    """Tell whether two rights are an AEEH complément and PCH human help: the family chooses one."""
    pair = (type_a, type_b)
    return any(t in AEEH_COMPLEMENTS for t in pair) and any(t in PCH_HUMAN_HELP for t in pair)


def compensatrice_pch_conflict(type_a: str, type_b: str) -> bool:
    """Tell whether two rights are an allocation compensatrice (ACTP, ACFP) and a PCH: the
    person keeps one or the other."""
    return {category_of(type_a), category_of(type_b)} == {ALLOCATION_COMPENSATRICE, PCH}


# Short French names of the rights, as agents call them (docs/DOMAIN.md §3.1).
CATEGORY_LABELS: dict[str, str] = {
    "1": "AAH",
    "2": "Allocation compensatrice",
    "3": "Assurance vieillesse de l'aidant (AVA)",
    "4": "Carte mobilité inclusion (CMI)",
    "5": "PCH",
    "6": "AEEH",
    "7": "Orientation vers un établissement ou service pour enfants",
    "8": "Orientation scolaire",
    "9": "Matériel pédagogique adapté",
    "10": "Accompagnement par un AESH",
    "11": "Orientation professionnelle",
    "12": "RQTH",
    "13": "Orientation vers un établissement ou service pour adultes",
    "14": "PCPE",
}
TYPE_LABELS: dict[str, str] = {
    "1.1": "AAH (taux d'au moins 80 %)",
    "1.2": "AAH (taux de 50 à 79 %)",
    "2.1": "ACFP",
    "2.2": "ACTP",
    "4.1": "CMI stationnement",
    "4.2": "CMI invalidité",
    "4.3": "CMI priorité",
    "5.1": "PCH aide humaine",
    "5.2": "PCH aides techniques",
    "5.3": "PCH aménagement du logement",
    "5.4": "PCH aménagement du véhicule",
    "5.5": "PCH surcoûts de transport",
    "5.6": "PCH charges spécifiques",
    "5.7": "PCH charges exceptionnelles",
    "5.8": "PCH aide animalière",
    "5.9": "PCH aide humaine à la parentalité",
    "5.10": "PCH aides techniques à la parentalité",
    "6.1": "AEEH de base",
    "11.4": "Orientation en ESAT",
    "13.1": "Orientation en établissement d'accueil non médicalisé",
    "13.2": "Orientation en établissement d'accueil médicalisé",
    "13.3": "Orientation en MAS",
    "13.4": "Accompagnement par un SAVS",
    "13.5": "Accompagnement par un SAMSAH",
}


def label(type_: str) -> str:
    """French name of a right type, e.g. « PCH aide humaine » or « AEEH complément 2 »."""
    if type_ in TYPE_LABELS:
        return TYPE_LABELS[type_]
    complement = complement_number(type_)
    if complement is not None:
        return f"AEEH complément {complement}"
    category = category_of(type_)
    return (
        CATEGORY_LABELS[category] if type_ == category else f"{CATEGORY_LABELS[category]} ({type_})"
    )
