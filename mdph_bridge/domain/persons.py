"""The person and who represents them: names as civil status writes them, minority, protection."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from mdph_bridge.domain.dates import age_on

MAJORITY_AGE = 18
# Qualities whose mandate must quote the judgement that gave it.
JUDGEMENT_QUALITIES = frozenset({"tuteur", "curateur"})

_SEPARATORS = frozenset(" -'’")
# Unaccented letters and separators, one letter at least: a name without the loop below (~2 µs).
_PLAIN_NAME = re.compile(r"[ '’-]*[A-Za-z][A-Za-z '’-]*")


def is_person_name(text: str) -> bool:
    """Tell whether `text` holds only letters (accents included), spaces, hyphens, apostrophes.

    Accents may come composed (é) or as combining marks after a letter (e then U+0301); at
    least one letter is required, so that a lone hyphen or space is not a name.
    """
    if _PLAIN_NAME.fullmatch(text):
        return True
    previous_is_letter = False
    has_letter = False
    for char in text:
        category = unicodedata.category(char)
        if category.startswith("L"):
            previous_is_letter = has_letter = True
        elif category.startswith("M") and previous_is_letter:
            continue
        elif char in _SEPARATORS:
            previous_is_letter = False
        else:
            return False
    return has_letter


def is_minor_on(birth: date, day: date) -> bool:
    """Tell whether someone born on `birth` is under 18 on `day`."""
    return age_on(birth, day) < MAJORITY_AGE
