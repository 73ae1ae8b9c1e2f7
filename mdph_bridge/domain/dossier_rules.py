"""Business rules of a dossier that span fields (docs/DOMAIN.md §7, docs/FORMAT.md).

They run on partly valid data, so that every problem is told at once: a rule yields each breach at
its field path, by its stable error code; `schemas/dossier.py` turns it into its French message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mdph_bridge.domain.codes import overseas_collectivity
from mdph_bridge.domain.dates import add_months, add_years, french_date, overlaps
from mdph_bridge.domain.persons import is_minor_on
from mdph_bridge.domain.residence import BORDER, DOMICILE_ALREADY
from mdph_bridge.domain.rights import (
    AAH,
    AAH_START_AGE,
    AEEH,
    AEEH_END_AGE,
    CHILD_ESTABLISHMENT,
    CRETON_AGE,
    PAYERS_BY_CATEGORY,
    PCH,
    PCH_HUMAN_HELP,
    PCH_ONE_OFF,
    TYPES_BY_CATEGORY,
    Limit,
    aeeh_pch_conflict,
    allowed_rates,
    belongs_to,
    category_of,
    compensatrice_pch_conflict,
    complement_number,
    legal_limit,
    may_be_unlimited,
    may_conflict,
    needs_rate,
)

DECISION_MONTHS_AFTER_OPENING = 6  # a CDAPH may open a right up to 6 months before deciding it
ENDED_RIGHTS_KEPT_MONTHS = 12  # the file carries rights current or ended in the last 12 months
PROTECTION_JUDGEMENT = "jugement_protection"

Data = dict[str, Any]
Path = tuple[str | int, ...]
Locate = Callable[[str, str | None], str | None]  # postcode, commune → département code


@dataclass(frozen=True)
class Breach:
    """A broken rule: its stable error code and what its message names."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


def breach(code: str, **params: Any) -> Breach:
    """The breach of the rule whose error code is `code`."""
    return Breach(code, params)


Finding = tuple[Path, Breach]


