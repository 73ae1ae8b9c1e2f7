"""The `mdph-bridge` command group and what its commands share: the app, a session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from dotenv import load_dotenv
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mdph_bridge.cli.help_fr import french_help
from mdph_bridge.client.french import speak_french

ENV_FILE = Path(".env")
# Before the commands are declared: click translates some words (a path's kind) as they are.
speak_french()


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
    """Show refused operations and mistakes as one line in French, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        except SQLAlchemyError as exc:
            # The driver's text may quote the values given: name the kind of failure only.
            raise click.ClickException(
                f"la base de données a refusé l'opération ({type(exc).__name__}) : vérifiez "
                "les valeurs données et que la base est à jour (mdph-bridge migrate)."
            ) from exc

    def main(  # type: ignore[override]  # click types main with overloads on standalone_mode
        self, args: Sequence[str] | None = None, standalone_mode: bool = True, **kwargs: Any
    ) -> Any:
        """Like click's standalone mode, with the error line in French."""
        speak_french()
        french_help(self)
        if not standalone_mode:
            return super().main(args, standalone_mode=False, **kwargs)
        try:
            result = super().main(args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)  # a group given no command: its help
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Erreur : {exc.format_message()}", err=True)
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                click.echo(f"Aide : {exc.ctx.command_path} --help", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Interrompu.", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=FriendlyGroup)
def main() -> None:
    """mdph_bridge: transfer MDPH files between départements."""
    # Every file and folder the hub creates is its owner's only (the database holds hashes).
    os.umask(0o077)
    load_dotenv(ENV_FILE)
