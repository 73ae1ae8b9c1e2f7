"""Alembic migrations, run by `mdph-bridge migrate` (a one-shot job in production)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(database_url: str) -> Config:
    """Build the Alembic configuration for `database_url`."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return config
