"""The audit log for the data-protection officer: verify the chain, export it, purge it."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import click

from mdph_bridge.cli.base import hub_app, hub_session, main


@main.group()
def audit() -> None:
    """Check and export the audit log (who read or changed what, and when)."""


@audit.command("verify")
@click.option(
    "--checkpoint",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Point de contrôle signé gardé hors de la base (répétable).",
)
def audit_verify(files: tuple[Path, ...]) -> None:
    """Check the chain against the signed checkpoints; name the first missing or changed entry."""
    from mdph_bridge.domain.checkpoints import CheckpointError, open_note
    from mdph_bridge.extensions import session
    from mdph_bridge.services.audit import lag_seconds, publics_of, verify

    with hub_app() as app:
        publics = publics_of(app.config["SIGNER"])
        checkpoints = []
        for path in files:
            try:
                checkpoints.append(open_note(path.read_text(encoding="utf-8"), publics))
            except (CheckpointError, UnicodeDecodeError) as exc:
                raise click.ClickException(f"{path} : {exc}") from exc
        db = session()
        result = verify(db, publics, tuple(checkpoints))
        lag = lag_seconds(db)
        db.rollback()
    if not result.ok:
        where = f"entrée n°{result.bad_seq} : " if result.bad_seq else ""
        raise click.ClickException(
            f"Journal d'audit altéré : {where}{result.problem} "
            f"({result.checked} entrée(s) vérifiée(s) avant)."
        )
    click.echo(
        f"Journal d'audit intègre : {result.checked} entrée(s) vérifiée(s), "
        f"{len(checkpoints)} point(s) de contrôle fourni(s) couvert(s) ; "
        f"{result.pending} entrée(s) en attente de scellement (retard : {lag:.0f} s)."
    )


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Print the latest signed checkpoint, to keep outside the hub (then verify --checkpoint)."""
    from mdph_bridge.services.audit import latest_checkpoint

    with hub_session() as session:
        latest = latest_checkpoint(session)
    if latest is None:
        raise click.ClickException(
            "Aucun point de contrôle : le journal n'a pas encore été scellé."
        )
    click.echo(latest.note, nl=False)


def _day(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value else None


@audit.command("export")
@click.option("--from", "since", type=click.DateTime(), default=None, help="UTC, inclus.")
@click.option("--to", "until", type=click.DateTime(), default=None, help="UTC, exclu.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
@click.option("--out", type=click.File("w", encoding="utf-8"), default="-")
def audit_export(since: datetime | None, until: datetime | None, fmt: str, out: TextIO) -> None:
    """Export the entries of a period as CSV or JSON lines (ids only, no personal data)."""
    from mdph_bridge.services.audit import as_row, entries

    count = 0
    with hub_session() as session:
        writer = None
        for entry in entries(session, _day(since), _day(until)):
            row = as_row(entry)
            if fmt == "jsonl":
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                if writer is None:
                    writer = csv.DictWriter(out, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
            count += 1
    click.echo(f"{count} entrée(s) exportée(s).", err=True)


@audit.command("purge")
def audit_purge() -> None:
    """Delete the entries older than the retention period (MDPH_BRIDGE_AUDIT_RETENTION_DAYS)."""
    from mdph_bridge.extensions import session
    from mdph_bridge.models import utcnow
    from mdph_bridge.services.audit import purge

    with hub_app() as app:
        days = app.config["AUDIT_RETENTION_DAYS"]
        before = utcnow() - timedelta(days=days)
        deleted = purge(session(), app.config["SIGNER"], before)
    click.echo(f"{deleted} entrée(s) de plus de {days} jours supprimée(s).")
