"""Dossier wire format v1 (docs/FORMAT.md): the contract with MDPH information systems.

Structure is declared field by field; business rules (docs/FORMAT.md, docs/DOMAIN.md §7) live in
`mdph_bridge.domain` and are called from the validators below. Validators run even when other
fields failed, on whatever was valid, so that every problem is reported at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from mdph_bridge.domain.codes import is_departement_code, overseas_collectivity
from mdph_bridge.domain.dates import add_months, add_years, overlaps
from mdph_bridge.domain.identifiers import (
    FINESS_PATTERN,
    INSEE_COMMUNE_PATTERN,
    NIR_PATTERN,
    POSTCODE_PATTERN,
    finess_key_valid,
    finess_well_formed,
    nir_birthplace_matches,
    nir_key_valid,
    nir_month_matches,
    nir_sex_matches,
    nir_well_formed,
    nir_year_matches,
    postcode_well_formed,
)
from mdph_bridge.domain.persons import JUDGEMENT_QUALITIES, is_minor_on, is_person_name
from mdph_bridge.domain.residence import (
    BORDER,
    DOMICILE_ALREADY,
    ESTABLISHMENT,
    HOSPITAL,
    MOTIFS,
    PLACES_OF_LIFE,
)
from mdph_bridge.domain.rights import (
    AAH,
    AAH_START_AGE,
    AEEH,
    AEEH_END_AGE,
    ALL_TYPES,
    CHILD_ESTABLISHMENT,
    CRETON_AGE,
    PAYERS_BY_CATEGORY,
    PCH,
    PCH_HUMAN_HELP,
    PCH_ONE_OFF,
    RATES,
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
    needs_rate,
)
from mdph_bridge.territoires import departement_of
from schemas.base import (
    FileName,
    StrictBoolean,
    StrictDate,
    WireSchema,
    between,
    length,
    matches,
    one_of,
)
from schemas.clock import today
from schemas.errors import Problem, problem

FORMAT_VERSIONS = ("1", "1.1")  # 1.1 only adds optional fields: a v1 file stays valid
TYPES_PIECE = (
    "piece_identite",
    "justificatif_domicile",
    "jugement_protection",
    "certificat_medical",
    "notification_decision",
    "evaluation_geva",
    "compte_rendu",
    "autre",
)
ALWAYS_MEDICAL = frozenset({"certificat_medical", "evaluation_geva"})
SEXES = ("F", "M")
QUALITES = ("parent", "tuteur", "curateur", "mandataire_special", "autre")
NATURES = ("attribution", "renouvellement", "revision")
PAYEURS = (
    "caf",
    "msa",
    "departement",
    "assurance_maladie",
    "education_nationale",
    "etat",
    "autre",
)
STATUTS = ("actif", "echu", "suspendu")
ETAPES = ("recevabilite", "evaluation", "decision")

MAX_MOVE_AHEAD = timedelta(days=30)
EARLIEST_BIRTH = date(1900, 1, 1)
DECISION_MONTHS_AFTER_OPENING = 6  # a CDAPH may open a right up to 6 months before deciding it
ENDED_RIGHTS_KEPT_MONTHS = 12  # the file carries rights current or ended in the last 12 months
CERTIFICATE_VALID_MONTHS = 12  # R146-26 as amended by décret 2021-391
MAX_MONTHLY_HOURS = 744  # 31 days × 24 hours
MAX_MONTHLY_AMOUNT = 100_000  # euros: far above any PCH, low enough to catch amounts in cents
MAX_HOURLY_RATE = 1_000  # euros
MAX_ONE_OFF_AMOUNT = 1_000_000  # euros: housing works stay far below
PROTECTION_JUDGEMENT = "jugement_protection"

Path = tuple[str | int, ...]
Finding = tuple[Path, Problem]
Data = dict[str, Any]


# Fields


class Number(fields.Float):
    """A JSON number: text and booleans are refused rather than converted."""

    default_error_messages = {  # noqa: RUF012 - marshmallow reads this class attribute
        "invalid": problem("champ.nombre"),
        "special": problem("champ.nombre"),
        "too_large": problem("champ.nombre"),
    }

    def _validated(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._validated(value)


class WholeNumber(fields.Integer):
    """A JSON integer: text, decimals and booleans are refused rather than converted."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class Items(fields.List[Any]):
    """A list whose partly valid content keeps each item at its index, for rules across items.

    marshmallow drops an item refused whole (null); the indexes of the others would then be
    wrong, so such a list is left out of the cross-item rules (its own error is reported).
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            if isinstance(error.valid_data, list) and len(error.valid_data) != len(value):
                raise ValidationError(error.messages, valid_data=[]) from error
            raise


def _natural(type_: str) -> tuple[int, ...]:
    """Sort key of a TRE_R420 code: 5.2 before 5.10."""
    return tuple(int(part) for part in type_.split("."))


def _departement(value: str) -> None:
    """Refuse a code that is no département, naming an overseas collectivity for what it is."""
    collectivity = overseas_collectivity(value)
    if collectivity is not None:
        raise ValidationError(
            problem("departement.collectivite_outre_mer", collectivite=collectivity, numero=value)
        )
    if not is_departement_code(value):
        raise ValidationError(problem("departement.code"))


def _person_name(value: str) -> None:
    """Refuse digits and symbols in names: civil status has none."""
    if value and not is_person_name(value):
        raise ValidationError(problem("personne.nom"))


def _nir_key(value: str) -> None:
    """Refuse a mistyped NIR (its format is checked first, by the pattern)."""
    if nir_well_formed(value) and not nir_key_valid(value):
        raise ValidationError(problem("beneficiaire.nir_cle"))


def _finess_key(value: str) -> None:
    """Refuse a mistyped FINESS number (its format is checked first, by the pattern)."""
    if finess_well_formed(value) and not finess_key_valid(value):
        raise ValidationError(problem("finess.cle"))


def _postcode_in_a_departement(value: str) -> None:
    """Refuse a well-formed postcode outside every département (Monaco, 98xxx)."""
    if postcode_well_formed(value) and departement_of(value) is None:
        raise ValidationError(problem("adresse.code_postal"))


_NOT_EMPTY = validate.Length(min=1, error=problem("champ.liste_vide"))
_R420_TYPE = validate.OneOf(sorted(ALL_TYPES, key=_natural), error=problem("droit.type_inconnu"))


def _name(**kwargs: Any) -> fields.String:
    """A surname or first name: 1 to 100 letters, spaces, hyphens or apostrophes."""
    return fields.String(validate=[length(1, 100), _person_name], **kwargs)


def _finess(**kwargs: Any) -> fields.String:
    """A FINESS number with its Luhn key."""
    return fields.String(
        validate=[matches(FINESS_PATTERN, "finess.format"), _finess_key], allow_none=True, **kwargs
    )


# Helpers for the rules


def _raise_all(findings: Iterable[Finding]) -> None:
    """Raise one error holding every finding at its path, if there is any."""
    errors: dict[str | int, Any] = {}
    for path, message in findings:
        node = errors
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node.setdefault(path[-1], []).append(message)
    if errors:
        raise ValidationError(errors)


def _dig(data: Any, *keys: str) -> Any:
    """The value at `keys` in partly valid data, or None where it is missing or was refused."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _is_null(data: Data, key: str) -> bool:
    """Tell whether `key` was given as null (or left out with a null default), not refused."""
    return key in data and data[key] is None


