"""The command line every benchmark shares: `--smoke` swaps in tiny sizes that `make test` runs,
so a change that breaks a benchmark fails the tests instead of being found months later."""

from __future__ import annotations

import argparse
from typing import Any


def parse(parser: argparse.ArgumentParser, smoke: dict[str, Any]) -> argparse.Namespace:
    """Parse the command line; with `--smoke`, replace the sizes by `smoke`."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, seconds long: checks the benchmark still runs (figures mean nothing)",
    )
    args = parser.parse_args()
    if args.smoke:
        for name, value in smoke.items():
            setattr(args, name, value)
    return args
