"""The `mdph-bridge` command: run the service, set up the demo, administer the hub."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from dotenv import load_dotenv
from flask import Flask
from sqlalchemy.orm import Session

ENV_FILE = Path(".env")


@contextmanager
def _app() -> Iterator[Flask]:
    """Create the app for one command, inside its context; close its connections afterwards."""
    from mdph_bridge import create_app

    app = create_app()
    try:
        with app.app_context():
            yield app
    finally:
        app.extensions["mdph_bridge"].engine.dispose()


@contextmanager
def _session() -> Iterator[Session]:
    from mdph_bridge.extensions import session

    with _app():
        yield session()


class _Group(click.Group):
    """Show refused admin operations as a one-line message, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
def main() -> None:
    """mdph_bridge: transfer MDPH files between départements."""
    load_dotenv(ENV_FILE)


@main.command("init-env")
def init_env() -> None:
    """Write a git-ignored .env with fresh local secrets if there is none."""
    if ENV_FILE.exists():
        click.echo(f"{ENV_FILE} exists; left unchanged.")
        return
    from mdph_bridge.domain.sealing import generate_staging_key
    from mdph_bridge.domain.signing import generate_hub_key

    suffix = f"{datetime.now():%Y%m%d}"
    ENV_FILE.write_text(
        f"MDPH_BRIDGE_SECRET_KEY={secrets.token_urlsafe(32)}\n"
        f"MDPH_BRIDGE_STAGING_KEYS={generate_staging_key(f'staging-{suffix}')}\n"
        f"MDPH_BRIDGE_SIGNING_KEYS={generate_hub_key(f'hub-{suffix}')}\n"
    )
    ENV_FILE.chmod(0o600)
    load_dotenv(ENV_FILE)
    click.echo(f"Wrote {ENV_FILE} with a new secret key, staging key and signing key.")


@main.command()
def migrate() -> None:
    """Upgrade the database schema to the latest version."""
    from alembic import command

    from mdph_bridge.config import load_config
    from mdph_bridge.migrations import alembic_config

    url = load_config()["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def demo(as_json: bool) -> None:
    """Create demo départements 59 and 62 with keys, and print one API token per role."""
    from mdph_bridge.extensions import session
    from mdph_bridge.services.admin import create_demo

    with _app() as app:
        result = create_demo(session(), Path(app.config["VAR_DIR"]) / "demo-keys")
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for code, info in result.items():
        click.echo(f"\n{code} {info['nom']}")
        for role, token in info["jetons"].items():
            click.echo(f"  jeton {role:<11} {token}")
        for usage, key in info["cles"].items():
            click.echo(f"  clé   {usage:<11} {key['id']}  (privée : {key['identity_file']})")


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *args])  # noqa: S603 - fixed module names


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, web_workers: int) -> None:
    """Run web, worker and beat for the configured backends (embedded default: no server needed)."""
    ctx = click.get_current_context()
    from mdph_bridge.config import load_config

    if load_config()["EMBEDDED"]:
        ctx.invoke(init_env)
        ctx.invoke(migrate)
        from mdph_bridge.models import Departement

        with _session() as session:
            empty = session.get(Departement, "59") is None
        if empty:
            ctx.invoke(demo, as_json=False)
    children = [
        _spawn(
            [
                "celery",
                "-A",
                "workers.celery_app",
                "worker",
                "-Q",
                "transfers,maintenance",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
            ]
        ),
        _spawn(["celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO"]),
        _spawn(
            [
                "gunicorn",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(web_workers),
                "mdph_bridge.wsgi:app",
            ]
        ),
    ]
    click.echo(f"mdph_bridge : http://{host}:{port}/api/openapi.json  (Ctrl+C pour arrêter)")

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in children:
            child.wait(timeout=30)
    sys.exit(max(child.returncode or 0 for child in children))


@main.group()
def departements() -> None:
    """Manage the départements connected to the hub."""


@departements.command("add")
@click.argument("code")
@click.argument("nom")
def departements_add(code: str, nom: str) -> None:
    """Connect a département (code such as 59, 2A, 974)."""
    from mdph_bridge.services.admin import add_departement

    with _session() as session:
        add_departement(session, code, nom)
    click.echo(f"Département {code} ({nom}) enregistré.")


@departements.command("list")
def departements_list() -> None:
    """List the connected départements."""
    from sqlalchemy import select

    from mdph_bridge.models import Departement

    with _session() as session:
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
@click.argument("public_key")
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
    with _session() as session:
        key = register_key(session, departement, usage, public_key, until, start)
    click.echo(key.id)