def dig(data: Any, *keys: str) -> Any:
    """The value at `keys` in partly valid data, or None where it is missing or was refused."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def is_null(data: Data, key: str) -> bool:
    """Tell whether `key` was given as null (or left out with a null default), not refused."""
    return key in data and data[key] is None


def natural(type_: str) -> tuple[int, ...]:
    """Sort key of a TRE_R420 code: 5.2 before 5.10."""
    return tuple(int(part) for part in type_.split("."))


def _type_in_category(right: Data) -> Iterator[Finding]:
    """A TRE_R420 type only makes sense under its own category."""
    type_, categorie = right.get("type"), right.get("categorie")
    if type_ is not None and categorie is not None and not belongs_to(type_, categorie):
        types = ", ".join(sorted(TYPES_BY_CATEGORY[categorie], key=natural))
        message = breach("droit.type_categorie", type=type_, categorie=categorie, types=types)
        yield ("type",), message


def _decided_soon_after_opening(right: Data) -> Iterator[Finding]:
    """A CDAPH may open a right before its decision, but not more than 6 months before."""
    decided, opened = right.get("date_decision"), right.get("date_ouverture")
    if decided is None or opened is None or decided <= opened:  # the usual order: in time
        return
    latest = add_months(opened, DECISION_MONTHS_AFTER_OPENING)
    if decided > latest:
        yield ("date_decision",), breach("droit.date_decision", date_max=french_date(latest))


def _ends_after_opening(right: Data) -> Iterator[Finding]:
    """A right cannot end before it starts."""
    opened, ends = right.get("date_ouverture"), right.get("date_echeance")
    if opened is not None and ends is not None and ends <= opened:
        yield ("date_echeance",), breach("droit.date_echeance")


def _end_date_or_unlimited(right: Data) -> Iterator[Finding]:
    """A right has either an end date or no time limit, never both nor neither."""
    if "date_echeance" not in right or "sans_limitation_duree" not in right:
        return
    unlimited, ends = right["sans_limitation_duree"], right["date_echeance"]
    if ends is None and not unlimited:
        yield ("date_echeance",), breach("droit.echeance_obligatoire")
    if ends is not None and unlimited:
        yield ("date_echeance",), breach("droit.echeance_interdite")


def _unlimited_where_allowed(right: Data) -> Iterator[Finding]:
    """Only some rights may be granted for life (docs/DOMAIN.md §3.4)."""
    type_ = right.get("type")
    if type_ is None or "taux_incapacite" not in right or not right.get("sans_limitation_duree"):
        return
    if not may_be_unlimited(type_, right["taux_incapacite"]):
        yield ("sans_limitation_duree",), breach("droit.sans_limitation")


def _rate_given_and_fitting(right: Data) -> Iterator[Finding]:
    """Rights granted on an incapacity rate need one, and the rate their type requires."""
    type_ = right.get("type")
    if type_ is None or "taux_incapacite" not in right:
        return
    taux = right["taux_incapacite"]
    if taux is None and needs_rate(type_):
        yield ("taux_incapacite",), breach("droit.taux_obligatoire")
    if taux is not None and taux not in allowed_rates(type_):
        possible = ", ".join(f"« {rate} »" for rate in allowed_rates(type_))
        yield (
            ("taux_incapacite",),
            breach("droit.taux_incoherent", taux=taux, type=type_, taux_possibles=possible),
        )


def _pch_block_for_pch_only(right: Data) -> Iterator[Finding]:
    """The destination needs the PCH plan to take over payment; other rights have none."""
    categorie = right.get("categorie")
    if categorie is None or "pch" not in right:
        return
    if categorie == PCH and right["pch"] is None:
        yield ("pch",), breach("droit.pch_obligatoire")
    if categorie != PCH and right["pch"] is not None:
        yield ("pch",), breach("droit.pch_interdit")
    block, type_ = right["pch"], right.get("type")
    if categorie != PCH or not isinstance(block, dict) or type_ is None:
        return  # a block on another right is refused whole, above
    if type_ in PCH_HUMAN_HELP:
        for key in ("heures_mensuelles", "montant_mensuel"):
            if is_null(block, key):
                yield ("pch", key), breach("droit.pch_heures_obligatoires")
    if type_ not in PCH_ONE_OFF and block.get("versements"):
        yield ("pch", "versements"), breach("droit.pch_versements_interdits")


def _complement_matches_type(right: Data) -> Iterator[Finding]:
    """The complément number must repeat the one its type code stands for."""
    type_ = right.get("type")
    if type_ is None or "aeeh_complement" not in right:
        return
    expected, given = complement_number(type_), right["aeeh_complement"]
    if expected is not None and given != expected:
        yield ("aeeh_complement",), breach("droit.aeeh_complement", type=type_, numero=expected)
    if expected is None and given is not None:
        yield ("aeeh_complement",), breach("droit.aeeh_complement_interdit")


def _paid_by_who_the_law_says(right: Data) -> Iterator[Finding]:
    """PCH and allocation compensatrice are paid by a département, AAH and AEEH by the CAF or MSA
    (docs/DOMAIN.md §3.2): the mapping of who pays after the move relies on it."""
    type_, payer = right.get("type"), right.get("payeur")
    if type_ is None or payer is None:
        return
    expected = PAYERS_BY_CATEGORY.get(category_of(type_))
    if expected is not None and payer not in expected:
        yield ("payeur",), breach("droit.payeur", payeurs=", ".join(expected))


RIGHT_RULES: tuple[Callable[[Data], Iterator[Finding]], ...] = (
    _type_in_category,
    _decided_soon_after_opening,
    _ends_after_opening,
    _end_date_or_unlimited,
    _unlimited_where_allowed,
    _rate_given_and_fitting,
    _pch_block_for_pch_only,
    _complement_matches_type,
    _paid_by_who_the_law_says,
)


def indexed(data: Data, key: str) -> Iterator[tuple[int, Data]]:
    """Items of a list in partly valid data, with their index."""
    for index, item in enumerate(data.get(key) or []):
        if isinstance(item, dict):
            yield index, item


def _moved_after_birth(data: Data) -> Iterator[Finding]:
    """Nobody moves before being born: one of the two dates is mistyped."""
    birth = dig(data, "beneficiaire", "date_naissance")
    moved = dig(data, "transfert", "date_demenagement")
    if birth is not None and moved is not None and moved < birth:
        yield ("transfert", "date_demenagement"), breach("transfert.demenagement_avant_naissance")


def _new_address_in_destination(data: Data, locate: Locate) -> Iterator[Finding]:
    """The file goes to the MDPH of the new home, unless the domicile de secours says otherwise."""
    destination = dig(data, "transfert", "mdph_destination")
    motif = dig(data, "transfert", "motif")
    postcode = dig(data, "beneficiaire", "adresse_nouvelle", "code_postal")
    commune = dig(data, "beneficiaire", "adresse_nouvelle", "commune")
    if destination is None or motif in (None, DOMICILE_ALREADY) or postcode is None:
        return
    if motif == BORDER:  # no move: the person still lives in the origin
        destination = dig(data, "transfert", "mdph_origine")
    departement = locate(postcode, commune)
    collectivity = departement and overseas_collectivity(departement)
    if collectivity:
        yield (
            ("beneficiaire", "adresse_nouvelle", "code_postal"),
            breach(
                "adresse.collectivite_outre_mer",
                code_postal=postcode,
                collectivite=collectivity,
                numero=departement,
            ),
        )
    elif departement is not None and destination is not None and departement != destination:
        yield (
            ("beneficiaire", "adresse_nouvelle", "code_postal"),
            breach(
                "adresse.departement",
                code_postal=postcode,
                departement=departement,
                destination=destination,
            ),
        )


def _representative_when_needed(data: Data) -> Iterator[Finding]:
    """A minor or a protected adult acts through a legal representative."""
    if data.get("representants_legaux") != []:
        return
    birth = dig(data, "beneficiaire", "date_naissance")
    moved = dig(data, "transfert", "date_demenagement")
    minor = birth is not None and moved is not None and is_minor_on(birth, moved)
    pieces = (piece.get("type_piece") for _, piece in indexed(data, "pieces"))
    if minor or PROTECTION_JUDGEMENT in pieces:
        yield ("representants_legaux",), breach("representant.obligatoire")


def _describe(limit: Limit) -> str:
    """The legal limit in words, for the message."""
    if limit.years is None:
        return f"jusqu'aux {limit.until_age} ans de la personne"
    if limit.until_age is None:
        return f"{limit.years} ans"
    return f"{limit.years} ans, et pas au-delà des {limit.until_age} ans de la personne"


def _within_legal_duration(right: Data, birth: date | None) -> Iterator[Finding]:
    """A CDAPH cannot grant a right for longer than the law allows."""
    type_, opened, ends = right.get("type"), right.get("date_ouverture"), right.get("date_echeance")
    if type_ is None or opened is None or ends is None or "taux_incapacite" not in right:
        return
    limit = legal_limit(type_, right["taux_incapacite"])
    latest = limit.latest_end(opened, birth) if limit is not None else None
    if limit is not None and latest is not None and ends > latest:
        yield (
            ("date_echeance",),
            breach("droit.duree_max", limite=_describe(limit), date_max=french_date(latest)),
        )


def _age_conditions(right: Data, birth: date) -> Iterator[Finding]:
    """AEEH is for children, AAH for adults (16 at the earliest), child establishments until 20."""
    type_, opened, ends = right.get("type"), right.get("date_ouverture"), right.get("date_echeance")
    if type_ is None or opened is None:
        return
    category = category_of(type_)
    if right.get("date_decision") is not None and right["date_decision"] < birth:
        yield ("date_decision",), breach("droit.avant_naissance")
    if opened < birth:
        yield ("date_ouverture",), breach("droit.avant_naissance")
    # Each birthday is worked out only for the category it concerns (add_years is the cost).
    if category == AEEH and opened >= (aeeh_end := add_years(birth, AEEH_END_AGE)):
        yield ("date_ouverture",), breach("droit.aeeh_age", date_limite=french_date(aeeh_end))
    if category == AAH and opened < (aah_start := add_years(birth, AAH_START_AGE)):
        yield ("date_ouverture",), breach("droit.aah_age", date_limite=french_date(aah_start))
    if category != CHILD_ESTABLISHMENT or right.get("creton") is not False or ends is None:
        return
    if ends > (creton_from := add_years(birth, CRETON_AGE)):
        yield ("creton",), breach("droit.creton", date_limite=french_date(creton_from))


def _rights_fit_the_person(data: Data) -> Iterator[Finding]:
    """Check the duration and age rules that need the person's birth date."""
    birth = dig(data, "beneficiaire", "date_naissance")
    for index, right in indexed(data, "droits"):
        for path, message in _within_legal_duration(right, birth):
            yield ("droits", index, *path), message
        if birth is not None:
            for path, message in _age_conditions(right, birth):
                yield ("droits", index, *path), message


