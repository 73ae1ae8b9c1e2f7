"""Unit tests of the error catalogue: every code used exists, the docs match, flattening works."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.errors import CATALOGUE, Problem, error, flatten, markdown_table, problem

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("mdph_bridge", "schemas", "workers")
CODE = re.compile(r"[a-z_]+\.[a-z_0-9]+")
# Callable name -> position of its `code` argument.
CODE_ARGUMENT = {"error": 1, "one": 2, "problem": 0, "matches": 1}


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and (func.value.id, func.attr) == ("ServiceError", "one")
    ):
        return "one"
    return None


def _literals(node: ast.AST) -> Iterator[str]:
    """String literals a code argument can evaluate to (plain, `x if c else y`, `d.get(k, y)`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _literals(node.body)
        yield from _literals(node.orelse)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and len(node.args) == 2
    ):
        yield from _literals(node.args[1])


def codes_in(source: str) -> Iterator[tuple[str, int]]:
    """Literal codes passed to error(), ServiceError.one(), problem() or matches(), with lines."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name not in CODE_ARGUMENT:
            continue
        position = CODE_ARGUMENT[name]
        if len(node.args) > position:
            argument = node.args[position]
        else:
            keyword = [kw.value for kw in node.keywords if kw.arg == "code"]
            if not keyword:
                continue
            argument = keyword[0]
        for literal in _literals(argument):
            yield literal, node.lineno


def codes_used() -> dict[str, list[str]]:
    """Every literal error code used in the source tree, with where it is used."""
    found: dict[str, list[str]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for code, line in codes_in(path.read_text(encoding="utf-8")):
                found.setdefault(code, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def test_scanner_sees_every_way_a_code_is_passed() -> None:
    source = """
