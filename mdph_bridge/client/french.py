"""Click's and argparse's own messages (usage, errors, help headings) in French, for both CLIs."""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "mdph_bridge"
LOCALE = Path(__file__).parent / "locale"


def speak_french() -> None:
    """Point gettext's default domain, which click and argparse translate with, at our catalogue."""
    gettext.bindtextdomain(DOMAIN, LOCALE)
    gettext.textdomain(DOMAIN)
    # The module-level gettext takes the language from the environment alone: the tools speak
    # French whatever the machine's locale (their own texts are French anyway).
    os.environ["LANGUAGE"] = "fr"
