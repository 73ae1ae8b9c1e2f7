"""Every route, for every role of its own or another département and anonymously: who may do what.

A route missing from RULES (API, bearer tokens) or PAGES (pages, signed-in agents) fails the build,
so a new endpoint cannot ship without a declared rule.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import MEDICAL_PDF, run
from sqlalchemy import select
from support import bearer, csrf_token, sign_in

from mdph_bridge.extensions import Backends
from mdph_bridge.models import Account
from mdph_bridge.services import drafts
from mdph_bridge.services.auth import Principal

pytestmark = pytest.mark.integration
PUBLIC = "public"
SENDER = "sender"  # the transfer belongs to the origin département (59)
RECEIVER = "receiver"  # the transfer belongs to the destination département (62)
BOTH = "both"  # the transfer concerns both its origin (59) and its destination (62)

# endpoint -> (roles allowed, whose transfer it addresses: SENDER / RECEIVER / None for lists)
RULES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "static": ((PUBLIC,), None),
    "api-docs.openapi_json": ((PUBLIC,), None),
    "health.healthz": ((PUBLIC,), None),
    "health.readyz": ((PUBLIC,), None),
    "public.hub_keys": ((PUBLIC,), None),
    "public.dossier_schema": ((PUBLIC,), None),
    "public.audit_checkpoint": ((PUBLIC,), None),
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
    "inbound.reception_failure": (("receiver", "doctor"), RECEIVER),
    "inbound.complete": (("receiver", "doctor"), RECEIVER),
    "inbound.return_": (("receiver", "doctor"), RECEIVER),
    "metrics.index": (("supervisor",), None),
    "metrics.export": (("supervisor",), None),
    "metrics.transfer": (("supervisor",), BOTH),
    "prometheus.metrics": (("admin",), None),  # hub operators; tested in test_prometheus.py
}
# Pages: endpoint -> (roles allowed, whose transfer it addresses). PUBLIC pages need no account
# (they answer anything but an error); the others send anonymous visitors to the sign-in page.
PAGES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "web.static": ((PUBLIC,), None),
    "web.accueil": ((PUBLIC,), None),
    "compte.connexion": ((PUBLIC,), None),
    "compte.deconnexion": ((PUBLIC,), None),
    "compte.departement": ((PUBLIC,), None),
    "envois.index": (("caseworker",), None),
    "envois.nouveau_envoi": (("caseworker",), None),
    "envois.transfert": (("caseworker",), SENDER),
    "envois.correction": (("caseworker",), SENDER),
    "envois.annulation": (("caseworker",), SENDER),
    # A draft, like a transfer, is its département's: the sender's (59) here.
    "brouillons.index": (("caseworker",), None),
    "brouillons.nouveau": (("caseworker",), None),
    "brouillons.importer": (("caseworker",), None),
    "brouillons.brouillon": (("caseworker",), SENDER),
    "brouillons.etape": (("caseworker",), SENDER),
    "brouillons.enregistrer": (("caseworker",), SENDER),
    "brouillons.pieces": (("caseworker",), SENDER),
    "brouillons.verification": (("caseworker",), SENDER),
    "brouillons.exporter": (("caseworker",), SENDER),
    "brouillons.envoyer": (("caseworker",), SENDER),
    "brouillons.supprimer": (("caseworker",), SENDER),
    "recus.index": (("receiver", "doctor"), None),
    "recus.transfert": (("receiver", "doctor"), RECEIVER),
    "recus.paquet": (("receiver", "doctor"), RECEIVER),
    "recus.paquet_medical": (("doctor",), RECEIVER),
    "recus.manifeste": (("receiver", "doctor"), RECEIVER),
    "recus.recu_signe": (("receiver", "doctor"), RECEIVER),
    "recus.accuse": (("receiver", "doctor"), RECEIVER),
    "recus.integration": (("receiver", "doctor"), RECEIVER),
    "recus.renvoi": (("receiver", "doctor"), RECEIVER),
    "supervision.index": (("supervisor",), None),
    "supervision.export": (("supervisor",), None),
    "supervision.transfert": (("supervisor",), BOTH),
}
PAGE_FORMS: dict[str, dict[str, Any]] = {
    "recus.integration": {"numero_dossier_destination": "62-0001"},
    "recus.renvoi": {"motif": "autre"},
}
UPLOADS = {"envois.nouveau_envoi", "envois.correction", "brouillons.importer", "brouillons.pieces"}
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
    "inbound.reception_failure": {"code": "paquet_altere"},
}
OWNERS = {SENDER: {"59"}, RECEIVER: {"62"}, BOTH: {"59", "62"}}
# Placeholders of the URL rules other than the transfer id, with a value to call them with.
PLACEHOLDERS = {"<section>": "delais", "<etape>": "transfert"}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    return sorted(
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def test_every_route_has_a_declared_rule(app: Flask) -> None:
    assert {endpoint for endpoint, _, _ in routes(app)} == set(RULES) | set(PAGES)


def test_matrix(app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends) -> None:
    files = {"piece_identite.pdf": PDF, "certificat.pdf": MEDICAL_PDF}
    data = dossier(files={"piece_identite.pdf": PDF}, medical={"certificat.pdf": MEDICAL_PDF})
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], data, files)
    run(app, backends, transfer_id)
    tokens = {(code, role): demo[code]["jetons"][role] for code in ("59", "62") for role in ROLES}
    tokens |= {
        ("80", role): demo["80"]["jetons"][role]
        for role in ("caseworker", "receiver", "supervisor")
    }
    failures = []

    for endpoint, method, rule in routes(app):
        if endpoint in PAGES:
            continue  # test_pages_matrix
        allowed, side = RULES[endpoint]
        if endpoint == "static":
            continue  # no static folder: nothing is served there
        url = rule.replace("<uuid:transfer_id>", str(transfer_id))
        for placeholder, value in PLACEHOLDERS.items():
            url = url.replace(placeholder, value)

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
            elif side is not None and code not in OWNERS[side]:
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
            owner = bearer(tokens[(min(OWNERS[side]), owner_role)])
            response = call(owner, unknown, body=BODIES.get(endpoint))
            if response.status_code != 404:
                failures.append(f"{method} {rule} unknown id: {response.status_code}")
    assert failures == []


def test_a_supervisor_sees_no_figure_of_another_departement(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends
) -> None:
    transfer_id = submit(
        client, demo["59"]["jetons"]["caseworker"], dossier(), {"piece_identite.pdf": PDF}
    )
    run(app, backends, transfer_id)

    def figures(code: str) -> dict[str, Any]:
        token = demo[code]["jetons"]["supervisor"]
        return client.get("/api/v1/metrics", headers=bearer(token)).get_json()

    for code, count in (("59", 1), ("62", 1), ("80", 0)):
        body = figures(code)
        assert sum(row["nombre"] for row in body["etats"]) == count, code
        assert body["ouverts"]["total"] == count, code
        assert body["departements"] == [code]
    for code, ready in (("59", "1"), ("80", "0")):
        export = client.get(
            "/api/v1/metrics/etats.csv", headers=bearer(demo[code]["jetons"]["supervisor"])
        )
        rows = {
            line.split(";")[0]: line.split(";")[-1]
            for line in export.get_data(as_text=True).splitlines()
        }
        assert rows["ready"] == ready


def test_pages_matrix(
    app: Flask,
    web: Flask,
    demo: dict[str, Any],
    agents: dict[tuple[str, str], str],
    backends: Backends,
) -> None:
    api = app.test_client()
    files = {"piece_identite.pdf": PDF, "certificat.pdf": MEDICAL_PDF}
    data = dossier(files={"piece_identite.pdf": PDF}, medical={"certificat.pdf": MEDICAL_PDF})
    transfer_id = submit(api, demo["59"]["jetons"]["caseworker"], data, files)
    run(app, backends, transfer_id)
    caseworker = backends.sessions().scalar(
        select(Account.id).where(Account.login == agents[("59", "caseworker")])
    )
    principal = Principal(caseworker, "59", "caseworker", agent=True)

    def new_draft() -> uuid.UUID:
        return drafts.create(backends.sessions(), app.config["KEYRING"], principal).id

    anonymous = web.test_client()
    clients = {}
    for key, login in agents.items():
        clients[key] = web.test_client()
        clients[key].token = sign_in(clients[key], login)  # type: ignore[attr-defined]
    failures = []

    def call(client: FlaskClient, token: str, endpoint: str, method: str, url: str) -> Any:
        if method == "GET":
            response = client.get(url)
        elif endpoint in UPLOADS:
            parts = {"csrf_token": token, "dossier": (io.BytesIO(b"{}"), "dossier.json")}
            response = client.post(url, data=parts, content_type="multipart/form-data")
        else:
            response = client.post(url, data={"csrf_token": token, **PAGE_FORMS.get(endpoint, {})})
        response.close()
        return response

    for endpoint, method, rule in routes(app):
        if endpoint not in PAGES or endpoint == "web.static":
            continue
        allowed, side = PAGES[endpoint]
        # A fresh draft for each page of drafts: one of them deletes it.
        subject = str(new_draft() if "<uuid:draft_id>" in rule else transfer_id)
        url = rule.replace("<uuid:transfer_id>", subject).replace("<uuid:draft_id>", subject)
        for placeholder, value in PLACEHOLDERS.items():
            url = url.replace(placeholder, value)
        # A fresh token each time: signing out (even anonymously) ends the session and its token.
        anonymous_token = csrf_token(anonymous.get("/connexion").text)
        response = call(anonymous, anonymous_token, endpoint, method, url)
        if PUBLIC in allowed:
            # The sign-in form answers 401 to wrong credentials: that is not an access refusal.
            if response.status_code >= 400 and (endpoint, response.status_code) != (
                "compte.connexion",
                401,
            ):
                failures.append(f"{method} {rule} anonymous: {response.status_code}")
            continue
        if response.status_code != 302 or not response.location.endswith("/connexion"):
            failures.append(f"{method} {rule} anonymous: {response.status_code} (expected sign-in)")
        for (code, role), client in clients.items():
            response = call(client, client.token, endpoint, method, url)  # type: ignore[attr-defined]
            status = response.status_code
            if role not in allowed:
                expected = 403
            elif side is not None and code not in OWNERS[side]:
                expected = 404
            else:
                expected = None  # own data: anything but an access refusal
            if expected is None:
                if status in (302, 403, 404):
                    failures.append(f"{method} {rule} {code}/{role}: {status}")
            elif status != expected:
                failures.append(f"{method} {rule} {code}/{role}: {status} (expected {expected})")
        if side is not None:  # an unknown transfer looks exactly like another département's
            unknown = url.replace(subject, str(uuid.uuid4()))
            owner = clients[(min(OWNERS[side]), next(r for r in allowed if r in ROLES))]
            response = call(owner, owner.token, endpoint, method, unknown)  # type: ignore[attr-defined]
            if response.status_code != 404:
                failures.append(f"{method} {rule} unknown id: {response.status_code}")
    assert failures == []
