"""The page's opening script computes what the Python side computes, and reads tar safely (Node)."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mdph_bridge.domain.keyids import key_id
from mdph_bridge.domain.signing import (
    canonical_json,
    digest,
    generate_signing_key,
    public_of,
    verify,
)

ROOT = Path(__file__).resolve().parents[2]
# Runs paquet.js on the cases read from stdin; prints each answer, or the kind of refusal.
RUNNER = """
import * as paquet from "./mdph_bridge/web/scripts/paquet.js";
let input = "";
for await (const chunk of process.stdin) { input += chunk; }
const cases = JSON.parse(input);
const tar = (b64) => Uint8Array.from(Buffer.from(b64, "base64"));
const outcome = (f) => {
  try {
    const files = f();
    return Object.fromEntries([...files].map(([n, b]) => [n, Buffer.from(b).toString()]));
  } catch (error) {
    return error instanceof paquet.Refus ? "refus" : "illisible";
  }
};
const keys = await paquet.loadKeys([paquet.parseKeyFile(cases.signing_file)]);
console.log(JSON.stringify({
  canonical: cases.values.map(paquet.canonicalJson),
  key_ids: cases.publics.map((p) => paquet.keyId("62", "signing", p)),
  signing_public: keys.signing.public,
  receipt: paquet.signedReceipt(keys, cases.manifest, new Date(Date.UTC(2026, 11, 3, 10))),
  digest: paquet.digest(cases.manifest),
  not_keys: cases.not_keys.map((t) => paquet.parseKeyFile(t)),
  tars: Object.fromEntries(
    Object.entries(cases.tars).map(([k, v]) => [k, outcome(() => paquet.readTar(tar(v)))])),
}));
"""


def tar_of(*members: tuple[str, bytes | None, bytes]) -> str:
    """A PAX tar written by Python's tarfile, as the hub writes packages; base64 for Node."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, content in members:
            info = tarfile.TarInfo(name)
            info.type = kind or tarfile.REGTYPE
            info.size = len(content) if info.type == tarfile.REGTYPE else 0
            if info.type == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            tar.addfile(info, io.BytesIO(content) if info.type == tarfile.REGTYPE else None)
    return base64.b64encode(buffer.getvalue()).decode()


def run_script(cases: dict[str, Any]) -> dict[str, Any]:
    answer = subprocess.run(
        ["node", "--input-type=module", "-e", RUNNER],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    return json.loads(answer.stdout)


def test_the_script_agrees_with_python_and_refuses_unsafe_archives() -> None:
    secret, public = generate_signing_key()
    values = [
        {"b": [1, {"z": None, "a": True}], "a": 'é\u00e0\n\t"\\\u001f€𝄞', "10": -3},
        [],
        "",
    ]
    manifest = {"transfert": "5d2c3a4e-0000-4000-8000-000000000001", "mdph_destination": "62"}
    long_name = "pieces/" + "n" * 120 + ".pdf"
    tars = {
        "ok": tar_of(
            ("dossier.json", None, b"{}"), (long_name, None, b"x"), ("pièce.pdf", None, b"")
        ),
        "traversal": tar_of(("../dehors.txt", None, b"x")),
        "absolute": tar_of(("/etc/cron.d/x", None, b"x")),
        "symlink": tar_of(("lien", tarfile.SYMTYPE, b"")),
        "reserved": tar_of(("manifeste.json", None, b"{}")),
        "truncated": tar_of(("dossier.json", None, b"{}" * 400))[:800],
    }
    got = run_script(
        {
            "values": values,
            "publics": [public],
            "manifest": manifest,
            "signing_file": f"# signing key, public part: {public}\n{secret}\n",
            "not_keys": ["", "AGE-SECRET-KEY-1\nMDPH-ED25519-SECRET-x", "MDPH-ED25519-SECRET-AAAA"],
            "tars": tars,
        }
    )
    assert got["canonical"] == [canonical_json(v).decode() for v in values]
    assert got["key_ids"] == [key_id("62", "signing", public)]
    assert got["signing_public"] == public_of(secret)
    receipt = got["receipt"]
    assert receipt["recu"] == {
        "transfert": manifest["transfert"],
        "sha256_manifeste": got["digest"],
        "date": "2026-12-03T10:00:00.000+00:00",
    }
    assert got["digest"] == digest(manifest)
    assert datetime.fromisoformat(receipt["recu"]["date"]) == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert receipt["cle"] == key_id("62", "signing", public)
    assert verify(public, receipt["signature"], receipt["recu"])
    assert got["not_keys"] == [None, None, None]
    assert got["tars"]["ok"] == {"dossier.json": "{}", long_name: "x", "pièce.pdf": ""}
    assert got["tars"]["reserved"] == "refus"
    for unsafe in ("traversal", "absolute", "symlink", "truncated"):
        assert got["tars"][unsafe] == "illisible", unsafe
