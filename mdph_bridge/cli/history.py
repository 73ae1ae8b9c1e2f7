"""Commands for the baseline: import the transfers made before the hub."""

from __future__ import annotations

from pathlib import Path

import click

from mdph_bridge.cli.base import hub_session, main


@main.group()
def history() -> None:
    """Past transfers (before the hub), to compare delays before and after."""


@history.command("import")
@click.argument(
    "file", metavar="FICHIER", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def history_import(file: Path) -> None:
    """Import FILE (CSV, columns in the README); nothing is imported if any line is wrong."""
    from mdph_bridge.models import utcnow
    from mdph_bridge.services.history import HistoryFileError, import_history

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException("Le fichier doit être encodé en UTF-8.") from exc
    with hub_session() as session:
        try:
            result = import_history(session, text, utcnow())
        except HistoryFileError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            raise click.ClickException(
                f"Fichier refusé : {len(exc.problems)} problème(s), rien n'a été importé."
            ) from exc
    click.echo(
        f"{result.added} transfert(s) historique(s) importé(s), {result.already} déjà présent(s)."
    )
