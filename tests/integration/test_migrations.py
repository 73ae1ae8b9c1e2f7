"""Migrations on PostgreSQL: one head, up and down cleanly, and in step with the models."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from support import create_database, drop_database

from mdph_bridge.migrations import alembic_config
from mdph_bridge.models import Base

pytestmark = pytest.mark.integration
NAME = f"mdph_test_migrations_{os.getpid()}"


@pytest.fixture
def empty_database() -> Iterator[str]:
    yield create_database(NAME)
    drop_database(NAME)


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return names


def test_single_head(empty_database: str) -> None:
    assert len(ScriptDirectory.from_config(alembic_config(empty_database)).get_heads()) == 1


def test_upgrade_downgrade_upgrade_matches_the_models(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    assert tables(empty_database) == set(Base.metadata.tables)
    command.downgrade(config, "base")
    assert tables(empty_database) == set()
    command.upgrade(config, "head")
    command.check(config)  # raises if the models need a migration that does not exist


def test_files_are_named_in_chain_order(empty_database: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(empty_database))
    chain = list(reversed(list(script.walk_revisions())))
    assert [r.revision for r in chain] == [f"{n:04d}" for n in range(1, len(chain) + 1)]
    for revision in chain:
        assert revision.path.rsplit("/", 1)[1].split("_")[1] == revision.revision
