"""Every benchmark runs at its smoke size, so a change that breaks one fails the tests.

The figures are printed (see them with `pytest -s`), never asserted: a smoke run on a busy machine
measures nothing. What is checked is that the script ran to the end and printed its result lines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(path.name for path in (ROOT / "benchmarks").glob("bench_*.py"))
# Lines whose form other tools and docs rely on.
PRINTS = {
    "bench_audit.py": [r"^8 writers.*new, appended and sealed: [\d,]+ entries/s; CPU per entry"],
    "bench_metrics.py": [r"^\s*API\s.*p95 \d+ ms"],
    # One client sends all its submissions on one kept-alive connection, on both sides.
    "bench_pipeline.py": [
        r"^goals",
        r"^hub +closed loop,  1 clients .*\| 1 connections$",
        r"^bare +closed loop,  1 clients .*\| 1 connections$",
    ],
}


def run(*args: str) -> str:
    """Run a benchmark script from the project root; return what it printed."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize(
    "args",
    [(script,) for script in SCRIPTS] + [("bench_large.py", "--s3")],
    ids=lambda args: " ".join(args),
)
def test_benchmark_runs_at_its_smoke_size(args: tuple[str, ...]) -> None:
    output = run(f"benchmarks/{args[0]}", "--smoke", *args[1:])

    assert output.strip(), "a benchmark prints its figures"
    for expected in PRINTS.get(args[0], []):
        assert re.search(expected, output, re.MULTILINE), output


def test_profile_summary_ranks_the_hubs_own_functions(tmp_path: Path) -> None:
    raw = tmp_path / "web.txt"
    hub_frame = f"submit ({ROOT}/mdph_bridge/services/submission.py:210)"
    library_frame = "loads (/usr/lib/python3.11/json/__init__.py:346)"
    raw.write_text(f"{hub_frame};{library_frame} 3\n{hub_frame} 1\n")

    output = run("benchmarks/profile_summary.py", str(raw))

    assert "4 samples" in output
    assert "100.0 %  submit (mdph_bridge/services/submission.py)" in output
    assert "75.0 %  loads (json/__init__.py)" in output


def test_transfer_cpu_samples_read_by_profile_summary(tmp_path: Path) -> None:
    run("benchmarks/bench_transfer_cpu.py", "--smoke", "--sample", str(tmp_path))

    for side in ("web", "worker"):
        output = run("benchmarks/profile_summary.py", str(tmp_path / f"{side}.txt"))
        assert re.search(r"^\S+\.txt: [1-9]\d* samples", output, re.MULTILINE), output


def test_transfer_cpu_alternates_which_side_runs_first() -> None:
    output = run("benchmarks/bench_transfer_cpu.py", "--smoke", "--before", ".")

    assert re.search(r"^run 1/2: worker ms CPU before [\d.]+, now [\d.]+$", output, re.M), output
    assert re.search(r"^run 2/2: worker ms CPU now [\d.]+, before [\d.]+$", output, re.M), output


def test_transfer_cpu_records_its_profiles_and_samples_and_says_so(tmp_path: Path) -> None:
    profile, sample = tmp_path / "profile", tmp_path / "sample"
    script = "benchmarks/bench_transfer_cpu.py"
    output = run(script, "--smoke", "--profile", str(profile), "--sample", str(sample))

    command = next(line for line in output.splitlines() if line.startswith("command: "))
    assert command.endswith(f" --profile {profile} --sample {sample}"), output
    assert {path.name for path in profile.iterdir()} == {"web.prof", "worker.prof"}
    for side in ("web", "worker"):
        stacks = (sample / f"{side}.txt").read_text().splitlines()
        assert stacks, side
        assert all(re.fullmatch(r".+ \d+", stack) for stack in stacks), stacks[:3]


def test_transfer_cpu_refuses_to_profile_beside_another_checkout() -> None:
    """Each side of `--before` runs in its own process: nothing would be recorded."""
    args = ["benchmarks/bench_transfer_cpu.py", "--before", ".", "--sample", "/nowhere"]
    refused = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )

    assert refused.returncode == 2, refused.stdout
    assert "without --before" in refused.stderr


def test_pipeline_runs_this_checkout_first_when_asked_then_reverses_each_round() -> None:
    output = run("benchmarks/bench_pipeline.py", "--smoke", "--before", ".", "--now-first")

    assert re.search(r"^order \(round 1\): bare, hub, before$", output, re.MULTILINE), output
    assert re.search(r"^order \(round 2\): before, hub, bare$", output, re.MULTILINE), output
    assert output.index("hub    closed loop") < output.index("before closed loop"), output
    ratio = r"^  hub/bare best throughput\s+[\d.]+ .*\(median of 2 rounds: [\d.]+, [\d.]+\)$"
    assert re.search(ratio, output, re.MULTILINE), output
    probe = r"^(bare|hub|before) +host probe +[\d.]+ ms CPU, +[\d.]+ ms wall"
    assert len(re.findall(probe, output, re.MULTILINE)) == 6, output
    probes = r"^  host probe's CPU before each side's closed loops: bare [\d.]+-[\d.]+, hub [\d.]+-"
    assert re.search(probes, output, re.MULTILINE), output


def test_worker_cpu_split_times_every_part_of_a_transfer() -> None:
    output = run("benchmarks/worker_cpu_split.py", "--smoke")

    assert re.search(r"^process_transfer\s+1\.0\s+[\d.]+\s+[\d.]+$", output, re.MULTILINE), output
    assert re.search(r"^build_package\s+1\.0\s", output, re.MULTILINE), output


def test_worker_cpu_split_times_every_part_of_a_submission_with_web() -> None:
    output = run("benchmarks/worker_cpu_split.py", "--smoke", "--web")

    assert re.search(r"^web [\d.]+ ms CPU per transfer", output, re.MULTILINE), output
    for part in ("Flask.wsgi_app", "UploadSink.parse", "parse_dossier", "autocommitted"):
        assert re.search(rf"^{part}\s+1\.0\s+[\d.]+\s+[\d.]+$", output, re.MULTILINE), output
    assert "process_transfer" not in output
