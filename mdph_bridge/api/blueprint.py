"""The API's flask-smorest classes: bounded JSON bodies, errors documented in the hub's shape."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import current_app
from flask_smorest import Api, Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from mdph_bridge.services.errors import ServiceError
from schemas.api import ErreursSchema


def json_depth(value: Any) -> int:
    """Return how deeply lists and objects nest in a decoded JSON value (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


class _Parser(FlaskParser):
    def _raw_load_json(self, req: Any) -> Any:
        """Refuse JSON bodies that are too large or too deeply nested before using them."""
        if not is_json_request(req):
            return core.missing
        cfg = current_app.config
        limit = cfg["MAX_JSON_BYTES"]
        if (req.content_length or 0) > limit or len(req.get_data(cache=True)) > limit:
            raise ServiceError.one(413, "", "requete.json_trop_grand", max=limit // 1024)
        try:
            value = core.parse_json(req.get_data(cache=True))
        except RecursionError as exc:
            raise ServiceError.one(
                400, "", "requete.json_profondeur", max=cfg["MAX_JSON_DEPTH"]
            ) from exc
        if json_depth(value) > cfg["MAX_JSON_DEPTH"]:
            raise ServiceError.one(400, "", "requete.json_profondeur", max=cfg["MAX_JSON_DEPTH"])
        return value

    def _handle_invalid_json_error(
        self, error: Exception, req: Any, *args: Any, **kwargs: Any
    ) -> NoReturn:
        raise ServiceError.one(400, "", "requete.json") from error


class BridgeBlueprint(Blueprint):
    """A flask-smorest blueprint with bounded JSON bodies and French errors for unreadable ones."""

    ARGUMENTS_PARSER = _Parser()


class BridgeApi(Api):
    """flask-smorest Api documenting the hub's error shape; the shared HTTP layer answers errors."""

    ERROR_SCHEMA = ErreursSchema

    def _register_error_handlers(self) -> None:
        """Leave error answers to `http.errors`, which serves the API and the pages alike."""
