"""Password policy after the CNIL's 2022 recommendation (délibération 2022-100), in French.

Accepted: 12 characters or more with upper case, lower case, digits and special characters; or
14 or more with upper case, lower case and digits; or a passphrase of 7 words or more. On top,
zxcvbn (its lists of leaked passwords, keyboard runs, dates, repeats) must rate it the hardest to
guess, and it must not contain the login.
"""

from __future__ import annotations

import re

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MIN_LENGTH_WITHOUT_SPECIAL = 14
MIN_PASSPHRASE_WORDS = 7
_WORD = re.compile(r"[^\W\d_]{2,}")
_STRONGEST = 4  # zxcvbn: "very unguessable", about 10^10 guesses or more


def _classes(password: str) -> set[str]:
    found = set()
    for char in password:
        if char.isupper():
            found.add("majuscule")
        elif char.islower():
            found.add("minuscule")
        elif char.isdigit():
            found.add("chiffre")
        else:
            found.add("special")
    return found


def _shape_ok(password: str) -> bool:
    classes = _classes(password)
    if len(password) >= MIN_LENGTH and len(classes) == 4:
        return True
    if len(password) >= MIN_LENGTH_WITHOUT_SPECIAL and {"majuscule", "minuscule", "chiffre"} <= (
        classes
    ):
        return True
    return len(_WORD.findall(password)) >= MIN_PASSPHRASE_WORDS


def password_problems(password: str, login: str) -> list[str]:
    """Say in French why a password is refused; an empty list if it is accepted."""
    problems = []
    if not _shape_ok(password):
        problems.append(
            f"Mot de passe trop faible : {MIN_LENGTH} caractères au moins avec majuscules, "
            f"minuscules, chiffres et caractères spéciaux ; ou {MIN_LENGTH_WITHOUT_SPECIAL} "
            "caractères au moins avec majuscules, minuscules et chiffres ; ou une phrase de "
            f"passe d'au moins {MIN_PASSPHRASE_WORDS} mots."
        )
    login = login.strip().lower()
    if login and login in password.lower():
        problems.append("Le mot de passe ne doit pas contenir l'identifiant.")
    elif zxcvbn(password[:100], user_inputs=[login])["score"] < _STRONGEST:
        problems.append(
            "Mot de passe trop courant ou trop facile à deviner (mot de passe connu, suite "
            "de clavier, date, répétition) : choisissez-en un autre."
        )
    return problems
