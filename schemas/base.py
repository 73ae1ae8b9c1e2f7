"""Base schema: unknown keys refused, every built-in error message in French with a stable code."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from schemas.errors import problem

_INVALID_BY_FIELD: list[tuple[type[fields.Field], str]] = [
    (fields.Boolean, "champ.booleen"),
    (fields.Date, "champ.date"),
    (fields.Integer, "champ.entier"),
    (fields.String, "champ.texte"),
    (fields.List, "champ.liste"),
    (fields.Nested, "champ.objet"),
    (fields.Dict, "champ.objet"),
]


_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_text(value: str) -> None:
    """Refuse control characters and lone surrogates: no database or file format stores them."""
    if _FORBIDDEN_CHARACTERS.search(value):
        raise ValidationError(problem("champ.caracteres"))


def _frenchify(field: fields.Field) -> None:
    if isinstance(field, fields.String):
        field.validators.append(clean_text)
    field.error_messages["required"] = problem("champ.obligatoire")
    field.error_messages["null"] = problem("champ.nul")
    for kind, code in _INVALID_BY_FIELD:
        if isinstance(field, kind):
            field.error_messages["invalid"] = problem(code)
            if isinstance(field, fields.Nested):
                field.error_messages["type"] = problem(code)
            break
    if isinstance(field, fields.List):
        _frenchify(field.inner)


class WireSchema(Schema):
    """Schema of a payload received from outside: strict, with French errors."""

    class Meta:
        unknown = RAISE

    error_messages = {  # noqa: RUF012 - marshmallow reads this class attribute
        "unknown": problem("champ.inconnu"),
        "type": problem("champ.objet"),
    }

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        """Give every bound field French messages with codes."""
        _frenchify(field_obj)


def one_of(choices: Iterable[str]) -> Callable[[Any], None]:
    """Validate that a value is one of `choices`."""
    allowed = tuple(choices)

    def validate(value: Any) -> None:
        if value not in allowed:
            raise ValidationError(problem("champ.choix", choix=", ".join(allowed)))

    return validate


def length(low: int, high: int) -> Callable[[str], None]:
    """Validate a string's length."""

    def validate(value: str) -> None:
        if not low <= len(value) <= high:
            raise ValidationError(problem("champ.longueur", min=low, max=high))

    return validate


def matches(pattern: str, code: str) -> Callable[[str], None]:
    """Validate a string against a regular expression; fail with `code`."""
    compiled = re.compile(pattern)

    def validate(value: str) -> None:
        if not compiled.fullmatch(value):
            raise ValidationError(problem(code))

    return validate


def between(low: int, high: int) -> Callable[[int], None]:
    """Validate that a number lies within bounds."""

    def validate(value: int) -> None:
        if not low <= value <= high:
            raise ValidationError(problem("champ.borne", min=low, max=high))

    return validate