def french_date(day: date) -> str:
    """Write a date as French readers expect it in a message."""
    return day.strftime("%d/%m/%Y")


# Transfer


def _not_in_future(value: date) -> None:
    if value > today():
        raise ValidationError(problem("date.future"))


class ConsentementSchema(WireSchema):
    """The person's request or consent that lets the new MDPH read the file (CASF R146-41)."""

    date = StrictDate(required=True, validate=_not_in_future)
    reference = fields.String(required=True, validate=length(1, 100))


class TransfertSchema(WireSchema):
    """Who sends the file to whom, and why."""

    mdph_origine = fields.String(required=True, validate=_departement)
    mdph_destination = fields.String(required=True, validate=_departement)
    numero_dossier_origine = fields.String(required=True, validate=length(1, 40))
    motif = fields.String(required=True, validate=one_of(MOTIFS))
    date_demenagement = StrictDate(required=True)
    consentement = fields.Nested(ConsentementSchema, required=True)

    @validates("date_demenagement")
    def _not_far_ahead(self, value: date, **_: Any) -> None:
        if value > today() + MAX_MOVE_AHEAD:
            raise ValidationError(problem("transfert.date_demenagement"))

    @validates_schema(skip_on_field_errors=False)
    def _distinct(self, data: Data, **_: Any) -> None:
        origin = data.get("mdph_origine")
        if origin is not None and origin == data.get("mdph_destination"):
            raise ValidationError(
                problem("transfert.destination_identique"), field_name="mdph_destination"
            )


