"""What a schema's `load` returns for data it already accepted, built without its validators.

The worker reads back a dossier the web validated (bound to it by its SHA-256): it needs the
same data (dates as `date`, numbers as the field's type, defaults filled in, keys in the schema's
order) but not the checks again: at 1 to 1.3 ms per dossier, the schema's were 8-11 % of the
worker's CPU for a small transfer; this takes 0.03-0.07 ms. Each field's own conversion builds
the values (`_deserialize`, marshmallow's, pinned; or, for a class that declares it,
`accepted_value`: what its `_deserialize` returns for a value it accepted, not checked again), so
the types are marshmallow's; the validators, `@validates` and `@validates_schema` hooks are what
is skipped. What this cannot replay (load processors, unknown keys kept, typed mappings) is
refused when the loader is built, and tests/unit/test_trusted_load.py compares both paths on the
examples, the fixtures and random valid dossiers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from marshmallow import INCLUDE, Schema, fields, missing
from marshmallow.decorators import POST_LOAD, PRE_LOAD

Convert = Callable[[Any], Any]
Loader = Callable[[Mapping[str, Any]], dict[str, Any]]


def trusted_loader(schema: Schema) -> Loader:
    """Build, once, the function that converts data `schema` accepted as its `load` would."""
    if schema.many or schema.unknown == INCLUDE:
        raise TypeError(f"{type(schema).__name__}: a trusted load keeps only declared fields")
    if schema._hooks[PRE_LOAD] or schema._hooks[POST_LOAD]:
        raise TypeError(f"{type(schema).__name__}: a trusted load cannot replay its processors")
    plan = [
        (
            field.data_key if field.data_key is not None else name,
            field.attribute or name,
            field.load_default,
            _converter(field),
        )
        for name, field in schema.load_fields.items()
    ]
    if any("." in attribute for _, attribute, _, _ in plan):
        raise TypeError(f"{type(schema).__name__}: a dotted attribute is not supported")
    make = schema.dict_class

    def load(data: Mapping[str, Any]) -> dict[str, Any]:
        loaded = make()
        for key, attribute, default, convert in plan:
            value = data.get(key, missing)
            if value is missing:
                if default is missing:
                    continue
                loaded[attribute] = default() if callable(default) else default
            elif value is None:  # accepted, so the field allows it: `load` keeps None as is
                loaded[attribute] = None
            else:
                loaded[attribute] = convert(value)
        return loaded

    return load


def _converter(field: fields.Field[Any]) -> Convert:
    """The conversion `field.deserialize` applies to an accepted value, its validators left out."""
    if field.pre_load or field.post_load:
        raise TypeError(f"{field.name}: a trusted load cannot replay a field's processors")
    if isinstance(field, fields.Nested):
        if field.many or isinstance(field, fields.Pluck):
            raise TypeError(f"{field.name}: write a nested list as a List of Nested")
        return trusted_loader(field.schema)
    if isinstance(field, fields.List):
        inner = _converter(field.inner)
        return lambda values: [None if v is None else inner(v) for v in values]
    if type(field)._deserialize is fields.String._deserialize:  # returns the accepted str itself
        return _same
    # A field class may say what its `_deserialize` returns for a value it accepted (a date from
    # its text, a float from a JSON number): called alone, ~1 µs less per value. Its own class
    # only: a subclass that does not say it again goes through its `_deserialize`.
    if "accepted_value" in vars(type(field)):
        return cast(Convert, field.accepted_value)  # type: ignore[attr-defined]
    if isinstance(field, fields.Mapping) and (field.key_field or field.value_field):
        raise TypeError(f"{field.name}: a typed mapping is not supported")
    convert = field._deserialize
    return lambda value: convert(value, None, None)


def _same(value: Any) -> Any:
    return value
