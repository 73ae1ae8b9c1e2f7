"""The hub's Flask app class, shared by the API and the pages."""

from __future__ import annotations

import traceback
from types import TracebackType

from flask import Flask, request

from mdph_bridge.http.fastjson import OrjsonProvider


class BridgeFlask(Flask):
    """Flask app whose crash logs name the exception type and frames, never its message."""

    json_provider_class = OrjsonProvider

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
