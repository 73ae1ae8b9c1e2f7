"""orjson writes what the standard library wrote: the API's answers and the packages' JSON files."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dossiers import PDF, dossier
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.dialects import postgresql

from mdph_bridge.http.app import BridgeFlask
from mdph_bridge.models.base import UTCDateTime, load_json
from mdph_bridge.services.packaging import json_entry
from mdph_bridge.services.submission import dossier_schema

pytestmark = pytest.mark.unit

VALUES: dict[str, Any] = {
    "texte": "Hauts-de-France, évaluation",
    "entier": 12,
    "réel": 0.1,
    "liste": [1, "b", None, True],
    "jour": date(2024, 1, 2),
    "instant": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    "identifiant": uuid.UUID(int=7),
    "imbriqué": {"z": 1, "a": {}},
}


@pytest.mark.parametrize("compact", [True, False])
def test_answers_read_as_flasks_own_json_provider_wrote_them(compact: bool) -> None:
    app = BridgeFlask(__name__)
    reference = DefaultJSONProvider(app)
    reference.ensure_ascii = False
    options: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}

    assert app.json.dumps(VALUES, **options) == reference.dumps(VALUES, **options)


def test_package_json_entries_are_the_text_json_dumps_wrote() -> None:
    data = dossier_schema().load(dossier(files={"justificatif.pdf": PDF})) | {"extra": VALUES}
    entry = json_entry("dossier.json", data)
    with entry.open() as raw:
        written = raw.read()

    expected = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    assert written == expected.encode()
    assert entry.size == len(written)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, null, true], "é": "ü"}',
        "[]",
        "[0.1, 1e-7, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 5e-324]",
        "[9223372036854775807, -9223372036854775808, 18446744073709551616]",
        '{"grand": 123456789012345678901234, "texte": "1234567890123456789"}',
        # A long text, its integer beyond 64 bits far in; 18 digits, then 19 beside accents.
        pytest.param(
            '{"texte": "' + "é 123 " * 500 + '", "grand": -18446744073709551617}', id="long text"
        ),
        '[123456789012345678, "ü1234567890123456789ü", 1.5e300]',
        '{"é": 123456789012345678.25, "ü": 1234567890123456789}',
        # The only integers of 19 digits orjson reads as floats: those below -2**63.
        "[-9223372036854775809, -9999999999999999999]",
    ],
)
def test_stored_json_loads_as_the_standard_library_reads_it(text: str) -> None:
    expected = json.loads(text)
    for given in (text, text.encode()):
        loaded = load_json(given)
        assert loaded == expected
        assert repr(loaded) == repr(expected)  # the same types: no integer read as a float


def test_stored_json_orjson_refuses_still_loads() -> None:
    assert repr(load_json("[NaN, Infinity]")) == "[nan, inf]"


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Europe/Paris"])
def test_dates_read_back_are_the_same_instant_in_utc(zone: str) -> None:
    read = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=ZoneInfo(zone))
    value = UTCDateTime().process_result_value(read, postgresql.dialect())
    assert value == read
    assert value is not None
    assert value.tzinfo is UTC
