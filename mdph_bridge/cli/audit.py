"""The audit log for the data-protection officer: verify the chain, export it, purge it."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from typing import TextIO

import click

from mdph_bridge.cli.base import hub_app, hub_session, main


@main.group()
def audit() -> None:
    """Check and export the audit log (who read or changed what, and when)."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain; name the first modified, deleted or reordered entry."""
    from mdph_bridge.services.audit import verify

    with hub_session() as session:
        result = verify(session)
    if not result.ok:
        raise click.ClickException(
            f"Journal d'audit altéré : entrée n°{result.bad_seq} : {result.problem} "
            f"({result.checked} entrée(s) vérifiée(s) avant elle)."
        )
    click.echo(f"Journal d'audit intègre : {result.checked} entrée(s) vérifiée(s).")


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
        deleted = purge(session(), utcnow() - timedelta(days=days))
    click.echo(f"{deleted} entrée(s) de plus de {days} jours supprimée(s).")
