"""Hardening: bounded JSON bodies, no internal detail to clients, headers behind a proxy."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import bearer, hub_settings

from mdph_bridge import create_app
from mdph_bridge.api.blueprint import json_depth

pytestmark = pytest.mark.integration


def test_json_depth() -> None:
    assert [json_depth(v) for v in (1, [], {"a": [1, {"b": None}]}, [[[]]])] == [0, 1, 3, 3]


def test_json_bodies_are_bounded_in_size_and_depth(
    client: FlaskClient, demo: dict[str, Any]
) -> None:
    url = f"/api/v1/inbound/{uuid.uuid4()}/complete"
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    deep = "[" * 40 + "]" * 40
    response = client.post(url, data=deep, content_type="application/json", headers=receiver)
    assert response.status_code == 400
    assert response.get_json()["erreurs"][0]["code"] == "requete.json_profondeur"
    hostile = "[" * 100_000 + "]" * 100_000  # deeper than the parser's recursion limit
    response = client.post(url, data=hostile, content_type="application/json", headers=receiver)
    assert response.status_code in (400, 413)
    big = '{"numero_dossier_destination": "' + "x" * 70_000 + '"}'
    response = client.post(url, data=big, content_type="application/json", headers=receiver)
    assert response.status_code == 413
    assert response.get_json()["erreurs"][0]["code"] == "requete.json_trop_grand"


def test_an_unexpected_error_tells_the_client_nothing(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    submitted = {"nir": "1850775123456"}  # as if a value from a request reached an exception

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"secret detail {submitted['nir']}")

    with caplog.at_level(logging.ERROR):
        response = client.get("/boom")
    assert response.status_code == 500
    assert [e["code"] for e in response.get_json()["erreurs"]] == ["erreur.interne"]
    assert b"secret" not in response.data
    assert b"Traceback" not in response.data
    assert "RuntimeError" in caplog.text
    assert "1850775123456" not in caplog.text


def test_behind_a_trusted_proxy_https_and_client_address_come_from_it(
    tmp_path: Path, database_url: str
) -> None:
    settings = hub_settings(tmp_path, database_url, "filesystem://") | {"TRUSTED_PROXIES": 1}
    proxied = create_app(settings).test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    response = proxied.get("/healthz", headers=forwarded)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    direct = create_app(hub_settings(tmp_path, database_url, "filesystem://")).test_client()
    assert "Strict-Transport-Security" not in direct.get("/healthz", headers=forwarded).headers
