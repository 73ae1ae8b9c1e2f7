"""The shortcuts of a dossier's validation against what they stand for: marshmallow's `And`,
`OneOf` and load (schemas/base.py), stdnum's NIR check and the letter-by-letter name check.

tests/unit/test_dossier_properties.py compares whole dossiers; these are the cases no dossier
schema has (a validator failing with a dict or with keywords, `pass_original`, an error named
after another field) and the inputs of the two domain checks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from dossiers import marshmallow_only
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError, fields, validate, validates, validates_schema
from stdnum.fr import nir as stdnum_nir

from mdph_bridge.domain import persons
from mdph_bridge.domain.identifiers import nir_key_valid, nir_well_formed
from mdph_bridge.domain.persons import is_person_name
from schemas.base import OneOf, WireSchema, _AllOf

pytestmark = pytest.mark.unit


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """What a call returns, or the messages and keywords of the ValidationError it raises."""
    try:
        return "returned", call()
    except ValidationError as error:
        return "refused", (error.messages, error.kwargs)


def _passes(value: Any) -> None:
    """A validator that accepts anything."""


def _fails(value: Any) -> None:
    raise ValidationError("non")


def _fails_twice(value: Any) -> None:
    raise ValidationError(["un", "deux"], code="a")


def _fails_with_a_dict(value: Any) -> None:
    raise ValidationError({"champ": ["faux"]}, code="b")


def _fails_with_nothing(value: Any) -> None:
    raise ValidationError([])


VALIDATORS = [_passes, _fails, _fails_twice, _fails_with_a_dict, _fails_with_nothing]


@settings(database=None)
@given(st.lists(st.sampled_from(VALIDATORS), min_size=1, max_size=4))
def test_all_of_answers_as_and(validators: list[Callable[[Any], None]]) -> None:
    """Same value or same messages, in order, with the same keywords, whichever fail."""
    assert _outcome(lambda: _AllOf(*validators)("x")) == _outcome(
        lambda: validate.And(*validators)("x")
    )


def test_all_of_runs_each_validator_once() -> None:
    """The validators after a failure run once, those before it are not run again."""
    calls: list[str] = []

    def counted(name: str, check: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(value: Any) -> None:
            calls.append(name)
            check(value)

        return run

    with pytest.raises(ValidationError):
        _AllOf(counted("a", _passes), counted("b", _fails), counted("c", _fails_twice))("x")
    assert calls == ["a", "b", "c"]


@pytest.mark.parametrize("value", ["b", "z", "", None, 1, ["b"], {"b": 1}, b"b"])
def test_one_of_answers_as_marshmallows(value: Any) -> None:
    """Same answer for a choice, another text, another type and an unhashable value."""
    ours, theirs = (
        OneOf(("a", "b"), error="{input} ∉ {choices}"),
        validate.OneOf(("a", "b"), error="{input} ∉ {choices}"),
    )
    assert _outcome(lambda: ours(value)) == _outcome(lambda: theirs(value))


def _not_bad(value: str) -> None:
    if value == "bad":
        _fails_twice(value)


class _Inner(WireSchema):
    a = fields.String(required=True, validate=[validate.Length(max=3), _not_bad])
    n = fields.Integer(load_default=None, allow_none=True)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _original(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        if isinstance(original, dict) and "extra" in original:
            raise ValidationError("original", "n")


class _Outer(WireSchema):
    inner = fields.Nested(_Inner, required=True)
    items = fields.List(fields.Nested(_Inner), load_default=list)
    narrowed = fields.Nested(_Inner(), only=("a",), allow_none=True)  # a narrowed copy
    code = fields.String(data_key="kod", validate=OneOf(("x", "y")))
    day = fields.Date(allow_none=True)

    @validates("code")
    def _not_y(self, value: str, **_: Any) -> None:
        if value == "y":
            raise ValidationError("pas y")

    @validates_schema(pass_collection=True, skip_on_field_errors=True)
    def _collection(self, data: dict[str, Any], **_: Any) -> None:
        raise ValidationError("collection")

    @validates_schema(skip_on_field_errors=False)
    def _named(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("code") == "x":
            raise ValidationError({"deep": ["named"]}, "code")


@pytest.mark.parametrize(
    "data",
    [
        {"inner": {"a": "ok"}},
        {"inner": {"a": "toolong", "n": "1"}, "kod": "x", "day": None},
        {"inner": {"a": 1, "zz": 2}, "items": [{"a": "b"}, None, 3], "kod": "y"},
        {"inner": None, "items": "no", "kod": ["x"], "day": "2024-13-01", "code": "x"},
        {"inner": {"a": "ok", "extra": 1}, "items": [{}], "other": 1},
        {"inner": {"a": "bad", "extra": 1}, "items": [{"a": "ok"}, {"a": "bad"}], "kod": "x"},
        {"inner": {"a": "ok"}, "narrowed": {"a": "bad", "n": 1}},
        {"inner": {"a": "ok"}, "narrowed": None},
        {},
        [],
    ],
)
def test_the_load_answers_as_marshmallows(data: Any) -> None:
    """Schema validators given the collection or the original data, skipped on field errors or
    not, naming a field by its key; field validators; keys, nesting, lists, a narrowed copy,
    unknown keys."""

    def answer() -> str:
        try:
            return repr(_Outer().load(copy.deepcopy(data)))
        except ValidationError as error:
            return repr((error.messages, error.valid_data))

    shortcuts = answer()
    with marshmallow_only():
        assert shortcuts == answer()


NIRS = st.from_regex(r"[123478][0-9]{4}(?:[0-9]{2}|2[AB])[0-9]{8}", fullmatch=True)
KEYED_NIRS = NIRS.map(lambda nir: nir[:13] + stdnum_nir.calc_check_digits(nir))


@settings(max_examples=500, database=None)
@given(KEYED_NIRS | NIRS | st.text(alphabet="0123456789ABab .\n", max_size=17))
def test_the_nir_key_is_checked_as_stdnum_does_after_the_pattern(nir: str) -> None:
    """stdnum's key, without its cleaning and format checks, which the pattern does first."""
    assert nir_key_valid(nir) == (nir_well_formed(nir) and stdnum_nir.is_valid(nir))


NAMES = st.text(alphabet="aZ -'’.0éÉ\u0301\u00aa\u02b0ßŁ\t", max_size=12)


@settings(max_examples=500, database=None)
@given(NAMES)
def test_a_name_is_judged_as_letter_by_letter(name: str) -> None:
    """The shortcut for unaccented names answers as the check of each character."""
    shortcut = is_person_name(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(persons, "_PLAIN_NAME", re.compile(r"(?!)"))  # matches nothing
        assert shortcut == is_person_name(name)
