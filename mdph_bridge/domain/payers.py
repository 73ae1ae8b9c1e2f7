"""Who pays a right on each day after a move; PCH human help at the destination's tariffs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from mdph_bridge.domain.places import Place
from mdph_bridge.domain.rights import (
    ALLOCATION_COMPENSATRICE,
    CMI,
    PAYERS_BY_CATEGORY,
    PCH,
    RQTH,
    VOCATIONAL,
    category_of,
)
from mdph_bridge.domain.rulesets import DepartementRules, NationalRules, Sourced

ONE_DAY = timedelta(days=1)
CENT = Decimal("0.01")
HOUR_MODES = (
    "emploi_direct",
    "emploi_direct_gestes_soins",
    "mandataire",
    "mandataire_gestes_soins",
    "prestataire",
    "aidant_familial",
    "aidant_familial_cessation_activite",
)
# Paid by the département of the domicile de secours (CASF L245-2): PCH, ACFP, ACTP.
DEPARTEMENT_RIGHTS = frozenset({PCH, ALLOCATION_COMPENSATRICE})
FAMILY_FUNDS = {"caf": "CAF", "msa": "MSA"}
NATIONAL_PAYERS = {
    "etat": "l'État",
    "assurance_maladie": "l'Assurance maladie",
    "education_nationale": "l'Éducation nationale",
    "autre": "l'organisme compétent",
}
MODE_NAMES = {
    "emploi_direct": "emploi direct",
    "emploi_direct_gestes_soins": "emploi direct avec gestes de soins",
    "mandataire": "service mandataire",
    "mandataire_gestes_soins": "service mandataire avec gestes de soins",
    "prestataire": "service prestataire",
    "aidant_familial": "aidant familial",
    "aidant_familial_cessation_activite": "aidant familial ayant cessé son activité",
}
NO_PAYMENT = "aucun"
# Who stands behind a right follows from the right itself, not from the file's free `payeur`:
# a card or a recognition pays nothing and is valid everywhere (CASF L241-3, CT L5213-2).
PAYERS_OF_CATEGORY = {
    CMI: (NO_PAYMENT, "aucun versement : carte valable sur tout le territoire"),
    RQTH: (NO_PAYMENT, "aucun versement : reconnaissance valable sur tout le territoire"),
    VOCATIONAL: ("autre", "France Travail ou Cap emploi (orientation professionnelle)"),
}


@dataclass(frozen=True)
class Sides:
    """The two départements of a move, and when the domicile de secours moves to the destination."""

    origin: Place
    destination: Place
    domicile_on: date | None  # None: the DS does not move (establishment, no move…)
    places: dict[str, Place]
    same_home: bool = False  # the file crosses the border, the person does not move

    def place(self, code: str) -> Place:
        """A département by code, named when its rule set is known."""
        return self.places.get(code, Place(code))


def euros(amount: Decimal, signed: bool = False) -> str:
    """An amount as French agents read it, 1 471,20 € (or +60,00 € for a difference)."""
    text = f"{amount:{'+' if signed else ''},.2f} €"
    return text.replace(",", "\u202f").replace(".", ",")


def payer_kind(right: dict[str, Any]) -> str:
    """Who pays: the file's payer, within what the law allows for PCH, ACTP, AAH and AEEH."""
    allowed = PAYERS_BY_CATEGORY.get(category_of(right["type"]))
    if allowed is not None and right["payeur"] not in allowed:
        return allowed[0]
    return str(right["payeur"])


def payer_periods(
    right: dict[str, Any], sides: Sides, start: date, end: date | None
) -> list[dict[str, Any]]:
    """Who pays, period by period, from `start` to the right's end, leaving no day uncovered."""
    kind = payer_kind(right)
    if kind == "departement":
        current = (right["pch"] or {}).get("payeur_departement") or sides.origin.code
        switch = sides.domicile_on
        now = _council(sides.place(current))
        if switch is None or current == sides.destination.code or (end and switch > end):
            return [_period(start, end, now)]
        later = _council(sides.destination)
        if switch <= start:
            return [_period(start, end, later)]
        return [_period(start, switch - ONE_DAY, now), _period(switch, end, later)]
    if kind in FAMILY_FUNDS:
        code = sides.origin.code if sides.same_home else sides.destination.code
        where = "de l'adresse" if sides.same_home else "de la nouvelle adresse"
        label = f"la {FAMILY_FUNDS[kind]} {where} ({code})"
        return [_period(start, end, {"organisme": kind, "departement": code, "libelle": label})]
    kind, label = PAYERS_OF_CATEGORY.get(category_of(right["type"]), (kind, NATIONAL_PAYERS[kind]))
    return [_period(start, end, {"organisme": kind, "departement": None, "libelle": label})]


