"""Hub administration: départements, keys, staging key, API tokens, stuck transfers."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import click

from mdph_bridge.cli.base import hub_app, hub_session, main
from mdph_bridge.domain.roles import ROLES


@main.group()
def departements() -> None:
    """Manage the départements connected to the hub."""


@departements.command("add")
@click.argument("code")
@click.argument("nom")
def departements_add(code: str, nom: str) -> None:
    """Connect a département (code such as 59, 2A, 974)."""
    from mdph_bridge.services.admin import add_departement

    with hub_session() as session:
        add_departement(session, code, nom)
    click.echo(f"Département {code} ({nom}) enregistré.")


@departements.command("list")
def departements_list() -> None:
    """List the connected départements."""
    from sqlalchemy import select

    from mdph_bridge.models import Departement

    with hub_session() as session:
        for dep in session.scalars(select(Departement).order_by(Departement.code)):
            click.echo(f"{dep.code}\t{dep.nom}")


@main.group()
def keys() -> None:
    """Manage départements' public keys."""


@keys.command("generate")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--usage",
    type=click.Choice(["receiver", "doctor", "signing"]),
    default="receiver",
    show_default=True,
)
def keys_generate(out: Path, usage: str) -> None:
    """Create a keypair on the MDPH's own machine; print the public key to register."""
    from mdph_bridge.keyfiles import create_key_file

    try:
        click.echo(create_key_file(out, usage))
    except FileExistsError as exc:
        message = f"Le fichier {out} existe déjà : il n'est jamais écrasé."
        raise click.ClickException(message) from exc


@keys.command("register")
@click.argument("departement")
@click.argument("usage", type=click.Choice(["receiver", "doctor", "signing"]))
@click.argument("public_key", metavar="CLE_PUBLIQUE")
@click.option("--valid-from", type=click.DateTime(), default=None, help="UTC; default: now")
@click.option("--valid-until", type=click.DateTime(), default=None, help="UTC; default: none")
def keys_register(
    departement: str,
    usage: str,
    public_key: str,
    valid_from: datetime | None,
    valid_until: datetime | None,
) -> None:
    """Register a département's public key (the private key never leaves the MDPH)."""
    from datetime import UTC

    from mdph_bridge.services.keys import register_key

    start, until = (d.replace(tzinfo=UTC) if d else None for d in (valid_from, valid_until))
    with hub_session() as session:
        key = register_key(session, departement, usage, public_key, until, start)
    click.echo(key.id)


@keys.command("list")
@click.argument("departement")
def keys_list(departement: str) -> None:
    """List a département's keys with their validity."""
    from mdph_bridge.services.keys import list_keys

    with hub_session() as session:
        for key in list_keys(session, departement):
            status = "révoquée" if key.revoked_at else f"valide jusqu'au {key.valid_until or '—'}"
            click.echo(f"{key.id}\t{key.usage}\t{status}\t{key.public_key}")


@keys.command("revoke")
@click.argument("key_id", metavar="ID_CLE")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: no new package is encrypted to it."""
    from mdph_bridge.services.keys import revoke_key

    with hub_session() as session:
        if not revoke_key(session, key_id):
            raise click.ClickException(f"Clé inconnue : {key_id}")
    click.echo(f"Clé {key_id} révoquée.")


@keys.command("expiring")
@click.option("--days", default=30, show_default=True, type=int)
def keys_expiring(days: int) -> None:
    """List the keys whose validity ends within DAYS days: new ones must be registered first."""
    from datetime import timedelta

    from mdph_bridge.services.keys import expiring_keys

    with hub_session() as session:
        soon = expiring_keys(session, timedelta(days=days))
        for key in soon:
            click.echo(f"{key.id}\t{key.usage}\texpire le {key.valid_until:%Y-%m-%d}")
    if not soon:
        click.echo(f"Aucune clé n'expire dans les {days} jours.")


@main.group()
def staging() -> None:
    """Manage the hub's staging keys."""


@staging.command("reseal")
def staging_reseal() -> None:
    """Re-seal staged payloads and drafts with the first staging key, before an older goes."""
    from mdph_bridge.extensions import backends, session
    from mdph_bridge.services.drafts import reseal_drafts
    from mdph_bridge.services.staging import reseal_staging

    with hub_app() as app:
        keyring = app.config["KEYRING"]
        count = reseal_staging(session(), backends().storage, keyring)
        count += reseal_drafts(session(), backends().storage, keyring)
    click.echo(
        f"{count} fichier(s) rechiffré(s) avec la clé {app.config['KEYRING'].primary.key_id}."
    )


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("issue")
@click.argument("departement")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--label", default="", help="Who or what uses the token.")
@click.option("--days", type=int, default=None, help="Validity (MDPH_BRIDGE_TOKEN_VALID_DAYS).")
def tokens_issue(departement: str, role: str, label: str, days: int | None) -> None:
    """Issue a token; it is printed once and only its hash is kept."""
    from datetime import timedelta

    from mdph_bridge.extensions import session
    from mdph_bridge.models import utcnow
    from mdph_bridge.services.auth import issue_token

    if days is not None and days < 1:
        raise click.ClickException("--days : une validité d'au moins 1 jour est attendue.")
    with hub_app() as app:
        validity = timedelta(days=days if days is not None else app.config["TOKEN_VALID_DAYS"])
        token, value = issue_token(session(), departement, role, label, utcnow() + validity)
    click.echo(f"{token.id}\t{value}")
    click.echo(f"Valide jusqu'au {token.expires_at:%Y-%m-%d %H:%M} UTC.", err=True)


@tokens.command("list")
@click.argument("departement")
def tokens_list(departement: str) -> None:
    """List a département's tokens: role, label, expiry, revocation and last use."""
    from mdph_bridge.services.auth import list_tokens

    def when(value: datetime | None) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else "—"

    with hub_session() as session:
        for t in list_tokens(session, departement):
            status = f"révoqué le {when(t.revoked_at)}" if t.revoked_at else "actif"
            click.echo(
                f"{t.id}\t{t.role}\t{t.label}\t{status}\texpire : {when(t.expires_at)}"
                f"\tdernier usage : {when(t.last_used_at)}"
                f"\tclient : {t.client_version or '—'}"
            )


@tokens.command("revoke")
@click.argument("token_id", metavar="ID_JETON", type=click.UUID)
def tokens_revoke(token_id: uuid.UUID) -> None:
    """Revoke a token at once."""
    from mdph_bridge.services.auth import revoke_token

    with hub_session() as session:
        if not revoke_token(session, token_id):
            raise click.ClickException(f"Jeton inconnu : {token_id}")
    click.echo(f"Jeton {token_id} révoqué.")


@main.group()
def transfers() -> None:
    """Operate on transfers."""


@transfers.command("retry")
@click.argument("transfer_id", metavar="ID_TRANSFERT", type=click.UUID)
def transfers_retry(transfer_id: uuid.UUID) -> None:
    """Give a failed transfer new attempts once the cause is fixed."""
    from mdph_bridge.services.processing import retry_failed

    with hub_session() as session:
        if not retry_failed(session, transfer_id, "admin:cli"):
            raise click.ClickException("Ce transfert n'est pas en échec.")
    click.echo("Transfert relancé.")
