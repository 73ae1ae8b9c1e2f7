"""Probes: /healthz says the process is up, /readyz checks database, broker and storage."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

pytestmark = pytest.mark.integration


def test_probes_answer_without_a_token(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"etat": "en_service"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {
        "etat": "pret",
        "verifications": {"base_de_donnees": "ok", "file_de_messages": "ok", "stockage": "ok"},
    }


def test_readyz_is_503_when_the_broker_is_unreachable(app: Flask, client: FlaskClient) -> None:
    app.extensions["celery"].conf.broker_url = "redis://127.0.0.1:1/0"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["verifications"]["file_de_messages"] == "indisponible"
    assert ready.get_json()["verifications"]["base_de_donnees"] == "ok"


def test_every_response_carries_the_security_headers(client: FlaskClient) -> None:
    for url in ("/healthz", "/api/v1/transfers", "/api/openapi.json", "/nowhere"):
        headers = client.get(url).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in headers
    secure = client.get("/healthz", base_url="https://hub.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
