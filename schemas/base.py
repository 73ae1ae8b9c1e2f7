"""Base schema: unknown keys refused, every built-in error message in French with a stable code."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, cast

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validate
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
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

    accepted_value = bool  # what a value accepted loads as, without the check (schemas/trusted.py)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictDate(fields.Date):
    """A date written AAAA-MM-JJ only (Python would also read 20230601 or 2023-W22-4)."""

    _PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
    accepted_value = staticmethod(date.fromisoformat)  # schemas/trusted.py: not checked again

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
    field.__dict__["_validate"] = _AllOf(*field.validators) if field.validators else _none
    if isinstance(field, fields.List):
        _frenchify(field.inner)


def _none(_value: Any) -> None:
    """No validator to run."""


class _AllOf(validate.And):
    """marshmallow's `And`, which builds a list of errors and a keyword dict for every value
    checked: here only once a validator fails. Same validators, in order, same error."""

    def __call__(self, value: Any) -> Any:
        for position, validator in enumerate(self.validators):
            try:
                validator(value)
            except ValidationError as error:
                return self._refuse(value, error, position)
        return value

    def _refuse(self, value: Any, first: ValidationError, position: int) -> Any:
        """Raise what `And` raises: the failure of the validator at `position`, then those of the
        validators after it, their messages and keywords gathered (the ones before it passed)."""
        failures = [first]
        for validator in self.validators[position + 1 :]:
            try:
                validator(value)
            except ValidationError as error:
                failures.append(error)
        errors: list[Any] = []
        kwargs: dict[str, Any] = {}
        for failure in failures:
            kwargs.update(failure.kwargs)
            if isinstance(failure.messages, dict):
                errors.append(failure.messages)
            else:
                errors.extend(failure.messages)
        if errors:
            raise ValidationError(errors, **kwargs)
        return value


def _raiser(error: ValidationError) -> Callable[..., None]:
    """A validator that fails with `error`, already raised by another."""

    def fail(*_: Any, **__: Any) -> None:
        raise error

    return fail


Deserialize = Callable[[Any, str, Any], Any]


def _deserializer(field: fields.Field[Any]) -> Deserialize:
    """`field.deserialize`, its options looked up once rather than for every value: same checks,
    conversion, validators and errors, in the same order."""
    kind = type(field)
    if (
        field.pre_load
        or field.post_load
        or kind.deserialize is not fields.Field.deserialize
        or kind._validate_missing is not fields.Field._validate_missing
    ):
        return field.deserialize
    required, allow_none, default = field.required, field.allow_none, field.load_default
    check = field._validate
    # A text field's conversion returns a `str` as it is.
    text = kind._deserialize is fields.String._deserialize
    nested = kind._deserialize is fields.Nested._deserialize
    convert = _nested(field) if nested else field._deserialize  # type: ignore[arg-type]

    def deserialize(value: Any, attr: str, data: Any) -> Any:
        if value is missing:
            if required:
                raise field.make_error("required")
            return default() if callable(default) else default
        if value is None:
            if allow_none:
                return None
            raise field.make_error("null")
        output = value if text and type(value) is str else convert(value, attr, data)
        check(output)
        return output

    return deserialize


def _nested(field: fields.Nested) -> Deserialize:
    """A nested object's conversion: its schema's load, as `Nested` calls it for one object."""
    schema = field.schema
    kind = type(field)
    if (
        field.many
        or schema.many
        or kind._load is not fields.Nested._load
        or kind._test_collection is not fields.Nested._test_collection
    ):
        return field._deserialize
    load, unknown = schema._do_load, field.unknown

    def convert(value: Any, attr: str, data: Any) -> Any:
        try:
            return load(value, unknown=unknown)
        except ValidationError as error:
            raise ValidationError(error.messages, valid_data=error.valid_data) from error

    return convert


class WireSchema(Schema):
    """Schema of a payload received from outside: strict, with French errors."""

    class Meta:
        unknown = RAISE

    error_messages = {  # noqa: RUF012 - marshmallow reads this class attribute
        "unknown": problem("champ.inconnu"),
        "type": problem("champ.objet"),
    }

    # What `_deserialize` walks: worked out for the fields it was worked out from (`_walk`).
    _plan: list[tuple[str, str, Deserialize]] | None = None
    _known_keys: frozenset[str] = frozenset()
    _walked: object = None

    def _walk(self) -> list[tuple[str, str, Deserialize]] | None:
        """What each load of this schema walks (see `_deserialize`), worked out once for its
        fields: again if they were rebuilt (a `Nested` copies its schema, then sets its fields
        for `only` or `exclude` without building it anew)."""
        if self._walked is self.load_fields:
            return self._plan
        plan = [
            (
                field.data_key if field.data_key is not None else name,
                field.attribute or name,
                _deserializer(field),
            )
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

    def _do_load(
        self,
        data: Any,
        *,
        many: bool | None = None,
        partial: Any = None,
        unknown: Any = None,
        postprocess: bool = True,
    ) -> Any:
        """marshmallow's load of one object, without its two passes over the schema validators
        and the keyword calls around each: same calls in the same order, same result and
        errors. Any other case (a list, `partial`, processors) is marshmallow's own. It stands
        for a private method of the pinned marshmallow: tests/unit/test_dossier_properties.py
        and tests/unit/test_validation_shortcuts.py compare both."""
        hooks = self._hooks
        if (
            many
            or self.many
            or partial is not None
            or self.partial is not None
            or hooks[PRE_LOAD]
            or hooks[POST_LOAD]
        ):
            return super()._do_load(
                data, many=many, partial=partial, unknown=unknown, postprocess=postprocess
            )
        unknown = self.unknown if unknown is None else unknown
        error_store = ErrorStore()  # type: ignore[no-untyped-call]
        result = self._deserialize(data, error_store=error_store, unknown=unknown)
        if hooks[VALIDATES]:
            self._invoke_field_validators(error_store=error_store, data=result, many=False)
        if hooks[VALIDATES_SCHEMA]:
            field_errors = bool(error_store.errors)
            for name, skip_on_field_errors, pass_original in self._schema_validators():
                if field_errors and skip_on_field_errors:
                    continue
                validator = getattr(self, name)
                try:
                    if pass_original:
                        validator(result, data, partial=None, many=False, unknown=unknown)
                    else:
                        validator(result, partial=None, many=False, unknown=unknown)
                except ValidationError as error:  # stored by marshmallow, at the path it names
                    self._run_validator(
                        _raiser(error),
                        result,
                        original_data=data,
                        error_store=error_store,
                        many=False,
                        partial=None,
                        unknown=unknown,
                        pass_original=False,
                    )
        if error_store.errors:
            refused = ValidationError(error_store.errors, data=data, valid_data=result)
            self.handle_error(refused, data, many=False, partial=None)
            raise refused
        return result

    @classmethod
    @functools.cache
    def _schema_validators(cls) -> list[tuple[str, bool, bool]]:
        """Name, `skip_on_field_errors` and `pass_original` of each schema validator, in
        marshmallow's order: those given the collection first."""
        hooks = sorted(cls._hooks[VALIDATES_SCHEMA], key=lambda hook: not hook[1])
        return [
            (name, options["skip_on_field_errors"], options.get("pass_original", False))
            for name, _, options in hooks
        ]

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
        # A plain dict only: its keys are what `get` finds and iterating yields (not so for a
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
        for key, attribute, deserialize in plan:
            try:
                value = deserialize(data.get(key, missing), key, data)
            except ValidationError as error:
                error_store.store_error(error.messages, key, index=index)  # type: ignore[no-untyped-call]
                value = error.valid_data or missing
            if value is not missing:
                loaded[attribute] = value
        if not self._known_keys.issuperset(data):  # refused, in marshmallow's order
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


