"""Click's and argparse's own messages (usage, errors, help headings) in French, for both CLIs."""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "mdph_bridge"
LOCALE = Path(__file__).parent / "locale"
# The caller's own LANGUAGE, before the tools set theirs: their commands get it back.
_THEIRS = os.environ.get("LANGUAGE")


def speak_french() -> None:
    """Point gettext's default domain, which click and argparse translate with, at our catalogue."""
    gettext.bindtextdomain(DOMAIN, LOCALE)
    gettext.textdomain(DOMAIN)
    # The module-level gettext takes the language from the environment alone: the tools speak
    # French whatever the machine's locale (their own texts are French anyway).
    os.environ["LANGUAGE"] = "fr"


def their_environment() -> dict[str, str]:
    """The environment for a command of the MDPH's own: as it was, not our tools' French."""
    environment = dict(os.environ)
    environment.pop("LANGUAGE", None)
    if _THEIRS is not None:
        environment["LANGUAGE"] = _THEIRS
    return environment
