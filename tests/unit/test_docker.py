"""The Docker files: compose files valid against the Compose Specification, assets built in step.

No Docker daemon is needed: the compose files are checked against the Compose Specification's JSON
Schema as shipped by the pinned `dclint` npm package (package-lock.json), after YAML anchors and
merge keys are resolved, as `docker compose config` would read them; references between services,
networks and volumes are checked too.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from mdph_bridge.cli.service import worker_command
from mdph_bridge.services.queue import LARGE_QUEUE, MAINTENANCE_QUEUE, QUEUE

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SCHEMA = ROOT / "node_modules" / "dclint" / "schemas" / "compose.schema.json"
PRODUCTION = ROOT / "docker-compose.yml"
LAPTOP = ROOT / "docker-compose.dev.yml"


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Compose's override rule: mappings merge key by key, any other value replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _schema_errors(document: dict[str, Any]) -> list[str]:
    if not COMPOSE_SCHEMA.is_file():
        pytest.fail(f"{COMPOSE_SCHEMA} is missing: run `make assets` (npm ci) first")
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _undeclared_references(document: dict[str, Any]) -> list[str]:
    """Services, networks and volumes a service uses but the file does not declare."""
    services = document["services"]
    networks = set(document.get("networks", {})) | {"default"}
    volumes = set(document.get("volumes", {}))
    problems = []
    for name, service in services.items():
        problems += [
            f"{name}: depends on unknown service {other}"
            for other in service.get("depends_on", {})
            if other not in services
        ]
        problems += [
            f"{name}: unknown network {net}"
            for net in service.get("networks", [])
            if net not in networks
        ]
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/", "~")) and source not in volumes:
                problems.append(f"{name}: unknown volume {source}")
    return problems


def test_the_schema_rejects_an_invalid_compose_file() -> None:
    broken = {"services": {"web": {"image": "x", "ports": "8000:8000", "restart": 3}}}

    assert len(_schema_errors(broken)) == 2


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(lambda: _load(PRODUCTION), id="docker-compose.yml"),
        pytest.param(lambda: _merged(_load(PRODUCTION), _load(LAPTOP)), id="with the laptop file"),
    ],
)
def test_compose_files_follow_the_compose_specification(document: Any) -> None:
    config = document()

    assert _schema_errors(config) == []
    assert _undeclared_references(config) == []


def test_every_service_is_built_from_the_image_or_uses_a_pinned_one() -> None:
    services = _load(PRODUCTION)["services"]

    assert {name for name, s in services.items() if s.get("build") == "."} == {
        "migrate",
        "web",
        "worker",
        "worker-large",
        "beat",
    }
    assert all(":" in s["image"] for s in services.values())


# `cp` commands of the Makefile's `assets` recipe and of the Dockerfile's asset stage, with their
# variables named the same way: DSFR is the package's dist/ folder, ASSETS the bundled folder.
_VARIABLE = re.compile(r"\$\(?(DSFR|ASSETS)\)?")


def _copies(lines: list[str]) -> list[tuple[str, str]]:
    """Each (source, destination) a series of shell lines copies, in order."""
    copies = []
    for line in lines:
        for command in line.split("&&"):
            words = shlex.split(_VARIABLE.sub(r"{\1}", command))
            if words[:1] != ["cp"]:
                continue
            paths = [word for word in words[1:] if not word.startswith("-")]
            copies += [(source, paths[-1].rstrip("/")) for source in paths[:-1]]
    return copies


def _makefile_asset_recipe() -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^\$\(ASSETS_STAMP\):.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert recipe is not None
    return recipe.group(1).splitlines()


def _dockerfile_asset_stage() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    stage = re.search(r"^FROM node:\S+ AS assets\n(.*?)^FROM ", text, re.MULTILINE | re.DOTALL)
    assert stage is not None
    return [line[len("RUN ") :] for line in stage.group(1).splitlines() if line.startswith("RUN ")]


def test_the_docker_asset_stage_copies_what_make_assets_copies() -> None:
    from_make = _copies(_makefile_asset_recipe())

    assert ("{DSFR}/dsfr.min.css", "{ASSETS}") in from_make
    assert _copies(_dockerfile_asset_stage()) == from_make


def test_the_image_installs_the_package_with_its_assets_and_the_locked_npm_packages() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")

    assert "COPY package.json package-lock.json ./" in text
    assert "RUN npm ci --ignore-scripts" in text  # exactly the lock's packages, esbuild included
    assert "RUN node mdph_bridge/web/scripts/build.mjs" in text  # the opening script's bundle
    for copied in (
        "COPY --from=assets /build/dsfr ./mdph_bridge/web/static/dsfr",
        "COPY --from=assets /build/mdph_bridge/web/static/build ./mdph_bridge/web/static/build",
    ):
        assert text.index(copied) < text.index("pip install")
    assert re.search(r"^ARG ASSETS=/build/dsfr$", text, re.MULTILINE)


def test_compose_starts_workers_by_pool_so_queue_names_live_in_one_place() -> None:
    services = _load(PRODUCTION)["services"]
    assert services["worker"]["command"] == ["mdph-bridge", "worker", "small"]
    assert services["worker-large"]["command"] == ["mdph-bridge", "worker", "large"]
    commands = [service.get("command") or [] for service in services.values()]
    assert not [command for command in commands if "-Q" in command]


def test_each_worker_pool_consumes_its_own_queues() -> None:
    small, large = worker_command("small"), worker_command("large")
    assert small[small.index("-Q") + 1].split(",") == [QUEUE, MAINTENANCE_QUEUE]
    assert large[large.index("-Q") + 1] == LARGE_QUEUE


def test_deployed_workers_run_without_mingle_and_gossip_as_the_benchmarks_measure_them() -> None:
    for pool in ("small", "large"):
        assert {"--without-mingle", "--without-gossip"} <= set(worker_command(pool))
