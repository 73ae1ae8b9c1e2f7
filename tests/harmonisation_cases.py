"""Builders of loaded dossiers (as `DossierSchema` returns them) for the mapping engine's tests."""

from __future__ import annotations

from datetime import date
from typing import Any

FINESS_59 = "590004560"  # an establishment in Nord (valid Luhn key)
FINESS_62 = "620001230"  # an establishment in Pas-de-Calais
MOVE = date(2026, 11, 2)


def pch(
    prestataire: float = 60,
    aidant: float = 30,
    emploi_direct: float = 0,
    mandataire: float = 0,
    tarif: float | None = 21.0,
    payeur: str = "59",
    montant: float = 1471.2,
) -> dict[str, Any]:
    """The PCH block of a human-help right."""
    return {
        "montant_attribue": None,
        "versements": [],
        "heures_mensuelles": {
            "emploi_direct": emploi_direct,
            "mandataire": mandataire,
            "prestataire": prestataire,
            "aidant_familial": aidant,
        },
        "montant_mensuel": montant,
        "tarif_horaire_prestataire": tarif,
        "payeur_departement": payeur,
        "payee_jusquau": None,
    }


def right(
    identifiant: str,
    type_: str,
    payeur: str = "caf",
    ouverture: date = date(2024, 1, 1),
    echeance: date | None = date(2029, 12, 31),
    statut: str = "actif",
    finess: str | None = None,
    pch_block: dict[str, Any] | None = None,
    creton: bool = False,
) -> dict[str, Any]:
    """One CDAPH right, loaded."""
    return {
        "identifiant": identifiant,
        "categorie": type_.split(".")[0],
        "type": type_,
        "nature": "attribution",
        "date_decision": ouverture,
        "date_ouverture": ouverture,
        "date_echeance": echeance,
        "sans_limitation_duree": echeance is None,
        "taux_incapacite": None,
        "payeur": payeur,
        "statut": statut,
        "etablissement_finess": finess,
        "creton": creton,
        "pch": pch_block,
        "aeeh_complement": None,
    }


def request(type_: str, lodged: date, certificate: date) -> dict[str, Any]:
    """A pending request, loaded."""
    return {
        "type": type_,
        "date_depot": lodged,
        "etape": "evaluation",
        "date_certificat_medical": certificate,
    }


def aid(identifiant: str, code: str, echeance: date | None = None) -> dict[str, Any]:
    """An extra-legal aid of the origin, loaded."""
    return {
        "identifiant": identifiant,
        "code": code,
        "date_ouverture": date(2025, 1, 1),
        "date_echeance": echeance,
    }


def loaded(
    rights: list[dict[str, Any]],
    origin: str = "59",
    dest: str = "62",
    moved_on: date = MOVE,
    motif: str = "demenagement",
    establishment: str | None = None,
    requests: list[dict[str, Any]] | None = None,
    aids: list[dict[str, Any]] | None = None,
    birth: date | None = None,
    lives: dict[str, Any] | None = None,
    representatives: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The parts of a loaded dossier the mapping reads."""
    return {
        "transfert": {
            "mdph_origine": origin,
            "mdph_destination": dest,
            "date_demenagement": moved_on,
            "motif": motif,
        },
        "beneficiaire": {
            "etablissement_accueil_finess": establishment,
            "date_naissance": birth,
            "lieu_de_vie": lives,
        },
        "representants_legaux": [{"qualite": quality} for quality in representatives],
        "droits": rights,
        "demandes_en_cours": requests or [],
        "aides_extra_legales": aids or [],
    }


def one_off(granted: float, *paid: tuple[float, date, str]) -> dict[str, Any]:
    """The PCH block of an element paid once on invoice: amount granted, payments made."""
    return {
        "heures_mensuelles": None,
        "montant_mensuel": None,
        "tarif_horaire_prestataire": None,
        "montant_attribue": granted,
        "versements": [
            {"montant": amount, "date_versement": day, "payeur_departement": payer}
            for amount, day, payer in paid
        ],
        "payeur_departement": "59",
        "payee_jusquau": None,
    }
