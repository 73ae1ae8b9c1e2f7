"""The layering rules, read from the source: who may import whom, who may commit or wake workers."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mdph_bridge"
# Sending a worker a transfer is the job of the session hook a service registers.
WAKE_FUNCTIONS = {"wake_processing", "wake_after_commit"}
BLOB_WRITERS = ("blob", "_blob")


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])


def imported(source: str, package: str) -> Iterator[str]:
    """Every module a file imports, relative imports resolved, `from a import b` giving `a.b`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}".rstrip(".")
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imports_of(folder: str, forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(PACKAGE / folder)
        for name in imported(path.read_text(encoding="utf-8"), package_of(path))
        if name == forbidden or name.startswith(forbidden + ".")
    ]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("web", "mdph_bridge.api"),
        ("api", "mdph_bridge.web"),
        ("http", "mdph_bridge.api"),
        ("http", "mdph_bridge.web"),
    ],
)
def test_pages_and_api_are_siblings_that_share_only_the_http_layer(
    folder: str, forbidden: str
) -> None:
    assert imports_of(folder, forbidden) == []


def test_the_import_scan_sees_every_form_of_import() -> None:
    source = "import mdph_bridge.api.auth\nfrom mdph_bridge import api\nfrom ..api import uploads\n"
    names = set(imported(source, "mdph_bridge.web"))
    assert {"mdph_bridge.api.auth", "mdph_bridge.api", "mdph_bridge.api.uploads"} <= names


def calls(path: Path) -> Iterator[tuple[int, str]]:
    """Every function or method called in a file, by its last name (a blob's commit left out)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            # A blob writer's commit publishes a file: it is no database transaction.
            receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            if not receiver.endswith(BLOB_WRITERS):
                yield node.lineno, name


@pytest.mark.parametrize("folder", ["api", "web", "cli", "http"])
def test_no_view_nor_command_commits_or_wakes_a_worker(folder: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} calls {name}()"
        for path in modules(PACKAGE / folder)
        for line, name in calls(path)
        if name == "commit" or name in WAKE_FUNCTIONS
    ]
    assert found == [], "services own the commit and the wake-up after it"


def test_the_call_scan_sees_a_session_commit_and_a_wake(tmp_path: Path) -> None:
    sample = tmp_path / "view.py"
    sample.write_text(
        "session().commit()\ndb.commit()\nwake_processing(c, i, 0)\nself._blob.commit()\n"
    )
    found = sorted(name for _line, name in calls(sample) if name in {"commit", *WAKE_FUNCTIONS})
    assert found == ["commit", "commit", "wake_processing"]


def test_no_test_module_imports_another() -> None:
    tests = ROOT / "tests"
    test_modules = {path.stem for path in tests.rglob("test_*.py")}
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted(tests.rglob("*.py"))
        for name in imported(path.read_text(encoding="utf-8"), package_of(path))
        if name.split(".")[0] in test_modules
    ]
    assert found == [], "shared helpers belong in fixtures or helper modules, not in test modules"


@pytest.mark.parametrize("forbidden", ["schemas", "marshmallow", "flask", "sqlalchemy", "celery"])
def test_the_domain_states_rules_without_the_layers_that_apply_them(forbidden: str) -> None:
    assert imports_of("domain", forbidden) == []
