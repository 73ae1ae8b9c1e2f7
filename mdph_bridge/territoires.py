"""Every département by data: names, articles and the postcodes each serves (INSEE COG, La Poste).

`data/territoires.json` is built by `scripts/build_territoires.py` from official data; nothing
here is typed by hand.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from mdph_bridge.domain.identifiers import departement_of_postcode as by_digits
from mdph_bridge.domain.places import Place

DATA = Path(__file__).parent / "data" / "territoires.json"
# INSEE's « type de nom en clair » (TNCC) → the article reports use: « du Nord », « des Yvelines ».
ARTICLE_OF_LIAISON = {0: "", 1: "", 2: "le", 3: "la", 4: "les", 5: "l'"}
_ABBREVIATIONS = {"saint": "st", "sainte": "ste"}


def commune_key(name: str) -> str:
    """A commune's name as compared: no accents, case or punctuation, « Saint » as « st »."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", " ", plain).split()
    return " ".join(_ABBREVIATIONS.get(word, word) for word in words)


@cache
def _registry() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


@cache
def places() -> dict[str, Place]:
    """Every département (metropolitan, Corsica, overseas) as reports name it."""
    return {code: Place(code, name, article) for code, name, article in _registry()["departements"]}


def departement_of(postcode: str, commune: str | None = None) -> str | None:
    """The département (or overseas collectivity) a postcode serves, for this commune.

    A postcode that crosses a border (05110: Curbans is in 04) is settled by the commune; an
    unknown postcode or commune falls back on the postcode's digits.
    """
    served = _registry()["codes_postaux"].get(postcode)
    if isinstance(served, str):
        return served
    if isinstance(served, dict) and commune is not None:
        found = served.get(commune_key(commune))
        if found is not None:
            return found
    return by_digits(postcode)
