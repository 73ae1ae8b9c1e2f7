"""Security headers on every response: the API serves data, never pages to frame or sniff."""

from __future__ import annotations

from flask import Flask, Response, request

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def add_security_headers(app: Flask) -> None:
    """Register the headers, plus HSTS when the request came over TLS."""

    @app.after_request
    def _secure(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
