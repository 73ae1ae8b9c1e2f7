"""A WSGI app that reads the whole body and says how many bytes came, for the worker's own tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answer with the number of body bytes the server handed over."""
    answer = str(len(environ["wsgi.input"].read())).encode()
    start_response("200 OK", [("Content-Length", str(len(answer)))])
    return [answer]
