"""Every route, for every role of its own or another département and anonymously: who may do what.

A route missing from RULES fails the build, so a new endpoint cannot ship without a declared rule.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from dossiers import PDF, dossier
from flask import Flask
from flask.testing import FlaskClient
from support import bearer
from test_processing import MEDICAL_PDF, run, submit

from mdph_bridge.extensions import Backends

pytestmark = pytest.mark.integration
PUBLIC = "public"
SENDER = "sender"  # the transfer belongs to the origin département (59)
RECEIVER = "receiver"  # the transfer belongs to the destination département (62)

# endpoint -> (roles allowed, whose transfer it addresses: SENDER / RECEIVER / None for lists)
RULES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "static": ((PUBLIC,), None),
    "api-docs.openapi_json": ((PUBLIC,), None),
    "health.healthz": ((PUBLIC,), None),
    "health.readyz": ((PUBLIC,), None),
    "public.hub_keys": ((PUBLIC,), None),
    "public.dossier_schema": ((PUBLIC,), None),
    "transfers.create": (("caseworker",), None),
    "transfers.index": (("caseworker",), None),
    "transfers.detail": (("caseworker",), SENDER),
    "transfers.correction": (("caseworker",), SENDER),
    "transfers.cancel": (("caseworker",), SENDER),
    "transfers.manifest": (("caseworker",), SENDER),
    "transfers.receipt": (("caseworker",), SENDER),
    "inbound.index": (("receiver", "doctor"), None),
    "inbound.detail": (("receiver", "doctor"), RECEIVER),
    "inbound.package": (("receiver", "doctor"), RECEIVER),
    "inbound.medical_package": (("doctor",), RECEIVER),
    "inbound.manifest": (("receiver", "doctor"), RECEIVER),
    "inbound.receipt": (("receiver", "doctor"), RECEIVER),
    "inbound.complete": (("receiver", "doctor"), RECEIVER),
    "inbound.return_": (("receiver", "doctor"), RECEIVER),
}
ROLES = ("caseworker", "receiver", "doctor", "supervisor")
# Well-formed bodies, so that what is tested is access, not validation.
BODIES: dict[str, dict[str, Any]] = {
    "inbound.receipt": {
        "recu": {"transfert": str(uuid.UUID(int=1)), "sha256_manifeste": "0" * 64, "date": "x"},
        "cle": "x",
        "signature": "x",
    },
    "inbound.complete": {"numero_dossier_destination": "62-0001"},
    "inbound.return_": {"motif": "autre"},
}
OWNER = {SENDER: "59", RECEIVER: "62"}
OTHER = {SENDER: "62", RECEIVER: "59"}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    return sorted(
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def test_every_route_has_a_declared_rule(app: Flask) -> None:
    assert {endpoint for endpoint, _, _ in routes(app)} == set(RULES)


def test_matrix(app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends) -> None:
    files = {"piece_identite.pdf": PDF, "certificat.pdf": MEDICAL_PDF}
    data = dossier(files={"piece_identite.pdf": PDF}, medical={"certificat.pdf": MEDICAL_PDF})
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], data, files)
    run(app, backends, transfer_id)
    tokens = {(code, role): demo[code]["jetons"][role] for code in ("59", "62") for role in ROLES}
    tokens |= {("80", role): demo["80"]["jetons"][role] for role in ("caseworker", "receiver")}
    failures = []

    for endpoint, method, rule in routes(app):
        allowed, side = RULES[endpoint]
        if endpoint == "static":
            continue  # no static folder: nothing is served there
        url = rule.replace("<uuid:transfer_id>", str(transfer_id))

        def call(
            headers: dict[str, str], target: str = url, method: str = method, body: Any = None
        ) -> Any:
            response = client.open(target, method=method, json=body or {}, headers=headers)
            response.close()
            return response

        anonymous = call({})
        if PUBLIC in allowed:
            if anonymous.status_code >= 400:
                failures.append(f"{method} {rule} anonymous: {anonymous.status_code}")
            continue
        if anonymous.status_code != 401:
            failures.append(f"{method} {rule} anonymous: {anonymous.status_code} (expected 401)")
        for (code, role), token in tokens.items():
            response = call(bearer(token), body=BODIES.get(endpoint))
            status = response.status_code
            if role not in allowed:
                expected = 403
            elif side is not None and code != OWNER[side]:
                expected = 404
            else:
                expected = None  # own data: anything but an access refusal
            body = response.get_json(silent=True) or {}
            codes = {e["code"] for e in body.get("erreurs", [])}
            if expected is None:
                if status in (401, 403) or "transfert.introuvable" in codes:
                    failures.append(f"{method} {rule} {code}/{role}: {status} {codes}")
            elif status != expected or (expected == 404 and codes != {"transfert.introuvable"}):
                failures.append(f"{method} {rule} {code}/{role}: {status} (expected {expected})")
        if side is not None:  # an unknown transfer looks exactly like another département's
            unknown = url.replace(str(transfer_id), str(uuid.uuid4()))
            owner_role = next(r for r in allowed if r in ROLES)
            owner = bearer(tokens[(OWNER[side], owner_role)])
            response = call(owner, unknown, body=BODIES.get(endpoint))
            if response.status_code != 404:
                failures.append(f"{method} {rule} unknown id: {response.status_code}")
    assert failures == []
