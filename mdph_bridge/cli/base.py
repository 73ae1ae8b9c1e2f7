"""The `mdph-bridge` command group and what its commands share: the app, a session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from dotenv import load_dotenv
from flask import Flask
from sqlalchemy.orm import Session

ENV_FILE = Path(".env")


@contextmanager
def hub_app() -> Iterator[Flask]:
    """Create the app for one command, inside its context; close its connections afterwards."""
    from mdph_bridge import create_app

    app = create_app()
    try:
        with app.app_context():
            yield app
    finally:
        app.extensions["mdph_bridge"].engine.dispose()


@contextmanager
def hub_session() -> Iterator[Session]:
    from mdph_bridge.extensions import session

    with hub_app():
        yield session()


class FriendlyGroup(click.Group):
    """Show refused admin operations as a one-line message, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=FriendlyGroup)
def main() -> None:
    """mdph_bridge: transfer MDPH files between départements."""
    load_dotenv(ENV_FILE)
