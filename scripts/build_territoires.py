"""Write mdph_bridge/data/territoires.json from the official INSEE COG and La Poste data.

The data come from the npm package @etalab/decoupage-administratif (locked in package-lock.json,
installed by `make assets`); run `make territoires` after upgrading it. The file keeps what the
hub needs: every département with its name and article, and which département each postcode
serves (by commune where a postcode crosses a border, as 05110 does for Curbans in 04).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mdph_bridge.territoires import ARTICLE_OF_LIAISON, commune_key  # noqa: E402

SOURCE = ROOT / "node_modules" / "@etalab" / "decoupage-administratif"
TARGET = ROOT / "mdph_bridge" / "data" / "territoires.json"
ZONES = ("metro", "drom")  # the 101 départements; collectivities are kept for their postcodes
COMMUNE_TYPES = ("commune-actuelle", "arrondissement-municipal", "commune-deleguee")


def build(source: Path = SOURCE) -> dict:
    """The compact registry, from the package's departements.json and communes.json."""
    data = source / "data"
    version = json.loads((source / "package.json").read_text(encoding="utf-8"))["version"]
    departements = [
        [d["code"], d["nom"], ARTICLE_OF_LIAISON[d["typeLiaison"]]]
        for d in json.loads((data / "departements.json").read_text(encoding="utf-8"))
        if d["zone"] in ZONES
    ]
    served: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for commune in json.loads((data / "communes.json").read_text(encoding="utf-8")):
        if commune["type"] not in COMMUNE_TYPES or not commune.get("departement"):
            continue
        for postcode in commune.get("codesPostaux", []):
            served[postcode][commune_key(commune["nom"])].add(commune["departement"])
    postcodes: dict[str, str | dict[str, str]] = {}
    for postcode, communes in sorted(served.items()):
        codes = {code for codes in communes.values() for code in codes}
        if len(codes) == 1:
            postcodes[postcode] = codes.pop()
        else:
            postcodes[postcode] = {name: min(codes) for name, codes in sorted(communes.items())}
    return {
        "source": f"@etalab/decoupage-administratif {version} (INSEE COG, base La Poste)",
        "departements": departements,
        "codes_postaux": postcodes,
    }


def main() -> None:
    """Write the registry file."""
    text = json.dumps(build(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    TARGET.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
