"""Départements' rule sets as data: each value with its source, versioned by date of effect."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Generic, TypeVar

from mdph_bridge.domain.places import Place

T = TypeVar("T")

# How an extra-legal aid of the origin ends after a move: on the move date, or when the domicile
# de secours is acquired in the destination (move + 3 months).
ENDS_ON_MOVE = "demenagement"
ENDS_ON_DOMICILE = "domicile_secours"
AID_ENDS = (ENDS_ON_MOVE, ENDS_ON_DOMICILE)
PAYMENT_MODES = ("cesu", "virement")


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A rule value with where it comes from; `to_confirm` marks a placeholder."""

    value: T
    source: str
    to_confirm: bool = False


@dataclass(frozen=True)
class Contact:
    """Where the other MDPH reaches the département's transfer service."""

    service: str
    email: str
    phone: str
    source: str
    to_confirm: bool = False


@dataclass(frozen=True)
class ExtraLegalAid:
    """An aid a département grants beyond the law; `category` tells what is equivalent elsewhere."""

    code: str
    label: str
    category: str
    ends: str
    source: str
    to_confirm: bool = False
    legal: bool = False  # legal aide sociale every département owes (e.g. L241-1 services ménagers)


@dataclass(frozen=True)
class NationalRules:
    """The PCH human-help rates set nationally, from `effective` (CASF annexe 2-5, D314-130-1)."""

    effective: date
    direct_employment_rate: Sourced[Decimal]
    mandatary_rate: Sourced[Decimal]
    family_carer_rate: Sourced[Decimal]  # general rate of a family carer's compensation
    home_service_floor: Sourced[Decimal]
    direct_employment_care_rate: Sourced[Decimal]  # helper performing care gestures
    mandatary_care_rate: Sourced[Decimal]
    family_carer_full_rate: Sourced[Decimal]  # carer who gave up or reduced work

    def values(self) -> dict[str, Sourced[Decimal]]:
        """Every rate by its name in the rule file, for checks and listings."""
        return {
            "tarif_emploi_direct": self.direct_employment_rate,
            "tarif_emploi_direct_gestes_soins": self.direct_employment_care_rate,
            "tarif_mandataire": self.mandatary_rate,
            "tarif_mandataire_gestes_soins": self.mandatary_care_rate,
            "tarif_aidant_familial": self.family_carer_rate,
            "tarif_aidant_familial_cessation_activite": self.family_carer_full_rate,
            "tarif_plancher_saad": self.home_service_floor,
        }

    @property
    def version(self) -> str:
        """Identifier of this version in reports."""
        return f"national@{self.effective.isoformat()}"


@dataclass(frozen=True)
class DepartementRules:
    """One département's rules from `effective` until its next version."""

    code: str
    name: str
    article: str
    effective: date
    home_service_rate: Sourced[Decimal]
    payment_mode: Sourced[str]
    certificate_max_months: Sourced[int]
    urgent_pch_days: Sourced[int]
    contact: Contact
    aids: tuple[ExtraLegalAid, ...] = ()

    @property
    def version(self) -> str:
        """Identifier of this version in reports."""
        return f"{self.code}@{self.effective.isoformat()}"

    @property
    def place(self) -> Place:
        """How reports name the département."""
        return Place(self.code, self.name, self.article)

    def aid(self, code: str) -> ExtraLegalAid | None:
        """The extra-legal aid with this code, if the département has it."""
        return next((aid for aid in self.aids if aid.code == code), None)

    def equivalent_of(self, aid: ExtraLegalAid) -> ExtraLegalAid | None:
        """This département's aid of the same category as `aid`, if any."""
        return next((own for own in self.aids if own.category == aid.category), None)


def _in_force(versions: tuple[T, ...], dates: list[date], day: date) -> T | None:
    """The last version whose date of effect is on or before `day`."""
    current = None
    for version, effective in zip(versions, dates, strict=True):
        if effective <= day:
            current = version
    return current


@dataclass(frozen=True)
class RuleBook:
    """Every rule set known to the hub, each as a list of versions in date order."""

    national: tuple[NationalRules, ...]
    departements: dict[str, tuple[DepartementRules, ...]] = field(default_factory=dict)
    places: dict[str, Place] = field(default_factory=dict)  # every département, by name

    @cached_property
    def named_places(self) -> dict[str, Place]:
        """Every département, named as its latest rule set names it: built once, not per move."""
        latest = {code: rules[-1].place for code, rules in self.departements.items() if rules}
        return self.places | latest

    def national_at(self, day: date) -> NationalRules:
        """National rates in force on `day` (the earliest version before any is in force)."""
        found = _in_force(self.national, [v.effective for v in self.national], day)
        return found or self.national[0]

    def departement_at(self, code: str, day: date) -> DepartementRules | None:
        """The département's rules in force on `day`, or None if none is (yet) in force."""
        versions = self.departements.get(code, ())
        return _in_force(versions, [v.effective for v in versions], day)
