"""The hub's receiving API over HTTP, with the standard library only, downloads streamed to disk."""

from __future__ import annotations

import hashlib
import http.client
import json
import platform
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mdph_bridge.client import VERSION

CHUNK = 1024 * 1024
TIMEOUT = 60
# JSON answers are a few KiB; the cap keeps a faulty server from filling memory.
MAX_JSON = 16 * 1024 * 1024
# The hub keeps the version (only), so supervisors see which MDPH runs which client.
USER_AGENT = f"mdph-reception/{VERSION} (Python {platform.python_version()}; {platform.system()})"


class PullError(Exception):
    """Stops the pull; the message is French, for the person, and never holds personal data."""


class RefusedError(PullError):
    """This transfer cannot be received (checks failed): set it aside, go on with the others."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # one of domain.reception.FAILURES, reported to the hub


class HubError(PullError):
    """The hub refused a request; the status tells a refusal by role from a real problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UnreachableError(PullError):
    """The hub could not be reached or broke off: wait and try again."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects, so the bearer token is only ever sent to the address given."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Turn every redirect into an error instead of following it."""
        return None


def _refusal(exc: urllib.error.HTTPError) -> HubError:
    """Quote the hub's own French messages (they name fields and codes, never file content)."""
    with exc:
        try:
            problems = json.loads(exc.read(MAX_JSON))["erreurs"]
            details = " ; ".join(f"{p['message']} [{p['code']}]" for p in problems)
        except (ValueError, KeyError, TypeError, OSError, http.client.HTTPException):
            details = ""
    return HubError(exc.code, f"la plateforme a refusé la requête ({exc.code}) {details}".strip())


class Hub:
    """One hub, reached with one département's token."""

    def __init__(self, url: str, token: str) -> None:
        host = urllib.parse.urlsplit(url).hostname or ""
        local = host in ("127.0.0.1", "::1", "localhost")
        if not (url.startswith("https://") or (url.startswith("http://") and local)):
            # A token and signed receipts must not travel in clear; plain http only on this machine.
            raise PullError(f"adresse de plateforme invalide : {url} (https://… attendu).")
        self.url = url.rstrip("/")
        self._token = token
        self._opener = urllib.request.build_opener(_NoRedirect)

    def _open(self, path: str, body: Any = None) -> http.client.HTTPResponse:
        """Send a request (JSON body if any); raise PullError for any refusal or network fault."""
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url + path, data=data, headers=headers, method="POST" if data else "GET"
        )
        try:
            return self._opener.open(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise UnreachableError(f"la plateforme {self.url} est injoignable ({reason}).") from exc

    def raw(self, path: str, body: Any = None) -> bytes:
        """Return a small answer as received."""
        try:
            with self._open(path, body) as response:
                raw = response.read(MAX_JSON + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise UnreachableError(f"réponse de la plateforme interrompue ({exc}).") from exc
        if len(raw) > MAX_JSON:
            raise PullError("réponse de la plateforme anormalement grande.")
        return raw

    def json(self, path: str, body: Any = None) -> Any:
        """Return a JSON answer, parsed."""
        try:
            return json.loads(self.raw(path, body))
        except ValueError as exc:
            raise PullError("réponse de la plateforme illisible (JSON attendu).") from exc

    def download(self, path: str, dest: Path, limit: int) -> tuple[int, str]:
        """Stream to `dest` while hashing, never past `limit` + 1 bytes; return size and SHA-256."""
        digest = hashlib.sha256()
        size = 0
        try:
            with self._open(path) as response, dest.open("wb") as out:
                while size <= limit:
                    chunk = response.read(min(CHUNK, limit + 1 - size))
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except http.client.HTTPException as exc:
            raise UnreachableError(f"téléchargement interrompu ({type(exc).__name__}).") from exc
        except OSError as exc:
            raise UnreachableError(f"téléchargement interrompu ({exc.strerror or exc}).") from exc
        return size, digest.hexdigest()
