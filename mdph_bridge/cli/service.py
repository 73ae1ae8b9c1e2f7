"""Commands that set up and run the service: init-env, migrate, demo, serve."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click
from dotenv import load_dotenv

from mdph_bridge.cli.base import ENV_FILE, hub_app, hub_session, main


@main.command("init-env")
def init_env() -> None:
    """Write a git-ignored .env with fresh local secrets if there is none."""
    if ENV_FILE.exists():
        click.echo(f"{ENV_FILE} existe déjà : laissé tel quel.")
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
    click.echo(
        f"{ENV_FILE} écrit avec une nouvelle clé secrète, clé de scellement et clé de signature."
    )


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


STOP_SECONDS = 25  # SIGTERM to every child, then SIGKILL to what is left: within 30 s in all


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_serve() -> Callable[[], None] | None:
    """What a child runs before exec so that it gets SIGTERM (a warm stop) when `serve` dies,
    even by SIGKILL: in its own group, no signal of `serve`'s reaches it. Linux only."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, only called after
    serve = os.getpid()

    def before_exec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != serve:  # `serve` died before the line above: do not start at all
            os._exit(1)

    return before_exec


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    """Start a child in its own group: a signal to `serve`'s group then reaches `serve` alone,
    which stops each child once (a second SIGTERM would make Celery quit cold)."""
    return subprocess.Popen(  # noqa: S603 - fixed module names
        [sys.executable, "-m", *args],
        start_new_session=True,
        preexec_fn=_die_with_serve(),  # two system calls, no lock taken between fork and exec
    )


def _port_refusal(host: str, port: int) -> str | None:
    """Say in French why the web server could not listen on host:port, if it could not."""
    try:
        with socket.create_server((host, port)):
            return None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return (
                f"mdph_bridge : le port {port} est déjà utilisé par un autre programme "
                f"(peut-être un autre « mdph-bridge serve ») : arrêtez-le, ou choisissez un "
                f"autre port avec « make serve PORT=8001 » (ou « mdph-bridge serve --port 8001 »)."
            )
        return f"mdph_bridge : impossible d'écouter sur {host}:{port} ({exc.strerror})."


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """Warm shutdown: one SIGTERM each, then SIGKILL to the groups of those still running."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
    for child in children:
        # The group also holds the child's own children (Celery's pool, gunicorn's workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


class _StopRequestedError(Exception):
    """SIGTERM or SIGINT received."""


def _raise_stop(*_: object) -> None:
    raise _StopRequestedError


def worker_command(pool: str) -> list[str]:
    """The Celery worker of `pool`: its queues are named once, in services/queue.py."""
    from mdph_bridge.services.queue import LARGE_QUEUE, MAINTENANCE_QUEUE, QUEUE

    queues, concurrency = {
        "small": (f"{QUEUE},{MAINTENANCE_QUEUE}", "2"),
        "large": (LARGE_QUEUE, "1"),
    }[pool]
    # No mingle nor gossip, as the benchmarks measure it: the hub revokes no task and reads no
    # other worker's events, and a worker then receives no other worker's heartbeats.
    return [
        "celery", "-A", "workers.celery_app", "worker", "-Q", queues,
        "--concurrency", concurrency, "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ]  # fmt: skip


def web_command(
    bind: str, workers: int, app: str = "mdph_bridge.wsgi:app", threads: int | None = None
) -> list[str]:
    """gunicorn as deployed (gunicorn_conf: threaded workers); the benchmarks and tests start it
    so too, the tests with fewer `threads` than gunicorn_conf's."""
    fewer = ["--threads", str(threads)] if threads is not None else []
    return ["gunicorn", "--config", "python:mdph_bridge.gunicorn_conf", "--bind", bind,
            "--workers", str(workers), *fewer, app]  # fmt: skip


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("pool", type=click.Choice(["small", "large"]))
@click.argument("celery_options", nargs=-1, type=click.UNPROCESSED)
def worker(pool: str, celery_options: tuple[str, ...]) -> None:
    """Run one Celery worker pool: small transfers and sweepers, or large transfers.

    Deployments (docker-compose.yml) start workers this way, so no queue name is written twice.
    """
    args = [sys.executable, "-m", *worker_command(pool), *celery_options]
    os.execv(args[0], args)  # noqa: S606 - the worker replaces this process, as PID 1 should


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, web_workers: int) -> None:
    """Run web, worker and beat for the configured backends (embedded default: no server needed)."""
    ctx = click.get_current_context()
    from mdph_bridge.config import load_config

    if refusal := _port_refusal(host, port):
        click.echo(refusal, err=True)
        sys.exit(1)
    config = load_config()
    var = Path(config["VAR_DIR"])
    var.mkdir(mode=0o700, parents=True, exist_ok=True)
    var.chmod(0o700)  # also when an older version left it readable by all
    if config["EMBEDDED"]:
        ctx.invoke(init_env)
        ctx.invoke(migrate)
        from mdph_bridge.models import Departement

        with hub_session() as session:
            empty = session.get(Departement, "59") is None
        if empty:
            ctx.invoke(demo, as_json=False)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    children: list[subprocess.Popen[bytes]] = []
    try:
        # Small transfers and the sweepers on one worker, big documents on their own.
        for args in (
            [*worker_command("small"), "-n", "small@%h"],
            [*worker_command("large"), "-n", "large@%h"],
            ["celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO"],
            web_command(f"{host}:{port}", web_workers),
        ):
            children.append(_spawn(args))
        click.echo(
            f"mdph_bridge : pages http://{host}:{port}/ , API http://{host}:{port}/api/openapi.json"
            "  (Ctrl+C pour arrêter)"
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except _StopRequestedError:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop at a time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop(children)
        click.echo("mdph_bridge : arrêté.")
        sys.exit(0)
    failed = next(child for child in children if child.poll() is not None)
    _stop(children)
    click.echo(
        f"mdph_bridge : un des processus du service s'est arrêté (code {failed.returncode}) : "
        "le service est arrêté ; voir les messages ci-dessus.",
        err=True,
    )
    sys.exit(1)
