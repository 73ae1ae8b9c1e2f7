"""The migrations on the embedded SQLite default: up, all the way down, and up again."""

from __future__ import annotations

from pathlib import Path

from alembic import command

from mdph_bridge.migrations import alembic_config


def test_sqlite_upgrades_downgrades_to_base_and_upgrades_again(tmp_path: Path) -> None:
    config = alembic_config(f"sqlite:///{tmp_path / 'hub.db'}")
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)  # raises if the models need a migration that does not exist
