"""The receiving client's service pieces: back-off, index, token sources, French command line."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mdph_bridge.cli import main as hub_command
from mdph_bridge.client import cli
from mdph_bridge.client.files import Index
from mdph_bridge.client.hub import PullError
from mdph_bridge.client.pull import BACKOFF_BASE, backoff
from mdph_bridge.client.quarantine import FOLDER, Quarantine

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("failures", [1, 2, 5, 10, 30])
def test_backoff_grows_exponentially_with_jitter_up_to_the_ceiling(failures: int) -> None:
    random.seed(failures)
    waits = [backoff(failures, 60) for _ in range(200)]

    assert all(1 <= w <= min(60, BACKOFF_BASE * 2**failures) for w in waits)
    assert len(set(waits)) > 100  # jittered: clients that failed together do not retry together


def test_index_drops_a_line_cut_short_by_a_crash_and_lists_each_transfer_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.jsonl"
    path.write_text(json.dumps({"transfert": "a"}) + "\n" + '{"transfert": "b", "dos')

    index = Index(path)
    index.append({"transfert": "b"})
    index.append({"transfert": "a"})
    index.append({"transfert": "b"})

    assert index.ids == {"a", "b"}
    assert [json.loads(line)["transfert"] for line in path.read_text().splitlines()] == ["a", "b"]


def test_the_token_comes_from_its_file_or_the_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "jeton").write_text("mdphb_secret\n")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)

    assert cli.read_token(tmp_path / "jeton") == "mdphb_secret"
    with pytest.raises(ValueError, match="jeton absent"):
        cli.read_token(None)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert cli.read_token(None) == "mdphb_secret"
    (tmp_path / "jeton").write_text("deux mots\n")
    with pytest.raises(ValueError, match="le jeton seul"):
        cli.read_token(None)


def test_a_token_on_the_command_line_is_refused_in_french(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--url", "https://hub", "--keys", "k", "--out", "o", "--token", "mdphb_x"])

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "Erreur : ligne de commande invalide : options inconnues : --token" in error
    assert error.startswith("Utilisation : mdph-reception")


def test_missing_options_are_named_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--url", "https://hub"])

    assert "options obligatoires absentes : --keys, --out" in capsys.readouterr().err


def test_the_hub_command_gives_the_clients_french_help() -> None:
    shown = CliRunner().invoke(hub_command, ["inbound", "pull", "--help"])

    assert shown.exit_code == 0
    assert shown.output.startswith("Utilisation : mdph-bridge inbound pull")
    assert "Afficher cette aide et quitter." in shown.output
    assert "--on-received COMMANDE" in shown.output


def test_quarantine_keeps_the_french_reason_until_reported_and_released(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, ".partiel-")

    quarantine.set_aside("t1", "cle_absente", "aucune clé de /cles ne convient.")

    assert quarantine.holds("t1")
    assert quarantine.unreported() == ["t1"]
    assert quarantine.code("t1") == "cle_absente"
    text = (tmp_path / FOLDER / "t1" / "motif.txt").read_text()
    assert "Motif : aucune clé de la MDPH d'accueil ne permet d'ouvrir le paquet." in text
    quarantine.mark_reported("t1")
    assert quarantine.unreported() == []
    quarantine.set_aside("t1", "dechiffrement", "ne se déchiffre pas.")  # a retry failed again
    assert (quarantine.code("t1"), quarantine.unreported()) == ("dechiffrement", ["t1"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [FOLDER]  # no leftover

    quarantine.release("t1")

    assert not quarantine.holds("t1")
    assert not (tmp_path / FOLDER).exists()


def test_an_unreadable_quarantine_record_is_a_french_error(tmp_path: Path) -> None:
    quarantine = Quarantine(tmp_path, ".partiel-")
    quarantine.set_aside("t1", "cle_absente", "…")
    (tmp_path / FOLDER / "t1" / "motif.json").write_text("{")

    with pytest.raises(PullError, match="illisible"):
        quarantine.unreported()


@pytest.mark.parametrize("theirs", ["de", None])
def test_the_on_received_command_keeps_the_callers_language(
    tmp_path: Path, theirs: str | None
) -> None:
    """Our tools speak French through LANGUAGE; the MDPH's own command gets the caller's back."""
    script = (
        "import sys; from pathlib import Path\n"
        "from mdph_bridge.client.french import speak_french\n"
        "from mdph_bridge.client.handoff import Handoff\n"
        "speak_french()\n"
        "command = 'sh -c \\'printf %s \"${LANGUAGE-absent}\" > \"$0/langue\"\\''\n"
        "sys.exit(Handoff(command, 10).run(Path(sys.argv[1])) is not None)\n"
    )
    environment = {k: v for k, v in os.environ.items() if k != "LANGUAGE"}
    if theirs is not None:
        environment["LANGUAGE"] = theirs
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=environment, check=True)
    assert (tmp_path / "langue").read_text() == (theirs or "absent")
