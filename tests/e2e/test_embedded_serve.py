"""`mdph-bridge serve` with the embedded default: SQLite, local disk, no external server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from dossiers import PDF, dossier, multipart
from support import free_port

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def call(
    url: str, token: str, data: bytes | None = None, content_type: str = ""
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} | (
        {"Content-Type": content_type} if data else {}
    )
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local test server
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def sign_in_page(base: str, login: str, password: str) -> str:
    """Sign in on the served pages like a browser (cookies, CSRF token); return the page reached."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(f"{base}/connexion", timeout=10) as response:
        token = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode())
    assert token is not None
    form = {"identifiant": login, "mot_de_passe": password, "csrf_token": token.group(1)}
    with opener.open(f"{base}/connexion", urlencode(form).encode(), timeout=10) as response:
        return response.read().decode()


def test_serve_runs_web_worker_and_beat_without_any_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDPH_BRIDGE_")}
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [BIN / "mdph-bridge", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                urllib.request.urlopen(f"{base}/api/openapi.json", timeout=1).close()  # noqa: S310
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        assert (tmp_path / ".env").exists()
        log_text = (tmp_path / "serve.log").read_text()
        assert "jeton caseworker" in log_text
        # An agent signs in at once with the demo account printed at start.
        password = re.search(r"identifiant caseworker-59 +mot de passe (\S+)", log_text)
        assert password is not None, log_text
        assert "Transferts envoyés" in sign_in_page(base, "caseworker-59", password.group(1))
        demo: dict[str, Any] = json.loads(
            subprocess.run(
                [BIN / "mdph-bridge", "demo", "--json"],
                cwd=tmp_path,
                env=env,
                check=True,
                capture_output=True,
            ).stdout
        )

        request = multipart(dossier(), {"piece_identite.pdf": PDF})
        status, body = call(
            f"{base}/api/v1/transfers",
            demo["59"]["jetons"]["caseworker"],
            request["data"],
            request["content_type"],
        )
        assert status == 202, body
        transfer_id = json.loads(body)["id"]
        receiver = demo["62"]["jetons"]["receiver"]
        deadline = time.monotonic() + 60
        while (
            state := json.loads(call(f"{base}/api/v1/inbound/{transfer_id}", receiver)[1]).get(
                "etat"
            )
        ) != "ready":
            assert time.monotonic() < deadline, (
                f"still {state}: {(tmp_path / 'serve.log').read_text()[-3000:]}"
            )
            time.sleep(0.2)

        status, package = call(f"{base}/api/v1/inbound/{transfer_id}/package", receiver)
        assert status == 200
        (tmp_path / "paquet.age").write_bytes(package)
        identity = demo["62"]["cles"]["receiver"]["identity_file"]
        subprocess.run(
            [BIN / "mdph-bridge", "client", "decrypt", "-i", identity, "-o", "out", "paquet.age"],
            cwd=tmp_path,
            check=True,
        )
        assert (tmp_path / "out" / "pieces" / "01-piece_identite.pdf").read_bytes() == PDF
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        log.close()
    assert serve.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
