"""Dossier wire format v1 (shared/DOSSIER_FORMAT.md): the contract with MDPH information systems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import ValidationError, fields, validates, validates_schema

from mdph_bridge.domain.codes import is_departement_code
from schemas.base import WireSchema, length, matches, one_of
from schemas.errors import problem

MOTIFS = ("demenagement", "domicile_secours", "demande_usager")
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
MAX_MOVE_AHEAD = timedelta(days=30)


def _departement(value: str) -> None:
    if not is_departement_code(value):
        raise ValidationError(problem("departement.code"))


class ConsentementSchema(WireSchema):
    """The person's request or consent that lets the new MDPH read the file (CASF R146-41)."""

    date = fields.Date(required=True)
    reference = fields.String(required=True, validate=length(1, 100))


class TransfertSchema(WireSchema):
    """Who sends the file to whom, and why."""

    mdph_origine = fields.String(required=True, validate=_departement)
    mdph_destination = fields.String(required=True, validate=_departement)
    numero_dossier_origine = fields.String(required=True, validate=length(1, 40))
    motif = fields.String(required=True, validate=one_of(MOTIFS))
    date_demenagement = fields.Date(required=True)
    consentement = fields.Nested(ConsentementSchema, required=True)

    @validates("date_demenagement")
    def _not_far_ahead(self, value: Any, **_: Any) -> None:
        if value > datetime.now(UTC).date() + MAX_MOVE_AHEAD:
            raise ValidationError(problem("transfert.date_demenagement"))

    @validates_schema(skip_on_field_errors=True)
    def _distinct(self, data: dict[str, Any], **_: Any) -> None:
        if data["mdph_origine"] == data["mdph_destination"]:
            raise ValidationError(
                problem("transfert.destination_identique"), field_name="mdph_destination"
            )


class PieceSchema(WireSchema):
    """One attached document: its uploaded part is named `nom_fichier`."""

    nom_fichier = fields.String(required=True, validate=length(1, 255))
    type_piece = fields.String(required=True, validate=one_of(TYPES_PIECE))
    medical = fields.Boolean(required=True)
    sha256 = fields.String(required=True, validate=matches(r"[0-9a-f]{64}", "piece.sha256"))
    date = fields.Date(required=True)

    @validates_schema(skip_on_field_errors=True)
    def _medical_types(self, data: dict[str, Any], **_: Any) -> None:
        if data["type_piece"] in ALWAYS_MEDICAL and not data["medical"]:
            raise ValidationError(problem("piece.medicale", type=data["type_piece"]), "medical")


class DossierSchema(WireSchema):
    """A transferable file, format v1."""

    version_format = fields.String(required=True)
    transfert = fields.Nested(TransfertSchema, required=True)
    beneficiaire = fields.Dict(required=True)
    representants_legaux = fields.List(fields.Dict(), load_default=list)
    droits = fields.List(fields.Dict(), required=True)
    demandes_en_cours = fields.List(fields.Dict(), load_default=list)
    pieces = fields.List(fields.Nested(PieceSchema), load_default=list)
    evaluation_medicale = fields.Dict(load_default=None, allow_none=True)

    @validates("version_format")
    def _version(self, value: str, **_: Any) -> None:
        if value != "1":
            raise ValidationError(problem("format.version"))

    @validates_schema(skip_on_field_errors=True)
    def _unique_file_names(self, data: dict[str, Any], **_: Any) -> None:
        seen: set[str] = set()
        errors: dict[int, Any] = {}
        for index, piece in enumerate(data["pieces"]):
            if piece["nom_fichier"] in seen:
                errors[index] = {
                    "nom_fichier": [problem("piece.nom_double", nom=piece["nom_fichier"])]
                }
            seen.add(piece["nom_fichier"])
        if errors:
            raise ValidationError({"pieces": errors})


def has_medical_content(dossier: dict[str, Any]) -> bool:
    """Tell whether the dossier carries anything for the destination's doctors only."""
    return dossier.get("evaluation_medicale") is not None or any(
        piece["medical"] for piece in dossier["pieces"]
    )
