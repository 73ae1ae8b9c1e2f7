"""Both command lines speak French even where click and argparse write the message themselves."""

from __future__ import annotations

import argparse
import ast
import gettext
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mdph_bridge.cli import main
from mdph_bridge.cli.help_fr import HELP
from mdph_bridge.client.cli import main as client_main
from mdph_bridge.client.french import LOCALE

CATALOGUE = LOCALE / "fr" / "LC_MESSAGES" / "mdph_bridge"
# Words of click's and argparse's English messages and headings that must never reach a person.
ENGLISH = re.compile(
    r"\b(Usage|usage:|Error|error|Missing|No such|is not one of|is not a valid|Try|Show this|"
    r"Commands|COMMAND|ARGS|required|Did you mean|Invalid|invalid|expected|unrecognized|"
    r"INTEGER|TEXT|does not exist|Got unexpected|requires an argument|PACKAGE|FILE)\b"
)
# What click itself writes in a help page (the commands' own descriptions are ours).
HELP_ENGLISH = re.compile(
    r"Usage:|Options:|Commands:|Show this|COMMAND \[ARGS\]|\bINTEGER\b|\bTEXT\b|\[required"
)
# click and argparse translate these through a variable, so the source holds no literal.
INDIRECT = {"required", "subcommands"}


@pytest.fixture(autouse=True)
def _english_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as on a machine set to English: the tools speak French anyway."""
    monkeypatch.setenv("LANGUAGE", "en")
    monkeypatch.setenv("LANG", "en_US.UTF-8")


def _run(args: list[str]) -> Result:
    return CliRunner().invoke(main, args, prog_name="mdph-bridge")


def _messages(source: Path) -> set[str | tuple[str, int]]:
    """The msgids a module translates, as keys of a GNU catalogue (plurals by form 0)."""
    found: set[str | tuple[str, int]] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        first = node.args[0] if node.args else None
        if node.func.id == "_" and isinstance(first, ast.Constant):
            found.add(first.value)
        elif node.func.id == "ngettext" and isinstance(first, ast.Constant):
            found.add((first.value, 0))
    return found


def _catalogue() -> dict[object, str]:
    with CATALOGUE.with_suffix(".mo").open("rb") as mo:
        return gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]


def test_every_message_of_click_and_argparse_has_its_french() -> None:
    sources = [*Path(click.__file__).parent.glob("*.py"), Path(argparse.__file__)]
    wanted = set().union(*(_messages(source) for source in sources)) | INDIRECT
    catalogue = _catalogue()
    assert len(wanted) > 100
    untranslated = sorted(str(m) for m in wanted if not catalogue.get(m))
    assert untranslated == [], "messages à traduire dans " + str(CATALOGUE.with_suffix(".po"))


def test_the_compiled_catalogue_is_the_one_of_the_po_file(tmp_path: Path) -> None:
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "msgfmt (paquet Debian gettext) est nécessaire : .ci/run l'installe"
    fresh = tmp_path / "fresh.mo"
    subprocess.run([msgfmt, "--check", "-o", fresh, CATALOGUE.with_suffix(".po")], check=True)
    with fresh.open("rb") as mo:
        assert gettext.GNUTranslations(mo)._catalog == _catalogue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "french"),
    [
        (["tokens", "issue"], "Argument obligatoire absent : 'DEPARTEMENT'."),
        (["tokens", "issue", "59", "admin", "--bogus"], "Option inconnue : « --bogus »."),
        (["tokens", "issue", "59", "chef"], "« chef » n'est pas une valeur possible : "),
        (["tokens", "issue", "59", "admin", "--days", "x"], "« x » n'est pas un nombre valide."),
        (["tokens", "issue", "59", "admin", "--days"], "L'option « --days » attend une valeur."),
        (["tokenz"], "Commande inconnue : « tokenz ». Vouliez-vous dire 'tokens' ?"),
        (["tokens", "list", "59", "62"], "Argument en trop : 62"),
        (["dossier", "check", "/absent.json"], "Fichier « /absent.json » introuvable."),
        (["tokens", "revoke", "x"], "« x » n'est pas un identifiant (UUID) valide."),
        (["accounts", "create", "a.b"], "Option obligatoire absente : '--role'."),
    ],
)
def test_each_kind_of_usage_error_is_told_in_french(args: list[str], french: str) -> None:
    result = _run(args)
    assert result.exit_code == 2
    assert result.output.startswith("Erreur : ")
    assert french in result.output
    assert ENGLISH.search(result.output) is None, result.output


@pytest.mark.parametrize("args", [["--help"], ["tokens"], ["tokens", "issue", "--help"]])
def test_help_has_french_headings_and_value_names(args: list[str]) -> None:
    output = _run(args).output
    assert output.startswith("Utilisation : mdph-bridge")
    assert "Options :" in output
    assert "Afficher cette aide et quitter." in output
    assert HELP_ENGLISH.search(output) is None, output


def test_group_help_names_its_commands_in_french() -> None:
    output = _run(["tokens", "issue", "--help"]).output
    assert "--days ENTIER" in output
    assert "--label TEXTE" in output
    assert "Commandes :" in _run(["--help"]).output


def _paths(command: click.Command, path: str = "") -> set[str]:
    """Every command's path under `mdph-bridge`, and every option with help text."""
    found = {path}
    for param in command.params:
        if isinstance(param, click.Option) and param.help and param.name != "help":
            found.add(f"{path} {param.opts[0]}".strip())
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found |= _paths(sub, f"{path} {name}".strip())
    return found


def test_every_command_has_its_french_help_and_no_other() -> None:
    _run(["--help"])  # the help is put in place when the command line runs
    documented = {key for key in HELP if " --" not in key}
    assert documented == {path for path in _paths(main) if " --" not in path and path != "--"}
    assert set(HELP) <= _paths(main)  # no help left for an option that is gone
    for path in _paths(main):
        command = main
        for name in path.split():
            if name.startswith("--"):
                break
            assert isinstance(command, click.Group)
            command = command.commands[name]
        help_text = _run([*path.split(" --")[0].split(), "--help"]).output
        assert command.help is not None
        assert command.help.split()[0] in help_text
        assert ENGLISH.search(command.help) is None, path


@pytest.mark.parametrize(
    ("args", "french"),
    [
        ([], "options obligatoires absentes : --url, --keys, --out"),
        (["--url"], "option --url : une valeur est attendue"),
        (["--url", "u", "--keys", "k", "--out", "o", "--bogus"], "options inconnues : --bogus"),
        (["--url", "u", "--keys", "k", "--out", "o", "--once=x"], "valeur 'x' inattendue"),
        (["--url", "u", "--keys", "k", "--out", "o", "--interval", "0"], "option --interval : "),
    ],
)
def test_client_usage_errors_are_french(
    args: list[str], french: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        client_main(args)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Utilisation : mdph-reception ")
    assert french in err
    assert ENGLISH.search(err) is None, err


def test_client_help_is_french(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        client_main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("Utilisation : mdph-reception ")
    assert "\nOptions :\n" in out
    assert ENGLISH.search(out) is None, out
