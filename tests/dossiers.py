"""Build wire-format dossiers and multipart submissions for tests, from the published example."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from marshmallow import Schema, validate
from support import bearer
from urllib3 import encode_multipart_formdata

from schemas import base

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE = EXAMPLES / "adulte-aah-pch-cmi-rqth" / "dossier.json"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def piece(
    name: str, content: bytes, type_piece: str = "piece_identite", medical: bool = False
) -> dict[str, Any]:
    """Describe a document as the dossier's `pieces` entry for `content`."""
    return {
        "nom_fichier": name,
        "type_piece": type_piece,
        "medical": medical,
        "sha256": hashlib.sha256(content).hexdigest(),
        "date": "2026-10-01",
    }


def postcode_in(departement: str) -> str:
    """A postcode of `departement`, so that an address agrees with the MDPH it is sent to."""
    return {"2A": "20000", "2B": "20200"}.get(departement, departement.ljust(5, "0"))


def readdress(data: dict[str, Any], origin: str, dest: str) -> None:
    """Address the dossier from `origin` to `dest`, with the person's addresses in them."""
    data["transfert"]["mdph_origine"] = origin
    data["transfert"]["mdph_destination"] = dest
    data["beneficiaire"]["adresse_precedente"]["code_postal"] = postcode_in(origin)
    data["beneficiaire"]["adresse_nouvelle"]["code_postal"] = postcode_in(dest)


def dossier(
    origin: str = "59",
    dest: str = "62",
    files: dict[str, bytes] | None = None,
    medical: dict[str, bytes] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the example dossier, addressed from `origin` to `dest`, declaring the given files."""
    data = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    readdress(data, origin, dest)
    files = {"piece_identite.pdf": PDF} if files is None else files
    data["pieces"] = [piece(name, content) for name, content in files.items()]
    data["pieces"] += [
        piece(name, content, "certificat_medical", medical=True)
        for name, content in (medical or {}).items()
    ]
    data["evaluation_medicale"] = evaluation
    return data


def with_technical_aid_partly_paid(data: dict[str, Any]) -> dict[str, Any]:
    """Add a PCH technical aid (element 2, paid once) of which two payments were already made."""
    aid = {
        **data["droits"][1],
        "identifiant": "D5",
        "type": "5.2",
        "date_decision": "2025-06-12",
        "date_ouverture": "2025-07-01",
        "date_echeance": "2030-06-30",
        "pch": {
            "montant_attribue": 3000,
            "versements": [
                {"montant": 1200, "date_versement": "2025-09-15", "payeur_departement": "59"},
                {"montant": 300.5, "date_versement": "2025-10-01", "payeur_departement": "59"},
            ],
            "payeur_departement": "59",
        },
    }
    data["droits"].append(aid)
    return data


def in_an_establishment(data: dict[str, Any]) -> dict[str, Any]:
    """Say the person lives in an establishment of 62 (format 1.1): no new domicile de secours."""
    place = {"type": "etablissement", "finess": "620001230", "depuis": "2026-11-02"}
    data["beneficiaire"]["lieu_de_vie"] = place
    return data


def multipart(data: dict[str, Any] | bytes, files: dict[str, bytes]) -> dict[str, Any]:
    """Build the request arguments of a submission: the `dossier` part plus one part per file.

    Encoded in memory (the test client would spool a large body to a temporary file it never
    closes) as browsers, curl and requests send it: a blank line ends every part's head, also an
    empty file's (werkzeug's encoder leaves it out there, `test_part_without_body`).
    """
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    parts = {"dossier": ("dossier.json", raw, "application/json")}
    for name, content in files.items():
        parts[name] = (name, content, "application/pdf")
    body, content_type = encode_multipart_formdata(parts)
    return {"data": body, "content_type": content_type}


def submit(
    client: FlaskClient,
    token: str,
    data: dict[str, Any],
    files: dict[str, bytes],
    key: str | None = None,
) -> uuid.UUID:
    """Submit a dossier and its files over the API; the hub must accept it (202)."""
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    response = client.post("/api/v1/transfers", **multipart(data, files), headers=headers)
    assert response.status_code == 202, response.get_json()
    return uuid.UUID(response.get_json()["id"])


def identical(trusted: Any, loaded: Any, path: str = "") -> None:
    """Equal, of the same types (1.0 == 1 == True in Python) and with keys in the same order."""
    assert type(trusted) is type(loaded), path
    if isinstance(loaded, dict):
        assert list(trusted) == list(loaded), path
        for key in loaded:
            identical(trusted[key], loaded[key], f"{path}.{key}")
    elif isinstance(loaded, list):
        assert len(trusted) == len(loaded), path
        for index, (a, b) in enumerate(zip(trusted, loaded, strict=True)):
            identical(a, b, f"{path}[{index}]")
    else:
        assert trusted == loaded, path


@contextlib.contextmanager
def marshmallow_only() -> Iterator[None]:
    """Every shortcut of schemas/base.py replaced by the marshmallow code it stands for: the
    walk over the fields, the load, the combined validators and the look-up of choices."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base.WireSchema, "_deserialize", Schema._deserialize)
        patch.setattr(base.WireSchema, "_do_load", Schema._do_load)
        patch.setattr(base._AllOf, "__call__", validate.And.__call__)
        patch.setattr(base.OneOf, "__call__", validate.OneOf.__call__)
        yield
