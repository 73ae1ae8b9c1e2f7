"""The `mdph-bridge` command: run the service, set up the demo, administer the hub."""

from mdph_bridge.cli import admin, audit, dossier, receiving, service
from mdph_bridge.cli.base import main

__all__ = ["admin", "audit", "dossier", "main", "receiving", "service"]
