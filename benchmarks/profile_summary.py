"""Summarise a py-spy raw profile: where the sampled processes spent their CPU time.

    py-spy record --subprocesses --format raw -o web.txt --pid <gunicorn master pid>
    .venv/bin/python benchmarks/profile_summary.py web.txt [--top 25]

Prints, for the hub's own code (mdph_bridge, schemas, workers) and for the libraries it calls,
the share of samples each function appears in (inclusive) and the share where it is on top (self).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+)(?::\d+)?\)$")


ROOT = f"{Path(__file__).resolve().parent.parent}/"


def _module(path: str) -> str:
    """A frame's file relative to the project or to the library folder it comes from."""
    for marker in (ROOT, "site-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return re.sub(r"^.*/lib/python3\.\d+/", "", path)


def summarise(raw: Path, top: int) -> None:
    """Print the top functions by inclusive and by self samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame.strip())
            if match:
                frames.append(f"{match['func']} ({_module(match['file'])})")
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    print(f"{raw.name}: {total} samples")
    print("  inclusive, the hub's code:")
    ours = [
        (n, c)
        for n, c in inclusive.most_common()
        if n.split("(")[1].startswith(("mdph_bridge", "schemas", "workers"))
    ]
    for name, count in ours[:top]:
        print(f"    {100 * count / total:5.1f} %  {name}")
    print("  self (on top of the stack):")
    for name, count in own.most_common(top):
        print(f"    {100 * count / total:5.1f} %  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("raw", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for raw in args.raw:
        summarise(raw, args.top)


if __name__ == "__main__":
    main()
