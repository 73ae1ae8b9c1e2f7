"""Official codes used in the wire format: départements, and the collectivities that are not."""

from __future__ import annotations

import re

_DEPARTEMENT = re.compile(r"0[1-9]|1[0-9]|2[AB]|2[1-9]|[3-8][0-9]|9[0-5]|97[1-46]")
# Overseas collectivities (Constitution art. 74) with INSEE codes and postcodes of their own but
# no département: disability rights there are decided by the collectivity's own « maison
# territoriale », which the hub does not connect (docs/HARMONISATION.md).
OVERSEAS_COLLECTIVITIES = {
    "975": "Saint-Pierre-et-Miquelon",
    "977": "Saint-Barthélemy",
    "978": "Saint-Martin",
}


def is_departement_code(code: str) -> bool:
    """Tell whether `code` is a département code: 01 to 19, 2A, 2B, 21 to 95, 971 to 974, 976."""
    return bool(_DEPARTEMENT.fullmatch(code))


def overseas_collectivity(code: str) -> str | None:
    """The name of the overseas collectivity `code` stands for, or None."""
    return OVERSEAS_COLLECTIVITIES.get(code)
