"""Commands that set up and run the service: init-env, migrate, demo, serve."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import click
from dotenv import load_dotenv

from mdph_bridge.cli.base import ENV_FILE, hub_app, hub_session, main


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
    """Create demo départements 59 and 62 with keys; print one API token and account per role."""
    from mdph_bridge.extensions import session
    from mdph_bridge.services.admin import create_demo

    with hub_app() as app:
        result = create_demo(session(), Path(app.config["VAR_DIR"]) / "demo-keys", accounts=True)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for code, info in result.items():
        click.echo(f"\n{code} {info['nom']}")
        for role, token in info["jetons"].items():
            click.echo(f"  jeton {role:<11} {token}")
        for role, account in info["comptes"].items():
            click.echo(
                f"  compte {role:<10} identifiant {account['identifiant']:<16} "
                f"mot de passe {account['mot_de_passe']}"
            )
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

        with hub_session() as session:
            empty = session.get(Departement, "59") is None
        if empty:
            ctx.invoke(demo, as_json=False)
    from mdph_bridge.services.queue import LARGE_QUEUE, MAINTENANCE_QUEUE, QUEUE

    worker = ["celery", "-A", "workers.celery_app", "worker", "--loglevel", "INFO"]
    small = f"{QUEUE},{MAINTENANCE_QUEUE}"
    children = [
        # Small transfers and the sweepers on one worker, big documents on their own.
        _spawn([*worker, "-n", "small@%h", "-Q", small, "--concurrency", "2"]),
        _spawn([*worker, "-n", "large@%h", "-Q", LARGE_QUEUE, "--concurrency", "1"]),
        _spawn(["celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO"]),
        _spawn(
            [
                "gunicorn",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(web_workers),
                # A sync worker busy with one long upload is killed after --timeout (30 s by
                # default): a 100 MiB transfer over a slow link takes longer than that.
                "--timeout",
                "600",
                "mdph_bridge.wsgi:app",
            ]
        ),
    ]
    click.echo(
        f"mdph_bridge : pages http://{host}:{port}/ , API http://{host}:{port}/api/openapi.json"
        "  (Ctrl+C pour arrêter)"
    )

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
