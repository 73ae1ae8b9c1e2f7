"""Schema of the départements' rule files (TOML), so a mistyped value stops the service early."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from mdph_bridge.domain.codes import is_departement_code
from mdph_bridge.domain.places import ARTICLES
from mdph_bridge.domain.rulesets import AID_ENDS, PAYMENT_MODES
from schemas.base import StrictBoolean, WireSchema, between, length, matches, one_of
from schemas.errors import problem


def departement_code(value: str) -> None:
    """Refuse what is not a French département code."""
    if not is_departement_code(value):
        raise ValidationError(problem("departement.code"))


class TomlDate(fields.Field[Any]):
    """A TOML date (1979-05-27, no quotes): TOML already parses it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValidationError(problem("regles.date"))
        return value


class Euros(fields.Field[Any]):
    """A positive amount in euros, kept exact (TOML gives a float; 21.0 → Decimal('21.00'))."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(problem("regles.montant"))
        try:
            amount = Decimal(str(value)).quantize(Decimal("0.01"))
        except InvalidOperation as exc:
            raise ValidationError(problem("regles.montant")) from exc
        if not amount.is_finite() or amount <= 0:
            raise ValidationError(problem("regles.montant"))
        return amount


def _source() -> fields.String:
    return fields.String(required=True, validate=length(3, 500))


def _sourced(value: fields.Field[Any]) -> fields.Nested:
    """A value with its source and whether the département must still confirm it."""
    schema = WireSchema.from_dict(
        {"valeur": value, "source": _source(), "a_confirmer": StrictBoolean(load_default=False)}
    )
    return fields.Nested(schema)


class ContactSchema(WireSchema):
    service = fields.String(required=True, validate=length(3, 200))
    courriel = fields.String(required=True, validate=length(3, 200))
    telephone = fields.String(required=True, validate=length(3, 50))
    source = _source()
    a_confirmer = StrictBoolean(load_default=False)


class AideSchema(WireSchema):
    code = fields.String(required=True, validate=matches(r"[a-z0-9_]{3,60}", "champ.invalide"))
    libelle = fields.String(required=True, validate=length(3, 200))
    categorie = fields.String(required=True, validate=matches(r"[a-z_]{3,60}", "champ.invalide"))
    fin = fields.String(required=True, validate=one_of(AID_ENDS))
    legale = StrictBoolean(load_default=False)
    source = _source()
    a_confirmer = StrictBoolean(load_default=False)


class DepartementVersionSchema(WireSchema):
    """One version: the first gives every value, later ones only what changes."""

    date_effet = TomlDate(required=True)
    pch_tarif_prestataire = _sourced(Euros(required=True))
    pch_mode_versement = _sourced(fields.String(required=True, validate=one_of(PAYMENT_MODES)))
    certificat_age_max_mois = _sourced(fields.Integer(strict=True, validate=between(1, 24)))
    pch_urgence_delai_jours = _sourced(fields.Integer(strict=True, validate=between(1, 120)))
    contact = fields.Nested(ContactSchema)
    aides_extra_legales = fields.List(fields.Nested(AideSchema))

    @validates_schema
    def _unique_aids(self, data: dict[str, Any], **_: Any) -> None:
        codes = [aid["code"] for aid in data.get("aides_extra_legales", [])]
        for code in {c for c in codes if codes.count(c) > 1}:
            raise ValidationError(problem("regles.aide_double", aide=code), "aides_extra_legales")


class DatedAmountSchema(WireSchema):
    """One amount of a national table, in force from `date_effet` until the next one."""

    date_effet = TomlDate(required=True)
    valeur = Euros(required=True)
    source = _source()
    a_confirmer = StrictBoolean(load_default=False)


_NOT_EMPTY = validate.Length(min=1, error=problem("champ.liste_vide"))


def _dated_in_order(versions: list[dict[str, Any]]) -> None:
    dates = [v["date_effet"] for v in versions]
    if dates != sorted(set(dates)):
        raise ValidationError(problem("regles.ordre"), "versions")


class DepartementRulesSchema(WireSchema):
    departement = fields.String(required=True, validate=departement_code)
    nom = fields.String(required=True, validate=length(2, 100))
    article = fields.String(required=True, validate=one_of(ARTICLES))
    versions = fields.List(
        fields.Nested(DepartementVersionSchema), required=True, validate=_NOT_EMPTY
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        _dated_in_order(data["versions"])


def _table() -> fields.List[Any]:
    """A national amount as a table of dated values, in date order."""

    def ordered(values: list[dict[str, Any]]) -> None:
        dates = [v["date_effet"] for v in values]
        if dates != sorted(set(dates)):
            raise ValidationError(problem("regles.ordre"))

    return fields.List(
        fields.Nested(DatedAmountSchema), required=True, validate=[_NOT_EMPTY, ordered]
    )


NATIONAL_TABLES = (
    "tarif_emploi_direct",
    "tarif_emploi_direct_gestes_soins",
    "tarif_mandataire",
    "tarif_mandataire_gestes_soins",
    "tarif_aidant_familial",
    "tarif_aidant_familial_cessation_activite",
    "tarif_plancher_saad",
)


class NationalRulesSchema(WireSchema):
    """National PCH amounts: each a table of values with their date of effect and source."""

    portee = fields.String(required=True, validate=one_of(["national"]))
    nom = fields.String(required=True, validate=length(2, 100))
    tarif_emploi_direct = _table()
    tarif_emploi_direct_gestes_soins = _table()
    tarif_mandataire = _table()
    tarif_mandataire_gestes_soins = _table()
    tarif_aidant_familial = _table()
    tarif_aidant_familial_cessation_activite = _table()
    tarif_plancher_saad = _table()
