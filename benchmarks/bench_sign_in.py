"""Cost of a password check (argon2id, argon2-cffi defaults) on this machine.

Run from the project root: .venv/bin/python benchmarks/bench_sign_in.py [--rounds 20]
Every sign-in pays one check, including those for unknown logins (checked against a dummy
hash), so this bounds how many sign-ins a core can serve and how slowly passwords can be guessed.
"""

from __future__ import annotations

import argparse
import statistics
import time

from argon2 import PasswordHasher
from arguments import parse


def main() -> None:
    """Print the median and slowest time of hashing and of verifying a password."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parse(parser, {"rounds": 2}).rounds
    hasher = PasswordHasher()
    stored = hasher.hash("mot de passe de mesure")
    for name, step in (
        ("hash", lambda: hasher.hash("mot de passe de mesure")),
        ("verify", lambda: hasher.verify(stored, "mot de passe de mesure")),
    ):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        print(
            f"{name:<7} median {statistics.median(times) * 1000:6.1f} ms   "
            f"max {max(times) * 1000:6.1f} ms   ({rounds} rounds; t={hasher.time_cost}, "
            f"m={hasher.memory_cost} KiB, p={hasher.parallelism})"
        )


if __name__ == "__main__":
    main()