class OneOf(validate.OneOf):
    """marshmallow's `OneOf`, which scans its tuple of choices (the R420 types are 67): here
    looked up in a set of them. Same choices, published in the same order, same error."""

    def __init__(self, choices: Iterable[Any], *, error: str | None = None) -> None:
        super().__init__(choices, error=error)
        self._allowed = frozenset(self.choices)

    def __call__(self, value: Any) -> Any:
        try:
            if value not in self._allowed:
                raise ValidationError(self._format_error(value))
        except TypeError as error:  # an unhashable value: no choice
            raise ValidationError(self._format_error(value)) from error
        return value


def one_of(choices: Iterable[str]) -> validate.OneOf:
    """Validate that a value is one of `choices`."""
    allowed = tuple(choices)
    return OneOf(allowed, error=problem("champ.choix", choix=", ".join(allowed)))


def length(low: int, high: int) -> validate.Length:
    """Validate a string's length."""
    return validate.Length(low, high, error=problem("champ.longueur", min=low, max=high))


def matches(pattern: str, code: str) -> validate.Regexp:
    """Validate a whole string against a regular expression; fail with `code`."""
    return _FullMatch(f"^(?:{pattern})$", error=problem(code))


def between(low: int, high: int) -> validate.Range:
    """Validate that a number lies within bounds."""
    return validate.Range(low, high, error=problem("champ.borne", min=low, max=high))