def _rights_recent_enough(data: Data) -> Iterator[Finding]:
    """The file carries current rights and those ended in the last 12 months only."""
    moved = dig(data, "transfert", "date_demenagement")
    if moved is None:
        return
    oldest_end = add_months(moved, -ENDED_RIGHTS_KEPT_MONTHS)
    for index, right in indexed(data, "droits"):
        ends = right.get("date_echeance")
        if ends is not None and ends < oldest_end:
            yield ("droits", index, "date_echeance"), breach("droit.trop_ancien")


def _ended_before_the_move(data: Data) -> Iterator[Finding]:
    """A right marked `echu` is not carried: its end date must say it ended before the move."""
    moved = dig(data, "transfert", "date_demenagement")
    if moved is None:
        return
    for index, right in indexed(data, "droits"):
        ends = right.get("date_echeance", moved)
        if right.get("statut") == "echu" and (ends is None or ends >= moved):
            yield ("droits", index, "statut"), breach("droit.statut_echu")


def _repeated(data: Data, items: str, key: str) -> Iterator[tuple[int, Any]]:
    """Index and value of each item whose `key` repeats an earlier item's."""
    seen: set[Any] = set()
    for index, item in indexed(data, items):
        value = item.get(key)
        if value in seen:
            yield index, value
        if value is not None:
            seen.add(value)