error("pieces", "a.un")
error(chemin, code="a.deux")
ServiceError.one(409, "", "a.trois", etat=x)
raise ValidationError(problem("a.quatre"))
matches(r"[0-9]+", "a.cinq")
error("", TABLE.get(status, "a.six"))
error("", "a.sept" if flag else "a.huit")
log.error("message %s", "pas.un_code")
other.one(1, "", "pas.un_code")
"""
    assert sorted(codes_in(source), key=lambda found: found[1]) == [
        ("a.un", 2),
        ("a.deux", 3),
        ("a.trois", 4),
        ("a.quatre", 5),
        ("a.cinq", 6),
        ("a.six", 7),
        ("a.sept", 8),
        ("a.huit", 8),
    ]


def test_source_scan_finds_the_codes_it_is_meant_to_find() -> None:
    """Guard against a scan that silently finds nothing."""
    used = codes_used()

    assert {
        "requete.curseur",  # ServiceError.one(400, "cursor", "requete.curseur")
        "traitement.echec",  # error("", "traitement.echec")
        "departement.code",  # problem("departement.code")
        "piece.sha256",  # matches(r"…", "piece.sha256")
        "http.erreur",  # error("", _BY_STATUS.get(status, "http.erreur"))
        "transfert.destination_sans_cle_medicale",
    } <= set(used)
    assert len(used) >= 40


def test_every_code_used_in_the_source_is_in_the_catalogue() -> None:
    unknown = {code: where for code, where in codes_used().items() if code not in CATALOGUE}

    assert not unknown, f"codes missing from schemas/errors.py CATALOGUE: {unknown}"


def test_status_fallback_codes_are_in_the_catalogue() -> None:
    from mdph_bridge.api.errors import _BY_STATUS

    assert set(_BY_STATUS.values()) <= set(CATALOGUE)


def test_field_type_codes_are_in_the_catalogue() -> None:
    from schemas.base import _INVALID_BY_FIELD

    assert {code for _kind, code in _INVALID_BY_FIELD} <= set(CATALOGUE)


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_catalogue_entry_is_a_well_formed_code_with_a_french_sentence(code: str) -> None:
    message = CATALOGUE[code]

    assert CODE.fullmatch(code)
    assert message == message.strip()
    assert message[0].isupper()
    assert message.endswith((".", "»", ")"))


def test_erreurs_md_is_generated_from_the_catalogue() -> None:
    on_disk = (ROOT / "docs/ERREURS.md").read_text(encoding="utf-8")

    assert on_disk == markdown_table(), (
        "docs/ERREURS.md is out of date: regenerate with "
        "`mdph-bridge error-codes > docs/ERREURS.md`"
    )


def test_markdown_table_lists_every_code_once_in_catalogue_order() -> None:
    rows = [line for line in markdown_table().splitlines() if line.startswith("| `")]

    assert [row.split("`")[1] for row in rows] == list(CATALOGUE)
    assert markdown_table().endswith("|\n")


def test_flatten_joins_nested_dict_keys_with_dots() -> None:
    messages = {"transfert": {"consentement": {"reference": [problem("champ.obligatoire")]}}}

    assert flatten(messages) == [
        {
            "chemin": "transfert.consentement.reference",
            "code": "champ.obligatoire",
            "message": CATALOGUE["champ.obligatoire"],
        }
    ]


def test_flatten_renders_integer_keys_as_indexes() -> None:
    messages = {"pieces": {0: {"sha256": [problem("piece.sha256")]}, 3: [problem("champ.objet")]}}

    assert [(e["chemin"], e["code"]) for e in flatten(messages)] == [
        ("pieces[0].sha256", "piece.sha256"),
        ("pieces[3]", "champ.objet"),
    ]


def test_flatten_puts_schema_errors_on_the_enclosing_path() -> None:
    messages = {
        "_schema": [problem("champ.objet")],
        "transfert": {"_schema": [problem("champ.objet")]},
        "pieces": {1: {"_schema": [problem("champ.objet")]}},
    }

    assert [e["chemin"] for e in flatten(messages)] == ["", "transfert", "pieces[1]"]


def test_flatten_walks_lists_of_dicts() -> None:
    messages = {
        "droits": [
            {"identifiant": [problem("champ.obligatoire")]},
            problem("champ.invalide"),
            {"type": [problem("champ.texte"), problem("champ.longueur", min=1, max=5)]},
        ]
    }

    assert [(e["chemin"], e["code"]) for e in flatten(messages)] == [
        ("droits.identifiant", "champ.obligatoire"),
        ("droits", "champ.invalide"),
        ("droits.type", "champ.texte"),
        ("droits.type", "champ.longueur"),
    ]


def test_flatten_top_level_list_and_empty_inputs() -> None:
    assert flatten([problem("requete.dossier_json")], "corps") == [
        {
            "chemin": "corps",
            "code": "requete.dossier_json",
            "message": CATALOGUE["requete.dossier_json"],
        }
    ]
    assert flatten({}) == []
    assert flatten([]) == []


@pytest.mark.parametrize("messages", [{"x": ["Texte libre."]}, {"x": "Texte libre."}])
def test_flatten_gives_plain_strings_the_generic_code(messages: dict[str, object]) -> None:
    assert flatten(messages) == [
        {"chemin": "x", "code": "champ.invalide", "message": "Texte libre."}
    ]


def test_problem_fills_parameters_and_remembers_its_code() -> None:
    message = problem("champ.longueur", min=1, max=40)

    assert isinstance(message, str)
    assert message.code == "champ.longueur"
    assert message == "La longueur doit être comprise entre 1 et 40 caractères."


def test_problem_format_keeps_the_code() -> None:
    template = Problem("champ.choix", CATALOGUE["champ.choix"])

    formatted = template.format(choix="a, b")

    assert isinstance(formatted, Problem)
    assert formatted.code == "champ.choix"
    assert formatted == "Valeur non autorisée. Valeurs possibles : a, b."


def test_problem_format_with_positional_arguments_keeps_the_code() -> None:
    formatted = Problem("champ.invalide", "{0} refusé").format("x")

    assert (formatted, formatted.code) == ("x refusé", "champ.invalide")


def test_error_builds_one_erreurs_item() -> None:
    assert error("pieces", "piece.fichier_non_declare", nom="a.pdf") == {
        "chemin": "pieces",
        "code": "piece.fichier_non_declare",
        "message": "Le fichier « a.pdf » a été envoyé mais n'est pas déclaré dans « pieces ».",
    }


def test_unknown_code_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        problem("champ.inexistant")
    with pytest.raises(KeyError):
        error("", "champ.inexistant")