# People


class AdresseSchema(WireSchema):
    """A postal address in France."""

    ligne1 = fields.String(required=True, validate=length(1, 100))
    ligne2 = fields.String(load_default=None, allow_none=True, validate=length(1, 100))
    code_postal = fields.String(
        required=True,
        validate=[matches(POSTCODE_PATTERN, "adresse.code_postal"), _postcode_in_a_departement],
    )
    commune = fields.String(required=True, validate=length(1, 100))


class LieuDeVieSchema(WireSchema):
    """Where the person lives: some places never give a new domicile de secours (CASF L122-2)."""

    type = fields.String(required=True, validate=one_of(PLACES_OF_LIFE))
    finess = _finess(load_default=None)
    depuis = StrictDate(load_default=None, allow_none=True, validate=_not_in_future)

    @validates_schema(skip_on_field_errors=False)
    def _finess_where_it_fits(self, data: Data, **_: Any) -> None:
        kind = data.get("type")
        if kind == ESTABLISHMENT and _is_null(data, "finess"):
            raise ValidationError(problem("lieu_de_vie.finess_obligatoire"), "finess")
        if kind not in (None, ESTABLISHMENT, HOSPITAL) and data.get("finess") is not None:
            raise ValidationError(problem("lieu_de_vie.finess_interdit"), "finess")


