"""Base schema: unknown keys refused, every built-in error message in French with a stable code."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any, cast

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate
from marshmallow.error_store import ErrorStore

from schemas.errors import problem

_INVALID_BY_FIELD: list[tuple[type[fields.Field[Any]], str]] = [
    (fields.Boolean, "champ.booleen"),
    (fields.Date, "champ.date"),
    (fields.Integer, "champ.entier"),
    (fields.String, "champ.texte"),
    (fields.List, "champ.liste"),
    (fields.Nested, "champ.objet"),
    (fields.Dict, "champ.objet"),
]


_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# C1 controls and the bidirectional embeddings, overrides and isolates: invisible, they can make a
# file number or a name read differently from what is stored ("Trojan Source", CVE-2021-42574).
_INVISIBLE_CHARACTERS = re.compile(r"[\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str) -> None:
    """Refuse control characters and lone surrogates: no database or file format stores them."""
    if _FORBIDDEN_CHARACTERS.search(value):
        raise ValidationError(problem("champ.caracteres"))


def visible_text(value: str) -> None:
    """Refuse what would make a text read otherwise than it is stored."""
    if _INVISIBLE_CHARACTERS.search(value):
        raise ValidationError(problem("champ.caracteres_invisibles"))


_UNWANTED_CHARACTERS = re.compile(
    f"{_FORBIDDEN_CHARACTERS.pattern}|{_INVISIBLE_CHARACTERS.pattern}"
)


def clean_visible_text(value: str) -> None:
    """`clean_text` and `visible_text` with their messages, in one search of a text that breaks
    neither (nearly every one): a text field of a dossier ran both searches."""
    if _UNWANTED_CHARACTERS.search(value) is None:
        return
    messages: list[str] = []
    for check in (clean_text, visible_text):
        try:
            check(value)
        except ValidationError as error:
            messages += cast("list[str]", error.messages)
    raise ValidationError(messages)


class FileName(fields.String):
    """A document's file name: its invisible characters are refused with the documents' own
    check (`piece.nom_invalide`), which also refuses paths."""


class StrictBoolean(fields.Boolean):
    """A JSON true or false, and nothing else: not "oui", "1", 1 or 0 (1 == True in Python)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictDate(fields.Date):
    """A date written AAAA-MM-JJ only (Python would also read 20230601 or 2023-W22-4)."""

    _PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not self._PATTERN.fullmatch(value):
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)
        # What marshmallow's "iso" format calls, without its look-ups (~1 µs a date).
        try:
            return date.fromisoformat(value)
        except ValueError as error:
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE) from error


def _frenchify(field: fields.Field[Any]) -> None:
    # Fields of a schema instance are shallow copies of the declared ones: assign new lists and
    # dicts rather than mutating the shared ones, or every new schema would add to all of them.
    if isinstance(field, fields.String) and {clean_text, clean_visible_text}.isdisjoint(
        field.validators
    ):
        check = clean_text if isinstance(field, FileName) else clean_visible_text
        field.validators = [*field.validators, check]
    messages = {"required": problem("champ.obligatoire"), "null": problem("champ.nul")}
    for kind, code in _INVALID_BY_FIELD:
        if isinstance(field, kind):
            messages["invalid"] = problem(code)
            if isinstance(field, fields.Nested):
                messages["type"] = problem(code)
            break
    field.error_messages = {**field.error_messages, **messages}
    # marshmallow builds an `And` of the field's validators for each value it checks (its
    # `_validate_all` is a property): the same `And`, built once, and nothing for no validators.
    field.__dict__["_validate"] = validate.And(*field.validators) if field.validators else _none
    if isinstance(field, fields.List):
        _frenchify(field.inner)


def _none(_value: Any) -> None:
    """No validator to run."""


