"""The page script that opens packages in the browser, as `make assets` bundled it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

INFO = Path(__file__).parent / "static" / "build" / "ouverture.json"


@cache
def opening_script() -> dict[str, Any] | None:
    """Its subresource integrity and library versions; None when the assets were not built."""
    try:
        return json.loads(INFO.read_text())
    except FileNotFoundError:
        return None
