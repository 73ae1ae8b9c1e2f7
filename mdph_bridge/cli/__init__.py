"""The `mdph-bridge` command: run the service, set up the demo, administer the hub."""

from mdph_bridge.cli import accounts, admin, audit, dossier, history, receiving, rules, service
from mdph_bridge.cli.base import main

__all__ = [
    "accounts",
    "admin",
    "audit",
    "dossier",
    "history",
    "main",
    "receiving",
    "rules",
    "service",
]
