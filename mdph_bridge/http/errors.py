"""One error shape for every failure: `{"erreurs": [{"chemin", "code", "message"}]}`, in French."""

from __future__ import annotations

import logging
import traceback
from types import TracebackType
from typing import Any

from flask import Flask, request
from flask_smorest import Api
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from mdph_bridge.api.uploads import MAX_PARTS
from mdph_bridge.services.errors import ServiceError
from schemas.api import ErreursSchema
from schemas.errors import error, flatten

log = logging.getLogger(__name__)

_BY_STATUS = {
    404: "http.introuvable",
    405: "http.methode",
    413: "requete.trop_grande",
    503: "service.indisponible",
}


def _payload(
    erreurs: list[dict[str, str]], status: int, headers: dict[str, str] | None = None
) -> Any:
    return {"erreurs": erreurs}, status, headers or {}


class BridgeFlask(Flask):
    """Flask app whose crash logs name the exception type and frames, never its message."""

    def log_exception(
        self,
        exc_info: tuple[type[BaseException], BaseException, TracebackType]
        | tuple[None, None, None],
    ) -> None:
        """Log where an unhandled error happened; its message may quote submitted data."""
        kind, _, tb = exc_info
        frames = "".join(traceback.format_list(traceback.extract_tb(tb)))
        name = kind.__name__ if kind else "?"
        self.logger.error(
            "Exception on %s [%s]: %s\n%s", request.path, request.method, name, frames
        )


class BridgeApi(Api):
    """flask-smorest Api whose error responses follow the hub's documented shape."""

    ERROR_SCHEMA = ErreursSchema

    def _register_error_handlers(self) -> None:
        app: Flask = self._app
        app.register_error_handler(HTTPException, self.handle_http_exception)
        app.register_error_handler(ServiceError, _handle_service_error)
        app.register_error_handler(OperationalError, _handle_database_down)

    def handle_http_exception(self, error_: HTTPException) -> Any:
        """Translate HTTP errors, including webargs validation errors, to the `erreurs` shape."""
        status = error_.code or 500
        data = getattr(error_, "data", None) or {}
        if isinstance(error_, InternalServerError):
            log.error("unhandled error: %s", type(error_.original_exception).__name__)
            return _payload([error("", "erreur.interne")], 500)
        if "messages" in data:
            # webargs keys messages by location ("json", "query"); the field path is what matters.
            erreurs = [e for messages in data["messages"].values() for e in flatten(messages)]
            return _payload(erreurs, status)
        if status == 413:
            max_mb = self._app.config["MAX_TRANSFER_BYTES"] // (1024 * 1024)
            problem = error("", "requete.trop_grande", max=max_mb, parties=MAX_PARTS)
            return _payload([problem], 413)
        return _payload([error("", _BY_STATUS.get(status, "http.erreur"))], status)


def _handle_service_error(exc: ServiceError) -> Any:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    return _payload(exc.erreurs, exc.status, headers | exc.headers)


def _handle_database_down(exc: OperationalError) -> Any:
    log.error("database unavailable: %s", type(exc.orig).__name__)
    return _payload([error("", "service.indisponible")], 503, {"Retry-After": "30"})
