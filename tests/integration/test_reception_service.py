"""The receiving client as a service, run as its own process against a real hub over HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dossiers import PDF, dossier, submit
from flask import Flask
from flask.testing import FlaskClient
from flows import run
from pulling import PERSONAL, contents, listing, snapshot, state
from sqlalchemy.orm import Session
from support import bearer, free_port
from werkzeug.serving import BaseWSGIServer, make_server

from mdph_bridge.client import pull
from mdph_bridge.client.pull import MAX_BACKOFF
from mdph_bridge.client.quarantine import FOLDER as QUARANTINE
from mdph_bridge.domain.keyids import key_id
from mdph_bridge.extensions import Backends
from mdph_bridge.keyfiles import create_key_file
from mdph_bridge.models import Transfer
from mdph_bridge.services.keys import register_key, revoke_key

pytestmark = pytest.mark.integration
# How long the hub stays down in the restart test: a real outage, long enough for the client's
# back-off to reach its default ceiling (MAX_BACKOFF), which then bounds how late it resumes.
OUTAGE = 60
HOOK = """
import pathlib, sys
folder = pathlib.Path(sys.argv[1])
assert (folder / "dossier.json").is_file()
if (pathlib.Path(__file__).parent / "echouer").exists():
    sys.exit(3)
with open(pathlib.Path(__file__).parent / "transmis.txt", "a") as log:
    log.write(folder.name + "\\n")
"""

Client = Callable[..., list[str]]


def make(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, size: int = 0
) -> str:
    """Submit a file from 59 to 62 (with a document of about `size` bytes) and package it."""
    document = PDF + b"%" + os.urandom(size // 2).hex().encode() + b"\n" if size else PDF
    files = {"piece_identite.pdf": document}
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)
    run(app, backends, transfer_id)
    return str(transfer_id)


@pytest.fixture
def setup(tmp_path: Path, demo: dict[str, Any]) -> dict[str, Path]:
    """The MDPH's machine: a token file, a key folder (copied), a hand-off script, OUT."""
    token = tmp_path / "jeton"
    token.write_text(demo["62"]["jetons"]["receiver"] + "\n")
    keys = tmp_path / "cles"
    keys.mkdir()
    for usage in ("receiver", "signing"):
        source = Path(demo["62"]["cles"][usage]["identity_file"])
        (keys / source.name).write_bytes(source.read_bytes())
    hook = tmp_path / "hook" / "transmettre.py"
    hook.parent.mkdir()
    hook.write_text(HOOK)
    return {"token": token, "keys": keys, "hook": hook, "out": tmp_path / "out"}


def command(url: str, setup: dict[str, Path], *extra: str) -> list[str]:
    """The client's command line, as a service manager would start it."""
    return [
        sys.executable,
        "-m",
        "mdph_bridge.client.cli",
        "--url",
        url,
        "--token-file",
        str(setup["token"]),
        "--keys",
        str(setup["keys"]),
        "--out",
        str(setup["out"]),
        "--on-received",
        f"{sys.executable} {setup['hook']}",
        *extra,
    ]