def _council(place: Place) -> dict[str, Any]:
    return {"organisme": "departement", "departement": place.code, "libelle": place.council()}


def _period(start: date, end: date | None, payer: dict[str, Any]) -> dict[str, Any]:
    return {"du": start.isoformat(), "au": end and end.isoformat(), "payeur": payer}


def _at_least(rate: Sourced[Decimal], floor: Sourced[Decimal]) -> Sourced[Decimal]:
    """A département's rate, or the national floor in force when that is higher (D314-130-1)."""
    return rate if rate.value >= floor.value else floor


def _hours(value: Decimal) -> str:
    return f"{value.normalize():f}"


def pch_amounts(
    pch: dict[str, Any],
    national: NationalRules,
    origin: DepartementRules | None,
    destination: DepartementRules | None,
    sides: Sides,
    from_day: str,
) -> dict[str, Any]:
    """The monthly human-help amount at the destination's tariffs, beside the origin's.

    Every rate is the one in force on `from_day` (`national` is that day's version); a
    département's home-service rate below that day's national floor is lifted to it.
    """
    floor = national.home_service_floor
    declared = pch.get("tarif_horaire_prestataire")
    origin_home: Sourced[Decimal] = (
        Sourced(Decimal(str(declared)).quantize(CENT), "dossier")
        if declared is not None
        else _at_least(origin.home_service_rate, floor)
        if origin
        else floor
    )
    dest_home = _at_least(destination.home_service_rate, floor) if destination else floor
    rates = {
        "emploi_direct": (national.direct_employment_rate,) * 2,
        "emploi_direct_gestes_soins": (national.direct_employment_care_rate,) * 2,
        "mandataire": (national.mandatary_rate,) * 2,
        "mandataire_gestes_soins": (national.mandatary_care_rate,) * 2,
        "prestataire": (origin_home, dest_home),
        "aidant_familial": (national.family_carer_rate,) * 2,
        "aidant_familial_cessation_activite": (national.family_carer_full_rate,) * 2,
    }
    lines, at_origin, at_destination, total_hours = [], Decimal(0), Decimal(0), Decimal(0)
    provisional: list[str] = []
    for mode in HOUR_MODES:
        hours = Decimal(str(pch["heures_mensuelles"].get(mode, 0)))
        if not hours:
            continue
        before, after = rates[mode]
        provisional += [mode] if before.to_confirm or after.to_confirm else []
        total_hours += hours
        at_origin += hours * before.value
        at_destination += hours * after.value
        lines.append(
            {
                "mode": mode,
                "heures": _hours(hours),
                "tarif_origine": str(before.value),
                "tarif_destination": str(after.value),
                "source_tarif_destination": after.source,
                "tarif_a_confirmer": before.to_confirm or after.to_confirm,
            }
        )
    at_origin, at_destination = at_origin.quantize(CENT), at_destination.quantize(CENT)
    declared_amount = Decimal(str(pch["montant_mensuel"])).quantize(CENT)
    to_confirm = bool(provisional)
    where = sides.destination.of() if destination else "plancher national"
    notes = [
        f"Les heures décidées par la CDAPH ({_hours(total_hours)} h par mois) sont conservées ; "
        f"au tarif {where}, le montant mensuel passe de {euros(at_origin)} à "
        f"{euros(at_destination)} (écart {euros(at_destination - at_origin, signed=True)})."
    ]
    if to_confirm:
        notes.append(
            "Montant provisoire : un tarif utilisé reste à confirmer ("
            + ", ".join(MODE_NAMES[mode] for mode in provisional)
            + ")."
        )
    if abs(declared_amount - at_origin) > 1:
        notes.append(
            f"Le montant déclaré ({euros(declared_amount)}) diffère du montant recalculé aux "
            f"tarifs d'origine ({euros(at_origin)}) : à vérifier."
        )
    return {
        "a_partir_du": from_day,
        "heures_maintenues": _hours(total_hours),
        "lignes": lines,
        "montant_mensuel_declare": str(declared_amount),
        "montant_mensuel_tarifs_origine": str(at_origin),
        "montant_mensuel_tarifs_destination": str(at_destination),
        "ecart_mensuel": str(at_destination - at_origin),
        "tarifs_a_confirmer": to_confirm,
        "explication": " ".join(notes),
    }
