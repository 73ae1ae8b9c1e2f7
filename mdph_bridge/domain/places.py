"""Départements as French sentences name them: « du Nord », « dans l'Aisne », « à la Somme »."""

from __future__ import annotations

from dataclasses import dataclass

ARTICLES = ("le", "la", "l'", "les", "")  # "": no article, « Paris », « Mayotte »
_OF = {"le": "du ", "la": "de la ", "l'": "de l'", "les": "des ", "": "de "}
_TO = {"le": "au ", "la": "à la ", "l'": "à l'", "les": "aux ", "": "à "}
_VOWELS = "aeiouyéèêàâîôûh"


@dataclass(frozen=True)
class Place:
    """A département as a report writes it; an unknown one is « le département 75 »."""

    code: str
    name: str = ""
    article: str = "le"

    @property
    def _label(self) -> str:
        return f"{self.name} ({self.code})" if self.name else f"département {self.code}"

    def the(self) -> str:
        """« le Nord (59) », « l'Aisne (02) », « Paris (75) »."""
        separator = "" if self.article.endswith("'") or not self.article else " "
        return f"{self.article}{separator}{self._label}"

    def of(self) -> str:
        """« du Nord (59) », « de la Somme (80) », « d'Ille-et-Vilaine… » when elided."""
        if not self.article and self.name[:1].lower() in _VOWELS:
            return f"d'{self._label}"
        return _OF[self.article] + self._label

    def to(self) -> str:
        """« au Nord (59) », « à l'Oise (60) »."""
        return _TO[self.article] + self._label

    def in_(self) -> str:
        """« dans le Nord (59) », « à Paris (75) »."""
        if self.name and not self.article:
            return f"{'en' if self.name[:1].lower() in _VOWELS else 'à'} {self.the()}"
        return f"dans {self.the()}"

    def council(self) -> str:
        """The payer of the PCH: « le département du Nord (59) »."""
        return f"le département {self.of()}" if self.name else self.the()


def of_right(label: str) -> str:
    """« d'AAH », « de PCH »: French elision before a vowel."""
    return f"d'{label}" if label[:1].lower() in "aeiouyéh" else f"de {label}"