@pytest.fixture
def once(hub_url: str, setup: dict[str, Path]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the client once, as a scheduled task would, and return what it did."""

    def invoke(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command(hub_url, setup, "--once", *extra),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return invoke


def indexed(out: Path) -> list[str]:
    """The transfer ids of the index, in order, as many times as listed."""
    lines = (out / pull.INDEX).read_text().splitlines() if (out / pull.INDEX).exists() else []
    return [json.loads(line)["transfert"] for line in lines]


def handed(setup: dict[str, Path]) -> list[str]:
    """The folders the MDPH's script was given, in order."""
    path = setup["hook"].parent / "transmis.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_an_altered_package_among_five_is_quarantined_and_the_four_others_delivered(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    setup: dict[str, Path],
    once: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    transfers = [make(app, client, demo, backends) for _ in range(5)]
    bad = transfers[2]
    transfer = session.get(Transfer, uuid.UUID(bad))
    assert transfer is not None
    assert transfer.package_key is not None
    blob = backends.storage.root / transfer.package_key
    altered = bytearray(blob.read_bytes())
    altered[200] ^= 1
    blob.write_bytes(bytes(altered))
    good = [t for t in transfers if t != bad]
    out = setup["out"]

    first = once()

    assert first.returncode == 0, first.stderr
    assert listing(out) == sorted([*good, pull.STATE, pull.INDEX, QUARANTINE])
    assert os.listdir(out / QUARANTINE) == [bad]
    reason = (out / QUARANTINE / bad / "motif.txt").read_text()
    assert "Motif : paquet altéré ou tronqué (différent du manifeste signé)." in reason
    assert f"--retry {bad}" in reason
    assert indexed(out) == good
    assert handed(setup) == good
    for transfer_id in good:
        assert json.loads(contents(out / transfer_id)["dossier.json"])["pieces"]
        assert state(session, transfer_id) == "acknowledged"
    assert state(session, bad) == "downloaded"
    for line in first.stdout.splitlines():  # one line per event, each naming its transfer
        assert any(t in line for t in transfers) or line == "5 transfert(s) traité(s)."
    assert not any(marker in first.stdout + first.stderr for marker in PERSONAL)
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    timeline = client.get(f"/api/v1/transfers/{bad}", headers=sender).get_json()["evenements"]
    assert timeline[-1]["detail"] == {"echec_reception": "paquet_altere"}
    assert timeline[-1]["acteur"] == "MDPH 62"
    before = snapshot(out)

    second = once()

    assert second.returncode == 0, second.stderr
    assert second.stdout == "Aucun nouveau transfert.\n"
    assert snapshot(out) == before
    assert indexed(out) == good
    assert handed(setup) == good
    timeline = client.get(f"/api/v1/transfers/{bad}", headers=sender).get_json()["evenements"]
    assert sum(1 for e in timeline if e["detail"] and "echec_reception" in e["detail"]) == 1


def test_a_failing_hand_off_is_logged_and_retried_and_the_folder_stays(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    setup: dict[str, Path],
    once: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    transfer_id = make(app, client, demo, backends)
    (setup["hook"].parent / "echouer").touch()

    failed = once()

    assert failed.returncode == 0, failed.stderr
    assert (
        f"Transfert {transfer_id} : transmission non faite, la commande a échoué (code 3)"
        in failed.stdout
    )
    assert indexed(setup["out"]) == [transfer_id]
    assert (setup["out"] / transfer_id / "dossier.json").is_file()
    progress = json.loads((setup["out"] / pull.STATE).read_text())
    assert progress["a_transmettre"] == [transfer_id]

    (setup["hook"].parent / "echouer").unlink()
    retried = once()

    assert retried.returncode == 0, retried.stderr
    assert f"Transfert {transfer_id} : transmis au logiciel de la MDPH." in retried.stdout
    assert handed(setup) == [transfer_id]
    assert json.loads((setup["out"] / pull.STATE).read_text())["a_transmettre"] == []
    assert indexed(setup["out"]) == [transfer_id]


def test_a_key_rotation_with_both_keys_present_receives_old_and_new_transfers(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    setup: dict[str, Path],
    once: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    old = make(app, client, demo, backends)
    keys = setup["keys"]
    new_receiver = create_key_file(keys / "accueil-2027.agekey", "receiver")
    new_signing = create_key_file(keys / "signature-2027.signkey", "signing")
    register_key(session, "62", "receiver", new_receiver)
    register_key(session, "62", "signing", new_signing)
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    revoke_key(session, demo["62"]["cles"]["signing"]["id"])
    new = make(app, client, demo, backends)
    packaged = {t: session.get(Transfer, uuid.UUID(t), populate_existing=True) for t in (old, new)}
    assert packaged[old].package_key_ids == [demo["62"]["cles"]["receiver"]["id"]]  # type: ignore[union-attr]
    assert packaged[new].package_key_ids == [key_id("62", "receiver", new_receiver)]  # type: ignore[union-attr]
    # The retired signing key looks newest: the client falls back to the one the hub accepts.
    retired = keys / Path(demo["62"]["cles"]["signing"]["identity_file"]).name
    later = time.time() + 60
    os.utime(retired, (later, later))

    result = once()

    assert result.returncode == 0, result.stderr
    assert sorted(indexed(setup["out"])) == sorted([old, new])
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    for transfer_id in (old, new):
        assert state(session, transfer_id) == "acknowledged"
        receipt = client.get(f"/api/v1/transfers/{transfer_id}/receipt", headers=sender)
        assert receipt.get_json()["cle"] == key_id("62", "signing", new_signing)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def test_a_client_killed_while_writing_and_restarted_delivers_each_transfer_once(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    hub_url: str,
    setup: dict[str, Path],
    once: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    transfers = [make(app, client, demo, backends, size=3 * 1024 * 1024) for _ in range(3)]
    out = setup["out"]

    def writing() -> bool:
        return out.is_dir() and any(name.startswith(pull.TEMP_PREFIX) for name in os.listdir(out))

    def all_listed() -> bool:
        return len(indexed(out)) == len(transfers)

    kills = killed_while_writing = 0
    with (tmp_path / "journal.txt").open("w") as journal:
        while kills < 3 and not all_listed():
            service = subprocess.Popen(
                command(hub_url, setup, "--interval", "1"), stdout=journal, stderr=journal
            )
            _wait(lambda: writing() or all_listed(), 60, "a folder being written")
            killed_while_writing += writing()
            service.send_signal(signal.SIGKILL)
            service.wait()
            kills += 1
    assert killed_while_writing >= 1

    resumed = once()

    assert resumed.returncode == 0, resumed.stderr
    assert sorted(indexed(out)) == sorted(transfers)  # each listed exactly once
    assert listing(out) == sorted([*transfers, pull.STATE, pull.INDEX])
    for transfer_id in transfers:
        assert state(session, transfer_id) == "acknowledged"
        assert (out / transfer_id / "pieces" / "01-piece_identite.pdf").stat().st_size > 3e6
    # The hand-off runs at least once per folder: a kill may fall between it and its record.
    assert set(handed(setup)) == set(transfers)


@pytest.fixture
def restartable(app: Flask) -> Iterator[dict[str, Any]]:
    """The hub on a fixed port, which the test can stop and start again for real."""
    port = free_port()
    servers: list[BaseWSGIServer] = []

    def start() -> None:
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)

    def stop() -> None:
        server = servers.pop()
        server.shutdown()
        server.server_close()

    start()
    yield {"url": f"http://127.0.0.1:{port}", "start": start, "stop": stop}
    while servers:
        stop()


def test_the_client_resumes_by_itself_after_the_hub_was_stopped_and_restarted(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    setup: dict[str, Path],
    restartable: dict[str, Any],
    tmp_path: Path,
) -> None:
    first = make(app, client, demo, backends)
    # The default back-off: what an MDPH runs.
    arguments = command(restartable["url"], setup, "--interval", "1")
    journal_path = tmp_path / "journal.txt"
    with journal_path.open("w") as journal:
        service = subprocess.Popen(arguments, stdout=journal, stderr=journal)
        try:
            _wait(lambda: handed(setup) == [first], 60, "the first transfer")
            restartable["stop"]()
            stopped = time.monotonic()
            second = make(app, client, demo, backends)
            # Down for a minute, and until the client has tried several times in vain.
            _wait(
                lambda: time.monotonic() - stopped >= OUTAGE
                and journal_path.read_text().count("injoignable") >= 4,
                OUTAGE + 4 * MAX_BACKOFF,
                "a minute of failed tries",
            )
            assert service.poll() is None  # still running, trying again
            down = journal_path.read_text()
            restartable["start"]()
            # Handed off: after its receipt was accepted and the cursor moved; at most one
            # back-off wait after the hub came back, plus the time to receive.
            _wait(lambda: handed(setup) == [first, second], MAX_BACKOFF + 60, "the second")
            assert service.poll() is None  # the same process all along: never restarted
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=30)
    waits = [int(w) for w in re.findall(r"Nouvel essai dans (\d+) s", down)]
    assert len(waits) >= 4
    assert max(waits) <= MAX_BACKOFF
    assert state(session, second) == "acknowledged"
    assert indexed(setup["out"]) == [first, second]
