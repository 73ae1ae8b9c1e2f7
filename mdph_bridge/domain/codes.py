"""Official codes used in the wire format: départements."""

from __future__ import annotations

import re

_DEPARTEMENT = re.compile(r"0[1-9]|1[0-9]|2[AB]|2[1-9]|[3-8][0-9]|9[0-5]|97[1-6]")


def is_departement_code(code: str) -> bool:
    """Tell whether `code` is a département code: 01 to 19, 2A, 2B, 21 to 95 or 971 to 976."""
    return bool(_DEPARTEMENT.fullmatch(code))
