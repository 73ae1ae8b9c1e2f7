"""orjson writes what the standard library wrote: the API's answers and the packages' JSON files."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from dossiers import PDF, dossier
from flask.json.provider import DefaultJSONProvider

from mdph_bridge.http.app import BridgeFlask
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
