"""A fresh clone holds every document that code, rule files, templates and docs cite.

Citations look like `docs/DOMAIN.md §3.2` (a section is a numbered heading, `## 3.` or `### 3.2`),
or a Markdown link `[text](path)`. A cited file must exist inside the repository (resolved from the
root, or from the citing file's folder), and so must each cited section.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED_SUFFIXES = frozenset({".py", ".toml", ".html", ".md", ".js", ".yml", ".yaml", ".cfg"})
SCANNED_NAMES = frozenset({"Makefile", "Dockerfile", "run"})
# Not the project's text: installed or bundled third-party files, caches, local state.
SKIPPED_DIRS = frozenset(
    {".git", ".venv", "node_modules", "dsfr", "var", "screenshots", "__pycache__", "build"}
)
# This file spells broken citations on purpose, to check that the scanner finds them.
THIS_FILE = Path(__file__).resolve()

_DOCUMENT = re.compile(
    r"(?<![\w/.-])(?P<path>(?:\.\./|[\w-]+/)*[\w-]+\.md)\b"
    r"(?P<sections>(?:[\s#]*(?:,|and|to|or|et|à)?[\s#]*§\s?\d+(?:\.\d+)*)*)"
)
_SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
_LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?:#[^)]*)?\)")
_HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.MULTILINE)


def scanned_files(root: Path) -> list[Path]:
    """The project's own text files under `root`."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder) / name
            is_text = path.suffix in SCANNED_SUFFIXES or name in SCANNED_NAMES
            if is_text and path.resolve() != THIS_FILE:
                found.append(path)
    return found


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _resolve(root: Path, citing: Path, cited: str) -> Path | None:
    """The cited file, from the root or the citing file's folder, if it lies in the repository."""
    for base in (root, citing.parent):
        candidate = base / cited
        if _inside(root, candidate) and candidate.is_file():
            return candidate
    return None


def sections_of(document: Path) -> set[str]:
    """Section numbers of a Markdown document: `## 3. Rights` is 3, `### 3.2 Who pays` is 3.2."""
    return set(_HEADING.findall(document.read_text(encoding="utf-8")))


def broken_citations(root: Path) -> list[str]:
    """Every citation under `root` whose document or section does not exist in the repository."""
    problems = []
    for path in scanned_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(root)
        for match in _DOCUMENT.finditer(text):
            cited = match["path"]
            document = _resolve(root, path, cited)
            if document is None:
                problems.append(f"{where}: {cited} is not in the repository")
                continue
            known = sections_of(document)
            problems.extend(
                f"{where}: {cited} has no section §{number}"
                for number in _SECTION.findall(match["sections"])
                if number not in known
            )
        if path.suffix == ".md":
            for match in _LINK.finditer(text):
                target = match["target"]
                if re.match(r"[a-z]+:", target):
                    continue  # https:, mailto:
                linked = path.parent / target
                if not (_inside(root, linked) and linked.exists()):
                    problems.append(f"{where}: link to {target}, which is not in the repository")
    return problems


def test_every_cited_document_and_section_exists_in_the_repository() -> None:
    assert broken_citations(ROOT) == []


def test_the_project_documents_are_scanned() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in scanned_files(ROOT)}

    assert {"README.md", "docs/DOMAIN.md", "mdph_bridge/rules/59.toml", "Dockerfile"} <= names
    assert "mdph_bridge/web/templates/base.html" in names
    assert not any(name.startswith(("node_modules/", ".venv/")) for name in names)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small repository with one numbered document, outside which lies a `shared/` folder."""
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "RULES.md").write_text("# Rules\n\n## 1. First\n\n### 1.2 Detail\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "NOTES.md").write_text("## 1. Outside\n")
    return root


def test_existing_documents_and_sections_pass(repo: Path) -> None:
    (repo / "code.py").write_text("# docs/RULES.md §1 and §1.2, docs/RULES.md\n")
    (repo / "docs" / "OTHER.md").write_text("See RULES.md §1.2 and [rules](RULES.md#first).\n")

    assert broken_citations(repo) == []


OUTSIDE = "../" + "shared"  # a folder beside the repository (spelt so no scan flags this file)


def test_a_missing_document_a_missing_section_and_a_file_outside_are_reported(
    repo: Path,
) -> None:
    (repo / "code.py").write_text(
        f'"""Rules (docs/RULES.md §1 and §3, docs/GONE.md §1, {OUTSIDE}/NOTES.md §1)."""\n'
        "# RULES.md §1.2: a bare name resolves from the root or this folder only\n"
    )
    (repo / "docs" / "OTHER.md").write_text("[rules](RULES.md), [gone](../GONE.json)\n")

    assert broken_citations(repo) == [
        "code.py: docs/RULES.md has no section §3",
        "code.py: docs/GONE.md is not in the repository",
        f"code.py: {OUTSIDE}/NOTES.md is not in the repository",
        "code.py: RULES.md is not in the repository",
        "docs/OTHER.md: link to ../GONE.json, which is not in the repository",
    ]


def test_a_section_cited_across_a_line_break_is_checked(repo: Path) -> None:
    (repo / "rules.toml").write_text('# Rates (docs/RULES.md\n# §2).\nsource = "x"\n')

    assert broken_citations(repo) == ["rules.toml: docs/RULES.md has no section §2"]
