"""Dossier wire format v1 (docs/FORMAT.md): the contract with MDPH information systems.

Structure is declared field by field; business rules (docs/FORMAT.md, docs/DOMAIN.md §7) live in
`mdph_bridge.domain` and are called from the validators below. Validators run even when other
fields failed, on whatever was valid, so that every problem is reported at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from mdph_bridge.domain.codes import is_departement_code, overseas_collectivity
from mdph_bridge.domain.dates import add_months, french_date
from mdph_bridge.domain.dossier_rules import (
    Data,
    Finding,
    Path,
    dossier_breaches,
    is_null,
    natural,
    right_breaches,
)
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
from mdph_bridge.domain.persons import JUDGEMENT_QUALITIES, is_person_name
from mdph_bridge.domain.residence import (
    ESTABLISHMENT,
    HOSPITAL,
    MOTIFS,
    PLACES_OF_LIFE,
)
from mdph_bridge.domain.rights import (
    ALL_TYPES,
    RATES,
    TYPES_BY_CATEGORY,
)
from mdph_bridge.territoires import departement_of
from schemas.base import (
    FileName,
    OneOf,
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
CERTIFICATE_VALID_MONTHS = 12  # R146-26 as amended by décret 2021-391
MAX_MONTHLY_HOURS = 744  # 31 days × 24 hours
MAX_MONTHLY_AMOUNT = 100_000  # euros: far above any PCH, low enough to catch amounts in cents
MAX_HOURLY_RATE = 1_000  # euros
MAX_ONE_OFF_AMOUNT = 1_000_000  # euros: housing works stay far below

Told = tuple[Path, Problem]  # a finding with its French message


# Fields


class Number(fields.Float):
    """A JSON number: text and booleans are refused rather than converted."""

    accepted_value = float  # what a number accepted loads as, unchecked (schemas/trusted.py)

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

    accepted_value = int  # what a number accepted loads as, unchecked (schemas/trusted.py)

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
_R420_TYPE = OneOf(sorted(ALL_TYPES, key=natural), error=problem("droit.type_inconnu"))


def _name(**kwargs: Any) -> fields.String:
    """A surname or first name: 1 to 100 letters, spaces, hyphens or apostrophes."""
    return fields.String(validate=[length(1, 100), _person_name], **kwargs)


def _finess(**kwargs: Any) -> fields.String:
    """A FINESS number with its Luhn key."""
    return fields.String(
        validate=[matches(FINESS_PATTERN, "finess.format"), _finess_key], allow_none=True, **kwargs
    )


# Helpers for the rules


def _told(findings: Iterable[Finding]) -> Iterator[Told]:
    """Each breach of a domain rule with its French message."""
    for path, broken in findings:
        yield path, problem(broken.code, **broken.params)


def _raise_all(findings: Iterable[Told]) -> None:
    """Raise one error holding every finding at its path, if there is any."""
    errors: dict[str | int, Any] = {}
    for path, message in findings:
        node = errors
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node.setdefault(path[-1], []).append(message)
    if errors:
        raise ValidationError(errors)


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
        if kind == ESTABLISHMENT and is_null(data, "finess"):
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
        findings: list[Told] = []
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
        if data.get("qualite") in JUDGEMENT_QUALITIES and is_null(data, "reference_jugement"):
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
        _raise_all(_told(right_breaches(data)))


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


class DossierSchema(WireSchema):
    """A transferable file, format v1 or v1.1."""

    version_format = fields.String(
        required=True, validate=OneOf(FORMAT_VERSIONS, error=problem("format.version"))
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
        _raise_all(_told(dossier_breaches(data, departement_of)))


def has_medical_content(dossier: dict[str, Any]) -> bool:
    """Tell whether the dossier carries anything for the destination's doctors only."""
    return dossier.get("evaluation_medicale") is not None or any(
        piece["medical"] for piece in dossier["pieces"]
    )
