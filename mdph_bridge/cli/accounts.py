"""Accounts of people who sign in to the pages: create, disable, enable, list, reset."""

from __future__ import annotations

import sys

import click

from mdph_bridge.cli.base import hub_session, main
from mdph_bridge.domain.roles import ROLES


@main.group()
def accounts() -> None:
    """Manage the accounts of MDPH agents (the pages); API tokens are for systems."""


def _password(from_stdin: bool) -> tuple[str, bool]:
    """Read the password from standard input, or generate one; True if generated."""
    from mdph_bridge.services.accounts import generate_password

    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return generate_password(), True


def _account(session: object, login: str) -> object:
    from mdph_bridge.services.accounts import find_account

    account = find_account(session, login)  # type: ignore[arg-type]
    if account is None:
        raise click.ClickException(f"Compte inconnu : {login}")
    return account


@accounts.command("create")
@click.argument("login", metavar="IDENTIFIANT")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option(
    "--departement",
    "codes",
    multiple=True,
    help="Département pour lequel le compte agit (répéter pour plusieurs).",
)
@click.option("--password-stdin", is_flag=True, help="Lire le mot de passe sur l'entrée standard.")
def accounts_create(login: str, role: str, codes: tuple[str, ...], password_stdin: bool) -> None:
    """Create an account; without --password-stdin an initial password is generated and shown."""
    from mdph_bridge.services.accounts import create_account

    password, generated = _password(password_stdin)
    with hub_session() as session:
        account = create_account(session, login, role, list(codes), password)
    click.echo(f"Compte {account.login} ({role}, {', '.join(codes) or 'plateforme'}) créé.")
    if generated:
        click.echo(f"Mot de passe initial (affiché une seule fois) : {password}")


@accounts.command("password")
@click.argument("login", metavar="IDENTIFIANT")
@click.option("--password-stdin", is_flag=True, help="Lire le mot de passe sur l'entrée standard.")
def accounts_password(login: str, password_stdin: bool) -> None:
    """Set a new password (generated unless --password-stdin); unlocks and ends open sessions."""
    from mdph_bridge.services.accounts import set_password

    password, generated = _password(password_stdin)
    with hub_session() as session:
        set_password(session, _account(session, login), password)  # type: ignore[arg-type]
    click.echo(f"Mot de passe du compte {login} changé.")
    if generated:
        click.echo(f"Nouveau mot de passe (affiché une seule fois) : {password}")


@accounts.command("disable")
@click.argument("login", metavar="IDENTIFIANT")
def accounts_disable(login: str) -> None:
    """Disable an account at once: no sign-in, open sessions end."""
    from mdph_bridge.services.accounts import disable_account

    with hub_session() as session:
        disable_account(session, _account(session, login))  # type: ignore[arg-type]
    click.echo(f"Compte {login} désactivé.")


@accounts.command("enable")
@click.argument("login", metavar="IDENTIFIANT")
def accounts_enable(login: str) -> None:
    """Enable a disabled account again, or unlock a locked one."""
    from mdph_bridge.services.accounts import enable_account

    with hub_session() as session:
        enable_account(session, _account(session, login))  # type: ignore[arg-type]
    click.echo(f"Compte {login} réactivé.")


@accounts.command("list")
@click.option("--departement", default=None, help="Seulement les comptes de ce département.")
def accounts_list(departement: str | None) -> None:
    """List accounts: login, role, départements, status."""
    from mdph_bridge.models import utcnow
    from mdph_bridge.services.accounts import list_accounts

    now = utcnow()
    with hub_session() as session:
        for account in list_accounts(session, departement):
            if account.disabled_at is not None:
                status = "désactivé"
            elif account.locked_until is not None and account.locked_until > now:
                status = f"verrouillé jusqu'au {account.locked_until:%Y-%m-%d %H:%M} UTC"
            else:
                status = "actif"
            codes = ",".join(account.codes) or "-"
            click.echo(f"{account.login}\t{account.role}\t{codes}\t{status}")