class BeneficiaireSchema(WireSchema):
    """The person whose file moves."""

    nir = fields.String(
        required=True, validate=[matches(NIR_PATTERN, "beneficiaire.nir_format"), _nir_key]
    )
    nir_certifie = StrictBoolean(required=True)
    nom_naissance = _name(required=True)
    prenoms = Items(_name(), required=True, validate=_NOT_EMPTY)
    nom_usage = _name(required=True, allow_none=True)
    date_naissance = StrictDate(required=True)
    sexe = fields.String(required=True, validate=one_of(SEXES))
    code_insee_naissance = fields.String(
        required=True, validate=matches(INSEE_COMMUNE_PATTERN, "beneficiaire.code_insee")
    )
    adresse_precedente = fields.Nested(AdresseSchema, required=True)
    adresse_nouvelle = fields.Nested(AdresseSchema, required=True)
    etablissement_accueil_finess = _finess(required=True)
    lieu_de_vie = fields.Nested(LieuDeVieSchema, load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def _one_establishment(self, data: Data, **_: Any) -> None:
        """The v1 field and the v1.1 place of life must not contradict each other."""
        place, finess = data.get("lieu_de_vie"), data.get("etablissement_accueil_finess")
        if place and finess is not None and place.get("finess") != finess:
            raise ValidationError(problem("lieu_de_vie.incoherent"), "etablissement_accueil_finess")

    @validates("date_naissance")
    def _born_in_range(self, value: date, **_: Any) -> None:
        if not EARLIEST_BIRTH <= value <= today():
            raise ValidationError(problem("beneficiaire.date_naissance"))

    @validates_schema(skip_on_field_errors=False)
    def _nir_matches_identity(self, data: Data, **_: Any) -> None:
        nir, sexe, birth = data.get("nir"), data.get("sexe"), data.get("date_naissance")
        if nir is None:
            return
        findings: list[Finding] = []
        if sexe is not None and not nir_sex_matches(nir, sexe):
            findings.append((("nir",), problem("beneficiaire.nir_sexe", sexe=sexe)))
        if birth is not None and not nir_year_matches(nir, birth):
            findings.append(
                (("nir",), problem("beneficiaire.nir_annee", nir=nir[1:3], annee=birth.year))
            )
        if birth is not None and not nir_month_matches(nir, birth):
            findings.append(
                (("nir",), problem("beneficiaire.nir_mois", nir=nir[3:5], mois=f"{birth:%m}"))
            )
        born_in = data.get("code_insee_naissance")
        if born_in is not None and not nir_birthplace_matches(nir, born_in):
            findings.append(
                (("nir",), problem("beneficiaire.nir_lieu_naissance", nir=nir[5:10], insee=born_in))
            )
        _raise_all(findings)


class RepresentantSchema(WireSchema):
    """A parent, guardian or other legal representative of the person."""

    qualite = fields.String(required=True, validate=one_of(QUALITES))
    nom = _name(required=True)
    prenoms = Items(_name(), required=True, validate=_NOT_EMPTY)
    date_naissance = StrictDate(load_default=None, allow_none=True)
    reference_jugement = fields.String(load_default=None, allow_none=True, validate=length(1, 100))
    adresse = fields.Nested(AdresseSchema, load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def _judgement_quoted(self, data: Data, **_: Any) -> None:
        if data.get("qualite") in JUDGEMENT_QUALITIES and _is_null(data, "reference_jugement"):
            raise ValidationError(problem("representant.jugement"), "reference_jugement")


# Rights


class HeuresMensuellesSchema(WireSchema):
    """PCH human help hours per month, by way of employing the helper."""

    emploi_direct = Number(required=True, validate=between(0, MAX_MONTHLY_HOURS))
    mandataire = Number(required=True, validate=between(0, MAX_MONTHLY_HOURS))
    prestataire = Number(required=True, validate=between(0, MAX_MONTHLY_HOURS))
    aidant_familial = Number(required=True, validate=between(0, MAX_MONTHLY_HOURS))
    # v1.1: helpers performing care gestures, and a carer who gave up work (higher rates)
    emploi_direct_gestes_soins = Number(load_default=0, validate=between(0, MAX_MONTHLY_HOURS))
    mandataire_gestes_soins = Number(load_default=0, validate=between(0, MAX_MONTHLY_HOURS))
    aidant_familial_cessation_activite = Number(
        load_default=0, validate=between(0, MAX_MONTHLY_HOURS)
    )


class VersementSchema(WireSchema):
    """A one-off payment of a PCH element (technical aid, fitting works…), already made."""

    montant = Number(required=True, validate=between(0, MAX_ONE_OFF_AMOUNT))
    date_versement = StrictDate(required=True, validate=_not_in_future)
    payeur_departement = fields.String(required=True, validate=_departement)


class PchSchema(WireSchema):
    """What a PCH pays and who pays it: the destination remaps tariffs from it.

    Human help (elements 1) is hours per month; elements paid once on invoice (v1.1) give the
    amount granted and the payments already made.
    """

    heures_mensuelles = fields.Nested(HeuresMensuellesSchema, load_default=None, allow_none=True)
    montant_mensuel = Number(
        load_default=None, allow_none=True, validate=between(0, MAX_MONTHLY_AMOUNT)
    )
    montant_attribue = Number(
        load_default=None, allow_none=True, validate=between(0, MAX_ONE_OFF_AMOUNT)
    )
    versements = Items(fields.Nested(VersementSchema), load_default=list)
    tarif_horaire_prestataire = Number(
        load_default=None, allow_none=True, validate=between(0, MAX_HOURLY_RATE)
    )
    payeur_departement = fields.String(required=True, validate=_departement)
    payee_jusquau = StrictDate(load_default=None, allow_none=True)


def _type_in_category(right: Data) -> Iterator[Finding]:
    """A TRE_R420 type only makes sense under its own category."""
    type_, categorie = right.get("type"), right.get("categorie")
    if type_ is not None and categorie is not None and not belongs_to(type_, categorie):
        types = ", ".join(sorted(TYPES_BY_CATEGORY[categorie], key=_natural))
        message = problem("droit.type_categorie", type=type_, categorie=categorie, types=types)
        yield ("type",), message


def _decided_soon_after_opening(right: Data) -> Iterator[Finding]:
    """A CDAPH may open a right before its decision, but not more than 6 months before."""
    decided, opened = right.get("date_decision"), right.get("date_ouverture")
    if decided is None or opened is None:
        return
    latest = add_months(opened, DECISION_MONTHS_AFTER_OPENING)
    if decided > latest:
        yield ("date_decision",), problem("droit.date_decision", date_max=french_date(latest))


def _ends_after_opening(right: Data) -> Iterator[Finding]:
    """A right cannot end before it starts."""
    opened, ends = right.get("date_ouverture"), right.get("date_echeance")
    if opened is not None and ends is not None and ends <= opened:
        yield ("date_echeance",), problem("droit.date_echeance")


def _end_date_or_unlimited(right: Data) -> Iterator[Finding]:
    """A right has either an end date or no time limit, never both nor neither."""
    if "date_echeance" not in right or "sans_limitation_duree" not in right:
        return
    unlimited, ends = right["sans_limitation_duree"], right["date_echeance"]
    if ends is None and not unlimited:
        yield ("date_echeance",), problem("droit.echeance_obligatoire")
    if ends is not None and unlimited:
        yield ("date_echeance",), problem("droit.echeance_interdite")


def _unlimited_where_allowed(right: Data) -> Iterator[Finding]:
    """Only some rights may be granted for life (docs/DOMAIN.md §3.4)."""
    type_ = right.get("type")
    if type_ is None or "taux_incapacite" not in right or not right.get("sans_limitation_duree"):
        return
    if not may_be_unlimited(type_, right["taux_incapacite"]):
        yield ("sans_limitation_duree",), problem("droit.sans_limitation")


def _rate_given_and_fitting(right: Data) -> Iterator[Finding]:
    """Rights granted on an incapacity rate need one, and the rate their type requires."""
    type_ = right.get("type")
    if type_ is None or "taux_incapacite" not in right:
        return
    taux = right["taux_incapacite"]
    if taux is None and needs_rate(type_):
        yield ("taux_incapacite",), problem("droit.taux_obligatoire")
    if taux is not None and taux not in allowed_rates(type_):
        possible = ", ".join(f"« {rate} »" for rate in allowed_rates(type_))
        yield (
            ("taux_incapacite",),
            problem("droit.taux_incoherent", taux=taux, type=type_, taux_possibles=possible),
        )


def _pch_block_for_pch_only(right: Data) -> Iterator[Finding]:
    """The destination needs the PCH plan to take over payment; other rights have none."""
    categorie = right.get("categorie")
    if categorie is None or "pch" not in right:
        return
    if categorie == PCH and right["pch"] is None:
        yield ("pch",), problem("droit.pch_obligatoire")
    if categorie != PCH and right["pch"] is not None:
        yield ("pch",), problem("droit.pch_interdit")
    block, type_ = right["pch"], right.get("type")
    if categorie != PCH or not isinstance(block, dict) or type_ is None:
        return  # a block on another right is refused whole, above
    if type_ in PCH_HUMAN_HELP:
        for key in ("heures_mensuelles", "montant_mensuel"):
            if _is_null(block, key):
                yield ("pch", key), problem("droit.pch_heures_obligatoires")
    if type_ not in PCH_ONE_OFF and block.get("versements"):
        yield ("pch", "versements"), problem("droit.pch_versements_interdits")


def _complement_matches_type(right: Data) -> Iterator[Finding]:
    """The complément number must repeat the one its type code stands for."""
    type_ = right.get("type")
    if type_ is None or "aeeh_complement" not in right:
        return
    expected, given = complement_number(type_), right["aeeh_complement"]
    if expected is not None and given != expected:
        yield ("aeeh_complement",), problem("droit.aeeh_complement", type=type_, numero=expected)
    if expected is None and given is not None:
        yield ("aeeh_complement",), problem("droit.aeeh_complement_interdit")


def _paid_by_who_the_law_says(right: Data) -> Iterator[Finding]:
    """PCH and allocation compensatrice are paid by a département, AAH and AEEH by the CAF or MSA
    (docs/DOMAIN.md §3.2): the mapping of who pays after the move relies on it."""
    type_, payer = right.get("type"), right.get("payeur")
    if type_ is None or payer is None:
        return
    expected = PAYERS_BY_CATEGORY.get(category_of(type_))
    if expected is not None and payer not in expected:
        yield ("payeur",), problem("droit.payeur", payeurs=", ".join(expected))


_RIGHT_RULES: tuple[Callable[[Data], Iterator[Finding]], ...] = (
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


class DroitSchema(WireSchema):
    """A right decided by a CDAPH (ANS TDDUI structure, TRE_R420 codes)."""

    identifiant = fields.String(required=True, validate=length(1, 64))
    categorie = fields.String(required=True, validate=one_of(TYPES_BY_CATEGORY))
    type = fields.String(required=True, validate=_R420_TYPE)
    nature = fields.String(required=True, validate=one_of(NATURES))
    date_decision = StrictDate(required=True, validate=_not_in_future)
    date_ouverture = StrictDate(required=True)
    date_echeance = StrictDate(required=True, allow_none=True)
    sans_limitation_duree = StrictBoolean(required=True)
    taux_incapacite = fields.String(required=True, allow_none=True, validate=one_of(RATES))
    payeur = fields.String(required=True, validate=one_of(PAYEURS))
    statut = fields.String(required=True, validate=one_of(STATUTS))
    etablissement_finess = _finess(required=True)
    creton = StrictBoolean(required=True)
    pch = fields.Nested(PchSchema, required=True, allow_none=True)
    aeeh_complement = WholeNumber(required=True, allow_none=True, validate=between(1, 6))

    @validates_schema(skip_on_field_errors=False)
    def _rules(self, data: Data, **_: Any) -> None:
        _raise_all(finding for rule in _RIGHT_RULES for finding in rule(data))


# Pending requests


class DemandeSchema(WireSchema):
    """A request lodged and not yet decided."""

    type = fields.String(required=True, validate=_R420_TYPE)
    date_depot = StrictDate(required=True)
    etape = fields.String(required=True, validate=one_of(ETAPES))
    date_certificat_medical = StrictDate(required=True)

    @validates("date_depot")
    def _not_in_future(self, value: date, **_: Any) -> None:
        if value > today():
            raise ValidationError(problem("demande.date_depot"))

    @validates_schema(skip_on_field_errors=False)
    def _recent_certificate(self, data: Data, **_: Any) -> None:
        lodged, certified = data.get("date_depot"), data.get("date_certificat_medical")
        if lodged is None or certified is None:
            return
        too_old = add_months(lodged, -CERTIFICATE_VALID_MONTHS)
        if certified <= too_old:
            oldest = french_date(too_old + timedelta(days=1))
            raise ValidationError(
                problem("demande.certificat_ancien", date_min=oldest), "date_certificat_medical"
            )


# Documents


class PieceSchema(WireSchema):
    """One attached document: its uploaded part is named `nom_fichier`."""

    nom_fichier = FileName(required=True, validate=length(1, 255))
    type_piece = fields.String(required=True, validate=one_of(TYPES_PIECE))
    medical = StrictBoolean(required=True)
    sha256 = fields.String(required=True, validate=matches(r"[0-9a-f]{64}", "piece.sha256"))
    date = StrictDate(required=True, validate=_not_in_future)

    @validates_schema(skip_on_field_errors=False)
    def _medical_types(self, data: Data, **_: Any) -> None:
        if data.get("type_piece") in ALWAYS_MEDICAL and data.get("medical") is False:
            raise ValidationError(problem("piece.medicale", type=data["type_piece"]), "medical")


class AideExtraLegaleSchema(WireSchema):
    """An aid the origin département grants beyond the law (its code comes from its rule file)."""

    identifiant = fields.String(required=True, validate=length(1, 40))
    code = fields.String(required=True, validate=matches(r"[a-z0-9_]{3,60}", "champ.invalide"))
    date_ouverture = StrictDate(required=True)
    date_echeance = StrictDate(required=True, allow_none=True)

    @validates_schema
    def _ends_after_opening(self, data: Data, **_: Any) -> None:
        ends = data["date_echeance"]
        if ends is not None and ends <= data["date_ouverture"]:
            raise ValidationError(problem("aide.dates"), "date_echeance")


# Rules across the dossier


def _indexed(data: Data, key: str) -> Iterator[tuple[int, Data]]:
    """Items of a list in partly valid data, with their index."""
    for index, item in enumerate(data.get(key) or []):
        if isinstance(item, dict):
            yield index, item


def _moved_after_birth(data: Data) -> Iterator[Finding]:
    """Nobody moves before being born: one of the two dates is mistyped."""
    birth = _dig(data, "beneficiaire", "date_naissance")
    moved = _dig(data, "transfert", "date_demenagement")
    if birth is not None and moved is not None and moved < birth:
        yield ("transfert", "date_demenagement"), problem("transfert.demenagement_avant_naissance")


def _new_address_in_destination(data: Data) -> Iterator[Finding]:
    """The file goes to the MDPH of the new home, unless the domicile de secours says otherwise."""
    destination = _dig(data, "transfert", "mdph_destination")
    motif = _dig(data, "transfert", "motif")
    postcode = _dig(data, "beneficiaire", "adresse_nouvelle", "code_postal")
    commune = _dig(data, "beneficiaire", "adresse_nouvelle", "commune")
    if destination is None or motif in (None, DOMICILE_ALREADY) or postcode is None:
        return
    if motif == BORDER:  # no move: the person still lives in the origin
        destination = _dig(data, "transfert", "mdph_origine")
    departement = departement_of(postcode, commune)
    collectivity = departement and overseas_collectivity(departement)
    if collectivity:
        yield (
            ("beneficiaire", "adresse_nouvelle", "code_postal"),
            problem(
                "adresse.collectivite_outre_mer",
                code_postal=postcode,
                collectivite=collectivity,
                numero=departement,
            ),
        )
    elif departement is not None and destination is not None and departement != destination:
        yield (
            ("beneficiaire", "adresse_nouvelle", "code_postal"),
            problem(
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
    birth = _dig(data, "beneficiaire", "date_naissance")
    moved = _dig(data, "transfert", "date_demenagement")
    minor = birth is not None and moved is not None and is_minor_on(birth, moved)
    pieces = (piece.get("type_piece") for _, piece in _indexed(data, "pieces"))
    if minor or PROTECTION_JUDGEMENT in pieces:
        yield ("representants_legaux",), problem("representant.obligatoire")


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
            problem("droit.duree_max", limite=_describe(limit), date_max=french_date(latest)),
        )


def _age_conditions(right: Data, birth: date) -> Iterator[Finding]:
    """AEEH is for children, AAH for adults (16 at the earliest), child establishments until 20."""
    type_, opened, ends = right.get("type"), right.get("date_ouverture"), right.get("date_echeance")
    if type_ is None or opened is None:
        return
    category = category_of(type_)
    aeeh_end = add_years(birth, AEEH_END_AGE)
    if right.get("date_decision") is not None and right["date_decision"] < birth:
        yield ("date_decision",), problem("droit.avant_naissance")
    if opened < birth:
        yield ("date_ouverture",), problem("droit.avant_naissance")
    if category == AEEH and opened >= aeeh_end:
        yield ("date_ouverture",), problem("droit.aeeh_age", date_limite=french_date(aeeh_end))
    aah_start = add_years(birth, AAH_START_AGE)
    if category == AAH and opened < aah_start:
        yield ("date_ouverture",), problem("droit.aah_age", date_limite=french_date(aah_start))
    creton_from = add_years(birth, CRETON_AGE)
    past_creton_age = ends is not None and ends > creton_from
    if category == CHILD_ESTABLISHMENT and right.get("creton") is False and past_creton_age:
        yield ("creton",), problem("droit.creton", date_limite=french_date(creton_from))


def _rights_fit_the_person(data: Data) -> Iterator[Finding]:
    """Check the duration and age rules that need the person's birth date."""
    birth = _dig(data, "beneficiaire", "date_naissance")
    for index, right in _indexed(data, "droits"):
        for path, message in _within_legal_duration(right, birth):
            yield ("droits", index, *path), message
        if birth is not None:
            for path, message in _age_conditions(right, birth):
                yield ("droits", index, *path), message


def _rights_recent_enough(data: Data) -> Iterator[Finding]:
    """The file carries current rights and those ended in the last 12 months only."""
    moved = _dig(data, "transfert", "date_demenagement")
    if moved is None:
        return
    oldest_end = add_months(moved, -ENDED_RIGHTS_KEPT_MONTHS)
    for index, right in _indexed(data, "droits"):
        ends = right.get("date_echeance")
        if ends is not None and ends < oldest_end:
            yield ("droits", index, "date_echeance"), problem("droit.trop_ancien")


def _ended_before_the_move(data: Data) -> Iterator[Finding]:
    """A right marked `echu` is not carried: its end date must say it ended before the move."""
    moved = _dig(data, "transfert", "date_demenagement")
    if moved is None:
        return
    for index, right in _indexed(data, "droits"):
        ends = right.get("date_echeance", moved)
        if right.get("statut") == "echu" and (ends is None or ends >= moved):
            yield ("droits", index, "statut"), problem("droit.statut_echu")


def _repeated(data: Data, items: str, key: str) -> Iterator[tuple[int, Any]]:
    """Index and value of each item whose `key` repeats an earlier item's."""
    seen: set[Any] = set()
    for index, item in _indexed(data, items):
        value = item.get(key)
        if value in seen:
            yield index, value
        if value is not None:
            seen.add(value)


def _unique_right_ids(data: Data) -> Iterator[Finding]:
    """Rights are referred to by identifiant, so two cannot share one."""
    for index, identifiant in _repeated(data, "droits", "identifiant"):
        message = problem("droit.identifiant_double", identifiant=identifiant)
        yield ("droits", index, "identifiant"), message


def _unique_aid_ids(data: Data) -> Iterator[Finding]:
    """Aids are referred to by identifiant in the mapping report."""
    for index, identifiant in _repeated(data, "aides_extra_legales", "identifiant"):
        message = problem("aide.identifiant_double", identifiant=identifiant)
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
    active = [
        (index, right.get("identifiant", f"n° {index + 1}"), period)
        for index, right in _indexed(data, "droits")
        if (period := _active_period(right)) is not None
    ]
    for position, (index, _, (type_, start, end)) in enumerate(active):
        for _, other_id, (other_type, other_start, other_end) in active[:position]:
            if not overlaps(start, end, other_start, other_end):
                continue
            if aeeh_pch_conflict(type_, other_type):
                yield ("droits", index, "_schema"), problem("droit.cumul_aeeh_pch", autre=other_id)
            if compensatrice_pch_conflict(type_, other_type):
                yield ("droits", index, "_schema"), problem("droit.cumul_actp_pch", autre=other_id)


def _requests_after_birth(data: Data) -> Iterator[Finding]:
    """A request cannot be lodged before the person's birth."""
    birth = _dig(data, "beneficiaire", "date_naissance")
    if birth is None:
        return
    for index, request in _indexed(data, "demandes_en_cours"):
        lodged = request.get("date_depot")
        if lodged is not None and lodged < birth:
            yield ("demandes_en_cours", index, "date_depot"), problem("demande.date_depot")


def _unique_file_names(data: Data) -> Iterator[Finding]:
    """Each document is matched to its uploaded part by name."""
    for index, name in _repeated(data, "pieces", "nom_fichier"):
        yield ("pieces", index, "nom_fichier"), problem("piece.nom_double", nom=name)


_DOSSIER_RULES: tuple[Callable[[Data], Iterator[Finding]], ...] = (
    _moved_after_birth,
    _new_address_in_destination,
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


class DossierSchema(WireSchema):
    """A transferable file, format v1 or v1.1."""

    version_format = fields.String(
        required=True, validate=validate.OneOf(FORMAT_VERSIONS, error=problem("format.version"))
    )
    transfert = fields.Nested(TransfertSchema, required=True)
    beneficiaire = fields.Nested(BeneficiaireSchema, required=True)
    representants_legaux = Items(fields.Nested(RepresentantSchema), load_default=list)
    droits = Items(fields.Nested(DroitSchema), required=True, validate=_NOT_EMPTY)
    demandes_en_cours = Items(fields.Nested(DemandeSchema), load_default=list)
    aides_extra_legales = Items(fields.Nested(AideExtraLegaleSchema), load_default=list)
    pieces = Items(fields.Nested(PieceSchema), load_default=list)
    # Medical content (GEVA medical part, diagnoses): free, but an object.
    evaluation_medicale = fields.Dict(load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def _rules(self, data: Data, **_: Any) -> None:
        _raise_all(finding for rule in _DOSSIER_RULES for finding in rule(data))


def has_medical_content(dossier: dict[str, Any]) -> bool:
    """Tell whether the dossier carries anything for the destination's doctors only."""
    return dossier.get("evaluation_medicale") is not None or any(
        piece["medical"] for piece in dossier["pieces"]
    )
