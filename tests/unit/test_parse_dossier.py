"""Hostile JSON in the dossier part is a 422 with a French message, never a crash."""

from __future__ import annotations

import pytest

from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.submission import parse_dossier

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "raw",
    [
        b'{"version_format": 1' + b"0" * 5000 + b"}",  # past Python's integer digit limit
        b'{"evaluation_medicale": {"x": NaN}}',
        b'{"evaluation_medicale": {"x": Infinity}}',
        b'{"a": "\\ud800"}',
        b'{"a": "x\\uDFFF"}',  # a low one alone, in capitals
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff\xfe{}",
    ],
    ids=[
        "huge-integer",
        "nan",
        "infinity",
        "lone-surrogate",
        "lone-low-surrogate",
        "deep-nesting",
        "not-utf8",
    ],
)
def test_unreadable_dossier_json_is_refused(raw: bytes) -> None:
    with pytest.raises(ServiceError) as caught:
        parse_dossier(raw)
    assert caught.value.status == 422
    assert [e["code"] for e in caught.value.erreurs] == ["requete.dossier_json"]
