"""Blueprint whose request parsing reports malformed JSON bodies in the hub's error shape."""

from __future__ import annotations

from typing import Any, NoReturn

from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

from mdph_bridge.services.errors import ServiceError


class _Parser(FlaskParser):
    def _handle_invalid_json_error(
        self, error: Exception, req: Any, *args: Any, **kwargs: Any
    ) -> NoReturn:
        raise ServiceError.one(400, "", "requete.json") from error


class BridgeBlueprint(Blueprint):
    """A flask-smorest blueprint with French errors for unreadable JSON bodies."""

    ARGUMENTS_PARSER = _Parser()
