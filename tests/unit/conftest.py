"""Unit tests never touch the network; those that need a database get an embedded SQLite one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_socket import disable_socket, enable_socket
from sqlalchemy.orm import Session

from mdph_bridge.extensions import make_engine
from mdph_bridge.models import Base, Departement


@pytest.fixture(autouse=True)
def _no_network() -> object:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """An embedded SQLite hub database holding 59 and 62, thrown away after the test."""
    engine = make_engine(f"sqlite:///{tmp_path}/hub.db")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [Departement(code="59", nom="Nord"), Departement(code="62", nom="Pas-de-Calais")]
        )
        yield session
    engine.dispose()
