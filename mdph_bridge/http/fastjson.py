"""Flask's JSON answers serialised by orjson: the same text for our types, several times faster."""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# Dates and dataclasses still go through Flask's `default` (dates as HTTP dates), as before.
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)


class OrjsonProvider(DefaultJSONProvider):
    """Dump with orjson; parsing stays Flask's (the standard library's rules on numbers)."""

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise `obj`; Flask's own arguments (compact or indented) are honoured."""
        indent = kwargs.pop("indent", None)
        if kwargs.pop("separators", (",", ":")) != (",", ":") or kwargs:
            return super().dumps(obj, indent=indent, **kwargs)
        option = _OPTIONS | (orjson.OPT_SORT_KEYS if self.sort_keys else 0)
        option |= orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(obj, default=self.default, option=option).decode()
