"""The receiving client installs on its own: a fresh virtual environment gets none of the hub."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# What the hub needs and an MDPH's machine must not get.
SERVER = {
    "flask",
    "sqlalchemy",
    "celery",
    "gunicorn",
    "redis",
    "psycopg",
    "psycopg-binary",
    "alembic",
    "kombu",
    "boto3",
    "werkzeug",
    "click",
    "marshmallow",
}


def test_the_client_alone_installs_in_a_fresh_venv_without_server_dependencies(
    tmp_path: Path,
) -> None:
    # Built from a copy, so that the build leaves nothing in the working tree.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "client", source / "client")
    shutil.copytree(
        ROOT / "mdph_bridge",
        source / "mdph_bridge",
        ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "rules"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source / "client")],
        check=True,
        timeout=600,
    )

    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    )
    installed = {d["name"].lower(): d["version"] for d in json.loads(listed.stdout)}
    print("installed:", installed)  # what an MDPH's machine gets, for the record
    assert not SERVER & set(installed)
    assert set(installed) - {"pip", "setuptools"} == {
        "mdph-reception",
        "cryptography",
        "cffi",
        "pycparser",
        "filelock",
    }
    # Every module the client runs is there: importing the whole of it needs nothing else.
    imported = subprocess.run(
        [str(python), "-c", "import mdph_bridge.client.cli, mdph_bridge.client.pull"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    shown = subprocess.run(
        [str(venv / "bin" / "mdph-reception"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.startswith("Utilisation : mdph-reception")
    assert "Afficher cette aide et quitter." in shown.stdout
    version = subprocess.run(
        [str(venv / "bin" / "mdph-reception"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == f"mdph-reception {installed['mdph-reception']}"