class WireSchema(Schema):
    """Schema of a payload received from outside: strict, with French errors."""

    class Meta:
        unknown = RAISE

    error_messages = {  # noqa: RUF012 - marshmallow reads this class attribute
        "unknown": problem("champ.inconnu"),
        "type": problem("champ.objet"),
    }

    # What `_deserialize` walks: worked out for the fields it was worked out from (`_walk`).
    _plan: list[tuple[str, str, fields.Field[Any]]] | None = None
    _known_keys: frozenset[str] = frozenset()
    _walked: object = None

    def _walk(self) -> list[tuple[str, str, fields.Field[Any]]] | None:
        """What each load of this schema walks (see `_deserialize`), worked out once for its
        fields: again if they were rebuilt (a `Nested` copies its schema, then sets its fields
        for `only` or `exclude` without building it anew)."""
        if self._walked is self.load_fields:
            return self._plan
        plan = [
            (field.data_key if field.data_key is not None else name, field.attribute or name, field)
            for name, field in self.load_fields.items()
        ]
        self._known_keys = frozenset(key for key, _, _ in plan)
        # marshmallow writes a dotted attribute into nested dicts; two fields may read one key.
        supported = len(self._known_keys) == len(plan) and not any(
            "." in attribute for _, attribute, _ in plan
        )
        self._plan = plan if supported else None
        self._walked = self.load_fields
        return self._plan

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        """Give every bound field French messages with codes."""
        _frenchify(field_obj)

    def _deserialize(
        self,
        data: Any,
        *,
        error_store: ErrorStore,
        many: bool = False,
        partial: Any = None,
        unknown: Any = RAISE,
        index: int | None = None,
    ) -> Any:
        """marshmallow's walk over the fields, without what it rebuilds for every load (a
        closure and a keyword dict per field, the set of known keys, the `partial` checks):
        ~1/4 of a dossier's validation. Same calls, values, errors and order; any other case
        (a list, `partial`, unknown keys kept or dropped, not a dict) is marshmallow's own. It
        stands for a private method of the pinned marshmallow: tests/unit/test_dossier_properties.py
        compares both walks.
        """
        plan = self._walk()
        # A plain dict only: its keys are what `get` finds and `len` counts (not so for a
        # request's headers or query arguments behind webargs' proxy).
        if (
            plan is None
            or many
            or partial is not None
            or unknown != RAISE
            or type(data) is not dict
        ):
            return super()._deserialize(
                data,
                error_store=error_store,
                many=many,
                partial=partial,
                unknown=unknown,
                index=index,
            )
        index = index if self.opts.index_errors else None
        loaded = self.dict_class()
        given = 0
        for key, attribute, field in plan:
            raw = data.get(key, missing)
            if raw is not missing:
                given += 1
            try:
                value = field.deserialize(raw, key, data)
            except ValidationError as error:
                error_store.store_error(error.messages, key, index=index)  # type: ignore[no-untyped-call]
                value = error.valid_data or missing
            if value is not missing:
                loaded[attribute] = value
        if given != len(data):  # some key is no field's: refused, as marshmallow orders them
            for key in set(data) - self._known_keys:
                refused = [self.error_messages["unknown"]]
                error_store.store_error(refused, key, index)  # type: ignore[no-untyped-call]
        return loaded


class _FullMatch(validate.Regexp):
    """Regexp validator that must match the whole value (and publishes an anchored pattern)."""

    def __call__(self, value: str) -> str:  # type: ignore[override]
        if cast("re.Pattern[str]", self.regex).fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


# marshmallow's own validators, so that apispec publishes enum, lengths, bounds and patterns in
# the OpenAPI document and the JSON Schema; their messages are French problems with codes.


def one_of(choices: Iterable[str]) -> validate.OneOf:
    """Validate that a value is one of `choices`."""
    allowed = tuple(choices)
    return validate.OneOf(allowed, error=problem("champ.choix", choix=", ".join(allowed)))


def length(low: int, high: int) -> validate.Length:
    """Validate a string's length."""
    return validate.Length(low, high, error=problem("champ.longueur", min=low, max=high))


def matches(pattern: str, code: str) -> validate.Regexp:
    """Validate a whole string against a regular expression; fail with `code`."""
    return _FullMatch(f"^(?:{pattern})$", error=problem(code))


def between(low: int, high: int) -> validate.Range:
    """Validate that a number lies within bounds."""
    return validate.Range(low, high, error=problem("champ.borne", min=low, max=high))