def _unique_right_ids(data: Data) -> Iterator[Finding]:
    """Rights are referred to by identifiant, so two cannot share one."""
    for index, identifiant in _repeated(data, "droits", "identifiant"):
        message = breach("droit.identifiant_double", identifiant=identifiant)
        yield ("droits", index, "identifiant"), message


def _unique_aid_ids(data: Data) -> Iterator[Finding]:
    """Aids are referred to by identifiant in the mapping report."""
    for index, identifiant in _repeated(data, "aides_extra_legales", "identifiant"):
        message = breach("aide.identifiant_double", identifiant=identifiant)
        yield ("aides_extra_legales", index, "identifiant"), message


def _active_period(right: Data) -> tuple[str, date, date | None] | None:
    """Type and period of an active right, None if it is not active or its dates are unknown."""
    if right.get("statut") != "actif" or right.get("type") is None:
        return None
    if right.get("date_ouverture") is None or "date_echeance" not in right:
        return None
    return right["type"], right["date_ouverture"], right["date_echeance"]


def _no_overlapping_alternatives(data: Data) -> Iterator[Finding]:
    """Some rights are an option between two: both cannot run at once."""
    # A right that is no side of any option conflicts with none: left out of the pairs.
    active = [
        (index, right.get("identifiant", f"n° {index + 1}"), period)
        for index, right in indexed(data, "droits")
        if (period := _active_period(right)) is not None and may_conflict(period[0])
    ]
    for position, (index, _, (type_, start, end)) in enumerate(active):
        for _, other_id, (other_type, other_start, other_end) in active[:position]:
            if not overlaps(start, end, other_start, other_end):
                continue
            if aeeh_pch_conflict(type_, other_type):
                yield ("droits", index, "_schema"), breach("droit.cumul_aeeh_pch", autre=other_id)
            if compensatrice_pch_conflict(type_, other_type):
                yield ("droits", index, "_schema"), breach("droit.cumul_actp_pch", autre=other_id)


def _requests_after_birth(data: Data) -> Iterator[Finding]:
    """A request cannot be lodged before the person's birth."""
    birth = dig(data, "beneficiaire", "date_naissance")
    if birth is None:
        return
    for index, request in indexed(data, "demandes_en_cours"):
        lodged = request.get("date_depot")
        if lodged is not None and lodged < birth:
            yield ("demandes_en_cours", index, "date_depot"), breach("demande.date_depot")


def _unique_file_names(data: Data) -> Iterator[Finding]:
    """Each document is matched to its uploaded part by name."""
    for index, name in _repeated(data, "pieces", "nom_fichier"):
        yield ("pieces", index, "nom_fichier"), breach("piece.nom_double", nom=name)


DOSSIER_RULES: tuple[Callable[[Data], Iterator[Finding]], ...] = (
    _moved_after_birth,
    _representative_when_needed,
    _rights_fit_the_person,
    _rights_recent_enough,
    _ended_before_the_move,
    _unique_right_ids,
    _unique_aid_ids,
    _no_overlapping_alternatives,
    _requests_after_birth,
    _unique_file_names,
)


def right_breaches(right: Data) -> Iterator[Finding]:
    """Every rule one right breaks, at its path within the right."""
    for rule in RIGHT_RULES:
        yield from rule(right)


def dossier_breaches(data: Data, locate: Locate) -> Iterator[Finding]:
    """Every rule across the dossier's parts it breaks; `locate` gives a postcode's département."""
    yield from _new_address_in_destination(data, locate)
    for rule in DOSSIER_RULES:
        yield from rule(data)
