"""Commands for senders: check a dossier file, print its schema and the error codes."""

from __future__ import annotations

from pathlib import Path

import click

from mdph_bridge.cli.base import main


@main.group()
def dossier() -> None:
    """Check dossier files (format v1) before sending them."""


@dossier.command("check")
@click.argument(
    "file", metavar="FICHIER", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--pieces",
    "pieces_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Dossier contenant les pièces jointes, pour vérifier leurs noms, empreintes et types.",
)
def dossier_check(file: Path, pieces_dir: Path | None) -> None:
    """Validate FILE with the hub's rules; print every problem in French (exit 1 if any)."""
    from mdph_bridge.cli.rules import configured_rules
    from mdph_bridge.services.errors import ServiceError
    from mdph_bridge.services.harmonisation import aid_problems
    from mdph_bridge.services.submission import documents_problems, folder_uploads, parse_dossier
    from schemas.clock import today
    from schemas.warnings import dossier_warnings

    try:
        data = parse_dossier(file.read_bytes())
    except ServiceError as exc:
        _print_problems(exc.erreurs)
        raise SystemExit(1) from exc
    problems = aid_problems(configured_rules(), data)
    if pieces_dir:
        problems += documents_problems(data, folder_uploads(pieces_dir))
    _print_problems(problems)
    _print_problems(dossier_warnings(data, today()), prefix="Avertissement : ")
    if problems:
        raise SystemExit(1)
    checked = "et ses pièces jointes sont conformes" if pieces_dir else "est conforme"
    click.echo(
        f"Le dossier {checked} au format v1. À l'envoi, la plateforme vérifie aussi que le "
        "département de destination est raccordé et a des clés valides."
    )


def _print_problems(problems: list[dict[str, str]], prefix: str = "") -> None:
    for problem in problems:
        where = problem["chemin"] or "(dossier)"
        click.echo(f"{prefix}{where} : {problem['message']} [{problem['code']}]")


@dossier.command("schema")
def dossier_schema() -> None:
    """Print the JSON Schema of format v1, as published in docs/dossier-v1.schema.json."""
    from mdph_bridge.api.dossier_schema import dossier_json_schema_text

    click.echo(dossier_json_schema_text(), nl=False)


@main.command("error-codes")
def error_codes() -> None:
    """Print the table of stable error codes (Markdown), as published in docs/ERREURS.md."""
    from schemas.errors import markdown_table

    click.echo(markdown_table(), nl=False)