@keys.command("list")
@click.argument("departement")
def keys_list(departement: str) -> None:
    """List a département's keys with their validity."""
    from sqlalchemy import select

    from mdph_bridge.models import DepartementKey

    with _session() as session:
        query = select(DepartementKey).where(DepartementKey.departement_code == departement)
        for key in session.scalars(query.order_by(DepartementKey.created_at)):
            status = "révoquée" if key.revoked_at else f"valide jusqu'au {key.valid_until or '—'}"
            click.echo(f"{key.id}\t{key.usage}\t{status}\t{key.public_key}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: no new package is encrypted to it."""
    from mdph_bridge.services.keys import revoke_key

    with _session() as session:
        if not revoke_key(session, key_id):
            raise click.ClickException(f"Clé inconnue : {key_id}")
    click.echo(f"Clé {key_id} révoquée.")


@keys.command("expiring")
@click.option("--days", default=30, show_default=True, type=int)
def keys_expiring(days: int) -> None:
    """List the keys whose validity ends within DAYS days: new ones must be registered first."""
    from datetime import timedelta

    from mdph_bridge.services.keys import expiring_keys

    with _session() as session:
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
    """Re-seal staged payloads with the first staging key, before an older key is removed."""
    from mdph_bridge.extensions import backends, session
    from mdph_bridge.services.staging import reseal_staging

    with _app() as app:
        count = reseal_staging(session(), backends().storage, app.config["KEYRING"])
    click.echo(
        f"{count} fichier(s) rechiffré(s) avec la clé {app.config['KEYRING'].primary.key_id}."
    )


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("issue")
@click.argument("departement")
@click.argument(
    "role", type=click.Choice(["caseworker", "receiver", "doctor", "supervisor", "admin"])
)
@click.option("--label", default="", help="Who or what uses the token.")
def tokens_issue(departement: str, role: str, label: str) -> None:
    """Issue a token; it is printed once and only its hash is kept."""
    from mdph_bridge.services.auth import issue_token

    with _session() as session:
        token, value = issue_token(session, departement, role, label)
    click.echo(f"{token.id}\t{value}")


@tokens.command("revoke")
@click.argument("token_id", type=click.UUID)
def tokens_revoke(token_id: uuid.UUID) -> None:
    """Revoke a token at once."""
    from mdph_bridge.services.auth import revoke_token

    with _session() as session:
        if not revoke_token(session, token_id):
            raise click.ClickException(f"Jeton inconnu : {token_id}")
    click.echo(f"Jeton {token_id} révoqué.")


@main.group()
def transfers() -> None:
    """Operate on transfers."""


@transfers.command("retry")
@click.argument("transfer_id", type=click.UUID)
def transfers_retry(transfer_id: uuid.UUID) -> None:
    """Give a failed transfer new attempts once the cause is fixed."""
    from mdph_bridge.extensions import backends
    from mdph_bridge.services.processing import retry_failed
    from mdph_bridge.services.queue import wake_processing

    with _session() as session:
        if not retry_failed(session, transfer_id, "admin:cli"):
            raise click.ClickException("Ce transfert n'est pas en échec.")
        wake_processing(backends().celery, transfer_id)
    click.echo("Transfert relancé.")


@main.group()
def client() -> None:
    """Receiving-side tools, run on the MDPH's own machine."""


@client.command("decrypt")
@click.option(
    "--identity", "-i", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.argument("package", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def client_decrypt(identity: Path, out: Path, package: Path) -> None:
    """Decrypt a downloaded package with the MDPH's private key and unpack it into OUT."""
    from mdph_bridge.domain.age import AgeError, Decryptor

    identities = [
        line for line in identity.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")
    ]
    out.mkdir(parents=True, exist_ok=True)
    try:
        with (
            package.open("rb") as src,
            tarfile.open(fileobj=Decryptor(src, identities), mode="r|") as tar,
        ):
            tar.extractall(out, filter="data")
    except AgeError as exc:
        raise click.ClickException(f"Déchiffrement impossible : {exc}") from exc
    click.echo(f"Dossier déchiffré dans {out}")


@main.group()
def inbound() -> None:
    """Receive the département's transfers, on the MDPH's own machine."""


@inbound.command("pull")
@click.option("--url", required=True, help="Adresse de la plateforme (https://…).")
@click.option(
    "--token",
    required=True,
    envvar="MDPH_BRIDGE_TOKEN",
    help="Jeton receiver ou doctor du département (ou variable MDPH_BRIDGE_TOKEN).",
)
@click.option(
    "--keys",
    "keys_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Dossier des clés privées de la MDPH (*.agekey, une *.signkey).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dossier de réception : un sous-dossier par transfert.",
)
@click.option(
    "--hub-keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Clés publiques de la plateforme à épingler (JSON de /api/v1/keys) ; "
    "sinon lues sur la plateforme.",
)
@click.option("--once", is_flag=True, help="Recevoir ce qui est disponible, puis s'arrêter.")
@click.option(
    "--interval",
    default=60,
    show_default=True,
    type=click.IntRange(min=1),
    help="Secondes entre deux interrogations.",
)
def inbound_pull(
    url: str,
    token: str,
    keys_dir: Path,
    out: Path,
    hub_keys: Path | None,
    once: bool,
    interval: int,
) -> None:
    """Download, verify, decrypt and acknowledge the transfers addressed to the département."""
    from mdph_bridge.client.hub import Hub, PullError
    from mdph_bridge.client.pull import load_keys, run

    try:
        run(Hub(url, token), load_keys(keys_dir), out, hub_keys, once, interval, click.echo)
    except PullError as exc:
        click.echo(f"Erreur : {exc}", err=True)
        raise SystemExit(1) from exc
    except OSError as exc:
        click.echo(f"Erreur : accès impossible à {exc.filename} ({exc.strerror}).", err=True)
        raise SystemExit(1) from exc


@main.group()
def dossier() -> None:
    """Check dossier files (format v1) before sending them."""


@dossier.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--pieces",
    "pieces_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Dossier contenant les pièces jointes, pour vérifier leurs noms, empreintes et types.",
)
def dossier_check(file: Path, pieces_dir: Path | None) -> None:
    """Validate FILE with the hub's rules; print every problem in French (exit 1 if any)."""
    from mdph_bridge.services.errors import ServiceError
    from mdph_bridge.services.submission import documents_problems, folder_uploads, parse_dossier
    from schemas.clock import today
    from schemas.warnings import dossier_warnings

    try:
        data = parse_dossier(file.read_bytes())
    except ServiceError as exc:
        _print_problems(exc.erreurs)
        raise SystemExit(1) from exc
    problems = documents_problems(data, folder_uploads(pieces_dir)) if pieces_dir else []
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


@main.group()
def receipt() -> None:
    """Check, offline, what the receiving MDPH acknowledged."""


@receipt.command("verify")
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--manifest",
    "manifest_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Le manifeste signé (GET …/transfers/ID/manifest).",
)
@click.option(
    "--hub-keys",
    "hub_keys_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Les clés publiques de la plateforme (GET /api/v1/keys), vérifiées par ailleurs.",
)
def receipt_verify(receipt_file: Path, manifest_file: Path, hub_keys_file: Path) -> None:
    """Prove offline what the receiving MDPH acknowledged: both signatures, and their binding."""
    try:
        lines = verify_receipt(
            json.loads(receipt_file.read_text()),
            json.loads(manifest_file.read_text()),
            json.loads(hub_keys_file.read_text()),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise click.ClickException(f"Vérification impossible : {exc}") from exc
    for line in lines:
        click.echo(line)


def verify_receipt(
    signed: dict[str, Any], manifest: dict[str, Any], hub_keys: dict[str, Any]
) -> list[str]:
    """Check the hub signed the manifest, and the destination's key signed a receipt of it."""
    from mdph_bridge.domain.keyids import key_id
    from mdph_bridge.domain.signing import digest, verify

    body = manifest["manifeste"]
    keys = {k["id"]: k["cle_publique"] for k in hub_keys["cles"]}
    block = manifest["signature"]
    if not verify(keys.get(block["cle"], ""), block["valeur"], body):
        raise ValueError("la signature de la plateforme sur le manifeste est invalide")
    expected = key_id(body["mdph_destination"], "signing", signed["cle_publique"])
    if signed["cle"] != expected:
        raise ValueError("la clé du reçu n'est pas une clé de signature de la MDPH d'accueil")
    if not verify(signed["cle_publique"], signed["signature"], signed["recu"]):
        raise ValueError("la signature du reçu est invalide")
    if signed["recu"]["transfert"] != body["transfert"]:
        raise ValueError("le reçu porte sur un autre transfert")
    if signed["recu"]["sha256_manifeste"] != digest(body):
        raise ValueError("le reçu ne porte pas sur ce manifeste")
    parts = ", ".join(f"{p['nom']} ({p['sha256_chiffre']})" for p in body["parties"])
    return [
        f"Manifeste signé par la plateforme (clé {block['cle']}) : signature valide.",
        f"Reçu signé par la MDPH {body['mdph_destination']} (clé {signed['cle']}) "
        f"le {signed['recu']['date']} : signature valide.",
        f"Le reçu porte sur : {parts}.",
    ]


@main.command("error-codes")
def error_codes() -> None:
    """Print the table of stable error codes (Markdown), as published in docs/ERREURS.md."""
    from schemas.errors import markdown_table

    click.echo(markdown_table(), nl=False)
