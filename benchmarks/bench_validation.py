"""CPU of a dossier's validation on the web, by part, in one process (no database, no Redis).

Run from the project root:
    .venv/bin/python benchmarks/bench_validation.py [--count 2000] [--rounds 5] [--before DIR]

The dossier is the one `bench_transfer_cpu.py` submits (`tests/dossiers.py` `dossier()`: ~127
fields, 14 schema loads, 4 rights), and a copy refused for three mistakes (an unknown key, a
number given as text, a missing field), whose error answer is built too. Each figure is the best
round of `--count` calls, timed by the thread's CPU clock, in microseconds: `parse_dossier`
(what a submission calls: JSON decoding and the schema's load with its rules), then the domain
rules alone (`dossier_breaches`, `right_breaches` of every right) and the warnings
(`dossier_warnings`) on the loaded dossier. `--before DIR` measures another checkout's code
beside this one, each side in a fresh process, alternately, `--sides` times each; the best of a
side's runs is printed.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIGURES = ("parse_dossier", "parse_refused", "dossier_breaches", "right_breaches", "warnings")


def _best(call: Callable[[], Any], count: int, rounds: int) -> float:
    """Microseconds per call of the fastest round (the least disturbed by the machine)."""
    for _ in range(min(count, 200)):
        call()
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        for _ in range(count):
            call()
        best = min(best, (time.thread_time() - start) / count * 1e6)
    return best


def measure(count: int, rounds: int) -> dict[str, float]:
    """Time each part on this process's code (imported from PYTHONPATH's checkout)."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from dossiers import dossier

    from mdph_bridge.domain.dossier_rules import dossier_breaches, right_breaches
    from mdph_bridge.services.errors import ServiceError
    from mdph_bridge.services.submission import parse_dossier
    from mdph_bridge.territoires import departement_of
    from schemas.clock import today
    from schemas.warnings import dossier_warnings

    data = dossier()
    raw = json.dumps(data).encode()
    refused = copy.deepcopy(data)
    refused["transfert"]["inconnu"] = 1
    refused["droits"][0]["aeeh_complement"] = "1"
    del refused["beneficiaire"]["sexe"]
    raw_refused = json.dumps(refused).encode()

    def parse_refused() -> None:
        try:
            parse_dossier(raw_refused)
        except ServiceError:
            return
        raise SystemExit("the refused dossier was accepted")

    loaded = parse_dossier(raw)
    day = today()
    parts: dict[str, Callable[[], Any]] = {
        "parse_dossier": lambda: parse_dossier(raw),
        "parse_refused": parse_refused,
        "dossier_breaches": lambda: list(dossier_breaches(loaded, departement_of)),
        "right_breaches": lambda: [list(right_breaches(right)) for right in loaded["droits"]],
        "warnings": lambda: dossier_warnings(loaded, day),
    }
    return {name: _best(part, count, rounds) for name, part in parts.items()}


def run_side(code: Path, count: int, rounds: int) -> dict[str, float]:
    """Measure in a fresh process importing the hub's code from `code`."""
    output = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, "--count", str(count), "--rounds", str(rounds), "--code", "1"],
        env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(zip(FIGURES, map(float, output.split()[-len(FIGURES) :]), strict=True))


def row(label: str, figures: dict[str, float]) -> str:
    """One printed row, microseconds per call."""
    return f"{label:<7}" + "  ".join(f"{name} {figures[name]:7.1f}" for name in FIGURES) + "  µs"


def main() -> None:
    """Print the figures of this checkout, and of `--before` beside them."""
    from arguments import parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run, the best kept")
    parser.add_argument("--before", type=Path, help="another checkout measured beside this one")
    parser.add_argument("--sides", type=int, default=4, help="runs per side (--before)")
    parser.add_argument("--code", help=argparse.SUPPRESS)  # a side's own process
    args = parse(parser, {"count": 5, "rounds": 1, "sides": 2})
    if args.code:
        figures = measure(args.count, args.rounds)
        print(" ".join(f"{figures[name]:.2f}" for name in FIGURES))
        return
    print(f"command: .venv/bin/python benchmarks/bench_validation.py --count {args.count}"
          f" --rounds {args.rounds}"
          + (f" --before {args.before} --sides {args.sides}" if args.before else ""))  # fmt: skip
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.before:
        print(row("this", run_side(HERE.parent, args.count, args.rounds)))
        return
    sides = {"before": args.before.resolve(), "now": HERE.parent}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    for i in range(args.sides):  # alternated: before first, then now first, and so on
        for name in sorted(sides, reverse=i % 2 == 1):
            runs[name].append(run_side(sides[name], args.count, args.rounds))
    for name in sides:
        best = {k: min(r[k] for r in runs[name]) for k in FIGURES}
        print(row(name, best) + f"   (best of {args.sides} runs)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
