"""Scan the pinned dependencies (constraints.txt) with pip-audit; fail on any known vulnerability.

A dependency the vulnerability service could not answer for (no network to it) is reported, not
fatal: CI machines may have no route to it, and a silent pass would be worse than a loud warning.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run pip-audit on constraints.txt and print what it found."""
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            str(ROOT / ".venv" / "bin" / "pip-audit"),
            "--requirement",
            str(ROOT / "constraints.txt"),
            "--disable-pip",
            "--no-deps",
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        dependencies = json.loads(result.stdout)["dependencies"]
    except (ValueError, KeyError):
        print(f"pip-audit failed:\n{result.stderr}", file=sys.stderr)
        return 1
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d["name"] for d in dependencies if "skip_reason" in d]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            print(f"VULNERABLE {dep['name']}=={dep['version']}: {vuln['id']} (fixed in {fixes})")
    audited = len(dependencies) - len(skipped)
    print(f"pip-audit: {audited} pinned dependencies audited, {len(vulnerable)} vulnerable")
    if skipped:
        print(
            f"WARNING: {len(skipped)} dependencies could not be audited (vulnerability service "
            f"unreachable?): {', '.join(skipped[:10])}{' …' if len(skipped) > 10 else ''}"
        )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
