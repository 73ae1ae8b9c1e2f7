"""The systemd unit shipped for the receiving client: hardened, token never on the command line."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
UNIT = Path(__file__).resolve().parents[2] / "client" / "systemd" / "mdph-reception.service"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_the_unit_runs_as_a_dedicated_user_with_only_the_output_folder_writable() -> None:
    unit = service()
    command = unit["ExecStart"].replace("\\\n", " ").split()
    out = command[command.index("--out") + 1]

    assert unit["User"] == "mdph-reception"
    assert unit["ProtectSystem"] == "strict"
    assert unit["PrivateTmp"] == "yes"
    assert unit["NoNewPrivileges"] == "yes"
    assert unit["ReadWritePaths"].split() == [out]
    assert unit["CapabilityBoundingSet"] == ""


def test_the_token_is_a_systemd_credential_never_an_argument_or_variable() -> None:
    unit = service()

    assert unit["LoadCredential"].split(":")[0] == "jeton"
    assert "--token" not in unit["ExecStart"]
    assert "Environment" not in unit
    assert "--once" not in unit["ExecStart"]  # a service: it polls and backs off by itself
    assert unit["Restart"] == "always"
