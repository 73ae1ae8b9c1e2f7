"""A dossier the web validated is loaded by the worker as the schema loads it, unchecked."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from dossiers import (
    EXAMPLES,
    PDF,
    dossier,
    identical,
    in_an_establishment,
    with_technical_aid_partly_paid,
)
from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load, pre_load

from mdph_bridge.services import submission
from mdph_bridge.services.packaging import json_entry
from mdph_bridge.services.submission import (
    dossier_digest,
    dossier_schema,
    load_staged_dossier,
)
from schemas.base import StrictDate
from schemas.dossier import DossierSchema, Number
from schemas.trusted import trusted_loader

pytestmark = pytest.mark.unit


def packaged(data: dict[str, Any]) -> bytes:
    entry = json_entry("dossier.json", data)
    with entry.open() as handle:
        return handle.read()


def defaults_left_out(data: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """The dossier without the optional keys that hold their default: `load` puts them back."""
    kept = {}
    for name, field in schema.load_fields.items():
        if name not in data:
            continue
        value, default = data[name], field.load_default
        if not field.required and value == (default() if callable(default) else default):
            continue
        if isinstance(field, fields.Nested) and value is not None:
            value = defaults_left_out(value, field.schema)
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            value = [defaults_left_out(item, field.inner.schema) for item in value]
        kept[name] = value
    return kept


def fixtures() -> dict[str, dict[str, Any]]:
    examples = {
        f"example {path.parent.name}": json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(EXAMPLES.glob("*/dossier.json"))
    }
    built = {
        "dossier()": dossier(),
        "medical": dossier(medical={"certificat.pdf": PDF}, evaluation={"diagnostic": "G80.1"}),
        "technical aid partly paid": with_technical_aid_partly_paid(dossier()),
        "in an establishment": in_an_establishment(dossier()),
        "no documents": dossier(files={}),
    }
    schema = DossierSchema()
    minimal = {
        f"{name}, defaults left out": defaults_left_out(copy.deepcopy(data), schema)
        for name, data in (examples | built).items()
    }
    return examples | built | minimal


FIXTURES = fixtures()


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_a_valid_dossier_loads_the_same_without_its_validators(name: str) -> None:
    data = FIXTURES[name]
    loaded = DossierSchema().load(copy.deepcopy(data))
    trusted = trusted_loader(DossierSchema())(copy.deepcopy(data))
    identical(trusted, loaded)
    assert packaged(trusted) == packaged(loaded)


def test_defaults_and_types_are_those_of_the_schema() -> None:
    data = defaults_left_out(dossier(), DossierSchema())
    assert "representants_legaux" not in data
    assert "evaluation_medicale" not in data
    trusted = trusted_loader(DossierSchema())(data)
    assert trusted["representants_legaux"] == []
    assert trusted["evaluation_medicale"] is None
    hours = next(d["pch"]["heures_mensuelles"] for d in trusted["droits"] if d["pch"])
    assert type(hours["emploi_direct"]) is float  # a JSON integer, loaded as a float
    assert type(hours["mandataire_gestes_soins"]) is int  # absent: the default as declared, 0
    assert str(trusted["transfert"]["date_demenagement"]) == data["transfert"]["date_demenagement"]


class _Processed(Schema):
    value = fields.String()

    @post_load
    def _upper(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"value": data["value"].upper()}


class _Prepared(Schema):
    value = fields.String()

    @pre_load
    def _strip(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return data


class _Plucked(Schema):
    inner = fields.Pluck(_Processed, "value")


class _Typed(Schema):
    mapping = fields.Dict(keys=fields.String(), values=fields.Date())


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class _FieldProcessed(Schema):
    value = fields.String(post_load=str.upper)


@pytest.mark.parametrize(
    "schema", [_Processed, _Prepared, _Plucked, _Typed, _Open, _FieldProcessed]
)
def test_what_a_trusted_load_cannot_replay_is_refused_when_built(schema: type[Schema]) -> None:
    with pytest.raises(TypeError):
        trusted_loader(schema())


class _Dated(Schema):
    day = StrictDate()
    amount = Number()


class _LaterDate(StrictDate):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return date.fromisoformat(value) + timedelta(days=1)


class _LaterDated(Schema):
    day = _LaterDate()


def test_a_field_s_accepted_value_is_its_declared_conversion_alone() -> None:
    """Not checked again: a date's pattern nor a number's type (the schema checked them)."""
    loaded = trusted_loader(_Dated())({"day": "20240601", "amount": "3"})

    assert loaded == {"day": date(2024, 6, 1), "amount": 3.0}
    assert type(loaded["amount"]) is float
    with pytest.raises(ValidationError) as refused:
        _Dated().load({"day": "20240601", "amount": "3"})
    assert set(refused.value.messages) == {"day", "amount"}


def test_a_subclass_that_does_not_declare_it_again_goes_through_its_deserialize() -> None:
    assert trusted_loader(_LaterDated())({"day": "2024-06-01"}) == {"day": date(2024, 6, 2)}


def test_the_bytes_validated_are_loaded_without_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = json.dumps(dossier()).encode()
    expected = dossier_schema().load(json.loads(raw))

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the schema ran")

    monkeypatch.setattr(DossierSchema, "load", refuse)
    identical(load_staged_dossier(raw, dossier_digest(raw)), expected)


def _tricky_bytes() -> bytes:
    """A valid dossier written as a client may write it: escapes, accents, a pair of surrogates
    escaped, numbers with an exponent or a fraction, a key given twice (the last one counts)."""
    data = dossier()
    data["beneficiaire"]["nom_naissance"] = "Lefèvre-Ñúñez"
    data["beneficiaire"]["prenoms"] = ["Zoë", "Anne-Maëlle"]
    data["beneficiaire"]["adresse_nouvelle"]["ligne1"] = '2 place de l\'Église \U0001f600 \\ "A"'
    text = json.dumps(data, ensure_ascii=True)  # every non-ASCII character escaped, pairs too
    text = text.replace('"prestataire": 60', '"prestataire": 12, "prestataire": 6.0e1')
    text = text.replace('"montant_mensuel": 1471.2', '"montant_mensuel": 14712E-1')
    assert "\\ud83d\\ude00" in text
    assert "6.0e1" in text
    assert "14712E-1" in text
    return text.encode()


@pytest.mark.parametrize("validated", [True, False], ids=["trusted", "validated again"])
def test_staged_bytes_read_as_the_standard_library_reads_them(validated: bool) -> None:
    raw = _tricky_bytes()
    expected = dossier_schema().load(json.loads(raw))
    loaded = load_staged_dossier(raw, dossier_digest(raw) if validated else None)
    identical(loaded, expected)
    assert packaged(loaded) == packaged(expected)
    assert loaded["beneficiaire"]["adresse_nouvelle"]["ligne1"].endswith('\U0001f600 \\ "A"')


def _outcome(load: Callable[[], Any]) -> Any:
    """What a load gave: the dossier, or the problems it was refused for."""
    try:
        return load()
    except ValidationError as exc:
        return exc.messages


HOSTILE_NUMBERS = ["123456789012345678901234567890", "-9223372036854775809", "1e400"]


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_a_number_orjson_reads_otherwise_is_read_as_the_standard_library_reads_it(
    number: str,
) -> None:
    # orjson reads an integer past 64 bits as a float and refuses 1e400: such bytes go to `json`,
    # so the value processed is the one validated, whichever path loads it.
    text = json.dumps(dossier()).replace(
        '"montant_mensuel": 1471.2', f'"montant_mensuel": {number}'
    )
    assert number in text
    raw = text.encode()
    trusted = _outcome(lambda: load_staged_dossier(raw, dossier_digest(raw)))
    identical(trusted, _outcome(lambda: submission.trusted_dossier_loader()(json.loads(raw))))
    validated = _outcome(lambda: load_staged_dossier(raw, None))
    assert validated == _outcome(lambda: dossier_schema().load(json.loads(raw)))


@pytest.mark.parametrize("digest", [None, dossier_digest(b"{}")], ids=["none", "other"])
def test_other_bytes_or_no_digest_are_validated_in_full(
    digest: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = dossier()
    refused["beneficiaire"]["date_naissance"] = "1984-03-14"  # the NIR says another year
    raw = json.dumps(refused).encode()
    calls: list[object] = []
    real_load = DossierSchema.load

    def counted(self: DossierSchema, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real_load(self, *args, **kwargs)

    monkeypatch.setattr(DossierSchema, "load", counted)
    with pytest.raises(ValidationError) as refusal:
        load_staged_dossier(raw, digest)
    assert "nir" in refusal.value.messages["beneficiaire"]  # type: ignore[index]
    assert len(calls) == 1
    # The same bytes, had they been the ones validated, would not run the schema.
    loaded = load_staged_dossier(raw, dossier_digest(raw))
    assert loaded["beneficiaire"]["date_naissance"].year == 1984
    assert len(calls) == 1


def test_bytes_validated_by_another_release_are_validated_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = dossier()
    refused["beneficiaire"]["date_naissance"] = "1984-03-14"  # the NIR says another year
    raw = json.dumps(refused).encode()
    monkeypatch.setattr(submission, "VALIDATING_CODE", b"the rules of an earlier release")
    digest_then = dossier_digest(raw)
    monkeypatch.undo()
    with pytest.raises(ValidationError):
        load_staged_dossier(raw, digest_then)


def test_the_validating_code_covers_the_schemas_the_rules_and_the_territories() -> None:
    assert submission._validating_code() == submission.VALIDATING_CODE
    sources = {"dossier.py", "trusted.py", "dossier_rules.py", "territoires.py", "territoires.json"}
    read: list[str] = []
    real = Path.read_bytes

    def noted(path: Path) -> bytes:
        read.append(path.name)
        return real(path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "read_bytes", noted)
        submission._validating_code()
    assert sources <= set(read)
