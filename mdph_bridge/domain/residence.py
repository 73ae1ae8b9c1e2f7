"""Where the person lives, and whether the move gives a new domicile de secours (CASF L122-2)."""

from __future__ import annotations

from datetime import date
from typing import Any

from mdph_bridge.domain.dates import add_months, add_years
from mdph_bridge.domain.persons import MAJORITY_AGE, is_minor_on

HOME = "domicile"
ESTABLISHMENT = "etablissement"
FOSTER_FAMILY = "accueil_familial"
HOSPITAL = "hopital"
PLACES_OF_LIFE = (HOME, ESTABLISHMENT, FOSTER_FAMILY, HOSPITAL)
# L122-2 al. 1: no domicile de secours is acquired in these places; the former one is kept.
NO_NEW_DOMICILE = frozenset({ESTABLISHMENT, FOSTER_FAMILY, HOSPITAL})
PLACE_LABELS = {
    HOME: "à son domicile",
    ESTABLISHMENT: "en établissement",
    FOSTER_FAMILY: "chez un accueillant familial agréé",
    HOSPITAL: "à l'hôpital",
}

MOVE = "demenagement"
DOMICILE_ALREADY = "domicile_secours"
ON_REQUEST = "demande_usager"
BORDER = "orientation_frontaliere"  # file shared for an orientation across the border, no move
MOTIFS = (MOVE, DOMICILE_ALREADY, ON_REQUEST, BORDER)

DOMICILE_MONTHS = 3  # CASF L122-2: 3 months of residence make the domicile de secours


def place_of_life(beneficiaire: dict[str, Any]) -> str:
    """The kind of place the person lives in; a v1 file only tells an establishment by FINESS."""
    declared = beneficiaire.get("lieu_de_vie")
    if declared:
        return str(declared["type"])
    return ESTABLISHMENT if beneficiaire.get("etablissement_accueil_finess") else HOME


def parents_acquire_on(dossier: dict[str, Any]) -> date:
    """The day a family moving home acquires the domicile de secours in the destination."""
    moved_on: date = dossier["transfert"]["date_demenagement"]
    return add_months(moved_on, DOMICILE_MONTHS)


def comes_of_age_on(dossier: dict[str, Any]) -> date | None:
    """The 18th birthday, when it falls after the move and by the day the parents' DS moves.

    Until then a minor has the parents' domicile de secours (L122-2 al. 2); from that day the
    person has one of their own, and only residence after majority acquires a new one (al. 1).
    """
    birth = dossier["beneficiaire"].get("date_naissance")
    if birth is None:
        return None
    majority = add_years(birth, MAJORITY_AGE)
    moved_on: date = dossier["transfert"]["date_demenagement"]
    return majority if moved_on < majority <= parents_acquire_on(dossier) else None


def follows_parents(dossier: dict[str, Any]) -> bool:
    """Tell whether the person is still a minor when the parents acquire the new DS."""
    birth = dossier["beneficiaire"].get("date_naissance")
    return birth is not None and is_minor_on(birth, parents_acquire_on(dossier))


def kept_because(dossier: dict[str, Any]) -> str | None:
    """Why the domicile de secours stays in the origin (a place of life or no move), or None."""
    if dossier["transfert"]["motif"] == BORDER:
        return BORDER
    if dossier["transfert"]["motif"] == DOMICILE_ALREADY:
        return None
    place = place_of_life(dossier["beneficiaire"])
    # L122-2 al. 2: a non-emancipated minor has the domicile de secours of the parents; one who
    # comes of age first keeps the DS held at majority, which a stay there does not change.
    if place in NO_NEW_DOMICILE and not follows_parents(dossier):
        return place
    return None


def domicile_date(dossier: dict[str, Any]) -> date | None:
    """When the destination becomes the domicile de secours; None when it does not."""
    moved_on: date = dossier["transfert"]["date_demenagement"]
    if dossier["transfert"]["motif"] == DOMICILE_ALREADY:
        return moved_on  # the domicile de secours already lies in the destination
    if kept_because(dossier) is not None:
        return None
    majority = comes_of_age_on(dossier)
    if majority is not None:
        return add_months(majority, DOMICILE_MONTHS)  # 3 months of residence after majority
    return parents_acquire_on(dossier)
