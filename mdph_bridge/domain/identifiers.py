"""National identifiers: NIR (social security number), FINESS, INSEE and postal codes."""

from __future__ import annotations

import re
from datetime import date

from stdnum import luhn
from stdnum.fr import nir as stdnum_nir

from mdph_bridge.domain.codes import is_departement_code

# Sex digit: 1/2, or 3/4 and 7/8 for provisional numbers; then year, month, birthplace (2A/2B
# for Corsica), serial and key. Written for both Python and JSON Schema (ECMAScript) engines.
NIR_PATTERN = r"[123478][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{8}"
# Metropolitan département (not 20: Corsica is 2A/2B), 97 overseas or 98 (Mayotte), 7 digits.
FINESS_PATTERN = r"(?:0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5]|9[78])[0-9]{7}"
# Commune of birth: département + commune, overseas départements and collectivities, 99xxx abroad.
INSEE_COMMUNE_PATTERN = (
    r"(?:0[1-9]|1[0-9]|2[1-9AB]|[3-8][0-9]|9[0-5])[0-9]{3}|97[1-8][0-9]{2}|98[4-9][0-9]{2}"
    r"|99[0-9]{3}"
)
POSTCODE_PATTERN = r"[0-9]{5}"

_NIR = re.compile(NIR_PATTERN)
_FINESS = re.compile(FINESS_PATTERN)
_POSTCODE = re.compile(POSTCODE_PATTERN)
_UNKNOWN_MONTH_FROM = 20  # INSEE writes 20 and above (or 99) when the month of birth is unknown
# The FINESS key is a Luhn key computed with Corsica's letters replaced by digits (2A → 21,
# 2B → 22), as the public FINESS validators do.
_FINESS_CORSICA = {"2A": "21", "2B": "22"}
# Corse-du-Sud uses postcodes 200xx–201xx, Haute-Corse 202xx–206xx.
_CORSICA_BY_THIRD_DIGIT = dict.fromkeys("01", "2A") | dict.fromkeys("23456", "2B")


def nir_well_formed(nir: str) -> bool:
    """Tell whether `nir` has the 15 characters of a NIR, whatever its key."""
    return _NIR.fullmatch(nir) is not None


def nir_key_valid(nir: str) -> bool:
    """Tell whether the NIR's last two digits are its key (97 - n mod 97, Corsica handled)."""
    # stdnum's `is_valid` first cleans and checks the format (~6 µs): the pattern did it here.
    return nir_well_formed(nir) and stdnum_nir.calc_check_digits(nir) == nir[13:]


def nir_sex_matches(nir: str, sexe: str) -> bool:
    """Tell whether the NIR's sex digit fits `sexe`: odd for men, even for women."""
    return (int(nir[0]) % 2 == 1) == (sexe == "M")


def nir_year_matches(nir: str, birth: date) -> bool:
    """Tell whether the NIR's two year digits are those of the birth date."""
    return int(nir[1:3]) == birth.year % 100


def nir_month_matches(nir: str, birth: date) -> bool:
    """Tell whether the NIR's month is the birth month, or one of the codes for an unknown one."""
    month = int(nir[3:5])
    return month == birth.month or month >= _UNKNOWN_MONTH_FROM


def finess_well_formed(finess: str) -> bool:
    """Tell whether `finess` has the 9 characters of a FINESS number, whatever its key."""
    return _FINESS.fullmatch(finess) is not None


def finess_key_valid(finess: str) -> bool:
    """Tell whether the FINESS number's last digit is its Luhn key."""
    if not finess_well_formed(finess):
        return False
    prefix = finess[:2]
    return luhn.is_valid(_FINESS_CORSICA.get(prefix, prefix) + finess[2:])


def postcode_well_formed(code_postal: str) -> bool:
    """Tell whether `code_postal` has the 5 digits of a French postcode."""
    return _POSTCODE.fullmatch(code_postal) is not None


def departement_of_postcode(code_postal: str) -> str | None:
    """Return the département a postcode belongs to, or None when it is in none (Monaco: 98000).

    The first two digits, except Corsica (200xx-201xx: 2A, 202xx-206xx: 2B) and overseas (97x).
    """
    if not postcode_well_formed(code_postal):
        return None
    if code_postal.startswith("20"):
        return _CORSICA_BY_THIRD_DIGIT.get(code_postal[2])
    code = code_postal[:3] if code_postal.startswith("97") else code_postal[:2]
    return code if is_departement_code(code) else None


def departement_of_finess(finess: str) -> str | None:
    """Return the département an establishment is in, from its FINESS number's first digits.

    Positions 1 and 2 (2A and 2B for Corsica); overseas 971 to 974 on three digits; 98 is
    Mayotte (976).
    """
    if not finess_well_formed(finess):
        return None
    code = (
        "976" if finess.startswith("98") else finess[:3] if finess.startswith("97") else finess[:2]
    )
    return code if is_departement_code(code) else None


def nir_birthplace_matches(nir: str, code_insee: str) -> bool:
    """Tell whether the NIR's birthplace (positions 6 to 10) is the commune of birth's INSEE code.

    Corsicans born before 1976 keep « 20 » in their NIR where the code now says 2A or 2B; a
    provisional number (sex digit 7 or 8) carries no reliable birthplace.
    """
    if nir[0] in "78":
        return True
    born = nir[5:10]
    if born[:2] == "20" and code_insee[:2] in ("2A", "2B"):
        return born[2:] == code_insee[2:]
    return born == code_insee
