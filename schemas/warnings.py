"""Warnings on a valid dossier: what the sender should know, without blocking the transfer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from mdph_bridge.domain.dates import add_months, french_date
from mdph_bridge.domain.rights import FAMILY_FUND_PAYERS
from schemas.errors import error

RENEWAL_NOTICE_MONTHS = 6  # docs/DOMAIN.md §7.7: renewal to be handled by the destination
IMPLICIT_REJECTION_MONTHS = 4  # CASF R241-33: 4 months of silence is a rejection

WarningItem = dict[str, str]


def dossier_warnings(dossier: dict[str, Any], today: date) -> list[WarningItem]:
    """List the warnings of a dossier loaded by `DossierSchema`, in the order of the file."""
    return [
        *_uncertified_nir(dossier),
        *_rights_ending(dossier),
        *_requests_left_unanswered(dossier, today),
    ]


def _rights_ending(dossier: dict[str, Any]) -> Iterator[WarningItem]:
    moved = dossier["transfert"]["date_demenagement"]
    soon = add_months(moved, RENEWAL_NOTICE_MONTHS)
    for index, right in enumerate(dossier["droits"]):
        ends = right["date_echeance"]
        if right["statut"] == "echu" or (ends is not None and ends < moved):
            yield error(f"droits[{index}]", "avertissement.droit_echu")
        elif ends is not None and ends <= soon:
            yield error(
                f"droits[{index}].date_echeance",
                "avertissement.droit_echeance_proche",
                date=french_date(ends),
            )


def _requests_left_unanswered(dossier: dict[str, Any], today: date) -> Iterator[WarningItem]:
    for index, request in enumerate(dossier["demandes_en_cours"]):
        lodged = request["date_depot"]
        if today > add_months(lodged, IMPLICIT_REJECTION_MONTHS):
            yield error(
                f"demandes_en_cours[{index}].date_depot",
                "avertissement.demande_rejet_implicite",
                date=french_date(lodged),
            )


def _uncertified_nir(dossier: dict[str, Any]) -> Iterator[WarningItem]:
    paid_by_a_fund = any(right["payeur"] in FAMILY_FUND_PAYERS for right in dossier["droits"])
    if not dossier["beneficiaire"]["nir_certifie"] and paid_by_a_fund:
        yield error("beneficiaire.nir_certifie", "avertissement.nir_non_certifie")
