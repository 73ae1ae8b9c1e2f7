"""The repository's nginx configuration, run by a real nginx in front of a real gunicorn.

deploy/nginx/mdph-bridge.conf.template is rendered as the official image renders it (its MDPH_*
variables replaced) and included in a minimal main configuration; certificates are made here.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dossiers import PDF, dossier, multipart
from slow_clients import raw_request, trickling
from support import free_port

from mdph_bridge.cli.service import web_command

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "mdph-bridge.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render(template: str, values: dict[str, str]) -> str:
    """Replace ${NAME} for the given names only, as the image's envsubst step does."""
    return re.sub(r"\$\{(MDPH_[A-Z_]+)\}", lambda m: values.get(m[1], m[0]), template)


def self_signed(folder: Path) -> None:
    """A certificate for 127.0.0.1 and localhost, as fullchain.pem and privkey.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def wait_until_up(check: Any, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"{what} exited: {log.read_text()[-3000:]}"
        try:
            check()
        except OSError:
            assert time.monotonic() < deadline, f"{what} not up: {log.read_text()[-3000:]}"
            time.sleep(0.2)
        else:
            return


@dataclass
class Proxy:
    """nginx with TLS on `port`, in front of gunicorn."""

    port: int
    folder: Path
    tls: ssl.SSLContext
    gunicorn: subprocess.Popen[bytes]
    upstream_port: int

    def call(
        self, path: str, token: str = "", data: bytes | None = None, content_type: str = ""
    ) -> tuple[int, str]:
        """One request through nginx; the answer's status and text (5 s at most)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if content_type:
            headers["Content-Type"] = content_type
        url = f"https://127.0.0.1:{self.port}{path}"
        request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5, context=self.tls) as response:  # noqa: S310
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def raw(self, request: bytes) -> tuple[str, str]:
        """Send bytes over TLS as they are; the answer's status line and body."""
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=10) as plain,
            self.tls.wrap_socket(plain, server_hostname="localhost") as sock,
        ):
            sock.sendall(request)
            chunks = []
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except (ConnectionResetError, ssl.SSLError):
                pass  # nginx may close without reading what remains of a refused body
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        return head.decode().splitlines()[0], body.decode()


@pytest.fixture
def proxy(e2e_settings: dict[str, Any], tmp_path: Path) -> Iterator[Proxy]:
    """gunicorn with the hub's settings, and nginx with the repository's configuration."""
    web_port, proxy_port = free_port(), free_port()
    env = {**os.environ, **{f"MDPH_BRIDGE_{k}": str(v) for k, v in e2e_settings.items()}}
    env["MDPH_BRIDGE_TRUSTED_PROXIES"] = "1"
    web_log = tmp_path / "gunicorn.log"
    with web_log.open("wb") as log:
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", *web_command(f"127.0.0.1:{web_port}", workers=2)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{web_port}/healthz"

    def web_up() -> None:
        urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - local server

    wait_until_up(web_up, "gunicorn", gunicorn, web_log)

    self_signed(tmp_path)
    values = {
        "MDPH_UPSTREAM": f"127.0.0.1:{web_port}",
        "MDPH_PROXY_PORT": str(proxy_port),
        "MDPH_CERTS_DIR": str(tmp_path),
        "MDPH_ERROR_PAGES_DIR": str(ROOT / "deploy" / "nginx" / "erreurs"),
    }
    (tmp_path / "mdph-bridge.conf").write_text(render(TEMPLATE.read_text(), values))
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / temp).mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""  # the workers read the test's files
    (tmp_path / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n  access_log off;\n"
        + "".join(f"  {t}_temp_path {tmp_path}/{t};\n" for t in ("fastcgi", "uwsgi", "scgi"))
        + f"  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  include {tmp_path}/mdph-bridge.conf;\n}}\n"
    )
    nginx_log = tmp_path / "error.log"
    with nginx_log.open("ab") as log:
        nginx = subprocess.Popen(
            [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    tls = ssl.create_default_context(cafile=str(tmp_path / "fullchain.pem"))
    proxy = Proxy(proxy_port, tmp_path, tls, gunicorn, web_port)
    wait_until_up(lambda: proxy.call("/healthz"), "nginx", nginx, nginx_log)
    yield proxy
    nginx.send_signal(signal.SIGQUIT)
    nginx.wait(timeout=30)
    if gunicorn.poll() is None:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)


def spooled(proxy: Proxy) -> list[Path]:
    """Whatever nginx wrote to its temporary folders (request bodies, answers)."""
    return [p for t in ("body", "proxy") for p in (proxy.folder / t).rglob("*") if p.is_file()]


def test_slow_clients_do_not_stop_health_pages_or_submissions(
    proxy: Proxy, demo: dict[str, Any]
) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    body_head = (
        "POST /api/v1/transfers HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()

    def tls(sock: socket.socket) -> socket.socket:
        return proxy.tls.wrap_socket(sock, server_hostname="localhost")

    with trickling(proxy.port, heads=200, bodies=20, body_head=body_head, wrap=tls):
        time.sleep(2)  # all 220 are connected and trickling
        assert proxy.call("/healthz")[0] == 200
        assert proxy.call("/connexion")[0] == 200
        request = multipart(dossier(), {"piece_identite.pdf": PDF})
        status, body = proxy.call(
            "/api/v1/transfers", token, request["data"], request["content_type"]
        )
        assert status == 202, body
        assert json.loads(body)["id"]
    assert spooled(proxy) == []  # no document written to nginx's disk


def connections_to(port: int) -> int:
    """Open TCP connections (IPv4, ESTABLISHED) whose far end is this machine's `port`."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    far = [(line.split()[2], line.split()[3]) for line in lines]
    return sum(1 for address, state in far if int(address[-4:], 16) == port and state == "01")


def test_nginx_reuses_one_connection_to_gunicorn(proxy: Proxy) -> None:
    for _ in range(5):
        assert proxy.call("/healthz")[0] == 200
        assert proxy.call("/api/v1/inbound")[0] == 401
    # Ten requests one after the other, one connection kept open: none was set up per request.
    assert connections_to(proxy.upstream_port) == 1


def test_what_nginx_refuses_is_answered_in_french(proxy: Proxy) -> None:
    big_header = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Gros: " + b"a" * 10000 + b"\r\n\r\n"
    status, page = proxy.raw(big_header)
    assert status.startswith("HTTP/1.1 400"), status
    assert "Requête invalide" in page
    assert '<html lang="fr">' in page
    too_big = (
        b"POST /api/v1/transfers HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 209715200\r\n\r\n"
    )
    status, page = proxy.raw(too_big)
    assert status.startswith("HTTP/1.1 413"), status
    assert "Envoi trop volumineux" in page
    plain_http = raw_request(proxy.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert plain_http.startswith(b"HTTP/1.1 400")
    assert "Requête invalide" in plain_http.decode()
    # The hub's own answers pass through unchanged (JSON with its codes).
    status, body = proxy.call("/api/v1/transfers")
    assert status == 401
    assert json.loads(body)["erreurs"][0]["code"] == "auth.jeton_absent"
    proxy.gunicorn.terminate()
    proxy.gunicorn.wait(timeout=30)
    status, page = proxy.call("/healthz")
    assert status == 502
    assert "Service momentanément indisponible" in page
