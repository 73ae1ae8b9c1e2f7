"""`mdph-bridge inbound pull` against the real hub over HTTP: verified, atomic, idempotent."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from dossiers import PDF, dossier
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from support import bearer
from test_processing import MEDICAL_PDF, run, submit
from werkzeug.serving import make_server

from mdph_bridge.cli import main
from mdph_bridge.client import pull
from mdph_bridge.client.envelope import unpack
from mdph_bridge.client.hub import PullError
from mdph_bridge.client.quarantine import FOLDER as QUARANTINE
from mdph_bridge.domain.age import encrypt_bytes, generate_identity
from mdph_bridge.domain.signing import digest, generate_signing_key, verify
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer

pytestmark = pytest.mark.integration
EVALUATION = {"diagnostic": "G80.1"}
# What the beneficiary of the example file can be recognised by; never in the client's output.
PERSONAL = ("285035935012357", "Exemple", "Camille")

Pull = Callable[..., Result]


@pytest.fixture
def hub_url(app: Flask) -> Iterator[str]:
    """The test hub served over real HTTP on a free local port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture
def pull_62(
    hub_url: str, demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Pull:
    """Run `inbound pull --once` for 62 with its demo key folder and the token of `role`."""
    monkeypatch.chdir(tmp_path)  # the command loads ./.env; keep the project's out of the test
    keys = Path(demo["62"]["cles"]["signing"]["identity_file"]).parent

    def invoke(out: Path, role: str = "doctor", *extra: str, keys: Path = keys) -> Result:
        token = tmp_path / f"jeton-{role}"
        token.write_text(demo["62"]["jetons"][role] + "\n")
        args = [
            "--url",
            hub_url,
            "--token-file",
            str(token),
            "--keys",
            str(keys),
            "--out",
            str(out),
        ]
        return CliRunner().invoke(main, ["inbound", "pull", *args, "--once", *extra])

    return invoke


def ready(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, medical: bool
) -> str:
    """Submit a file from 59 to 62 and let the worker make its packages."""
    files = {"piece_identite.pdf": PDF}
    extra = {"certificat.pdf": MEDICAL_PDF} if medical else {}
    data = dossier(files=files, medical=extra, evaluation=EVALUATION if medical else None)
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], data, {**files, **extra})
    run(app, backends, transfer_id)
    return str(transfer_id)


def state(session: Session, transfer_id: str) -> str:
    transfer = session.get(Transfer, uuid.UUID(transfer_id), populate_existing=True)
    assert transfer is not None
    return transfer.state


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def snapshot(out: Path) -> dict[str, tuple[int, int]]:
    """Identity and modification time of everything in OUT: equal only if nothing was rewritten."""
    return {
        str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.name != pull.LOCK
    }


def listing(out: Path) -> list[str]:
    """What OUT holds, but the lock file (whether it stays after a run is the lock's business)."""
    return sorted(name for name in os.listdir(out) if name != pull.LOCK)


def only(out: Path, *transfer_ids: str, extra: tuple[str, ...] = ()) -> None:
    """OUT holds these transfers' folders, the state file and index, and no leftover."""
    assert listing(out) == sorted([*transfer_ids, pull.STATE, pull.INDEX, *extra])


def test_doctor_gets_medical_content_receiver_does_not(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    tmp_path: Path,
    pull_62: Pull,
) -> None:
    transfer_id = ready(app, client, demo, backends, medical=True)

    doctor = pull_62(tmp_path / "medecin", "doctor")

    assert doctor.exit_code == 0, doctor.output
    folder = tmp_path / "medecin" / transfer_id
    files = contents(folder)
    assert sorted(files) == [
        "dossier.json",
        "manifeste.json",
        "medical/medical.json",
        "medical/pieces/02-certificat.pdf",
        "pieces/01-piece_identite.pdf",
        "rapport_harmonisation.html",
        "rapport_harmonisation.json",
    ]
    assert files["pieces/01-piece_identite.pdf"] == PDF
    assert files["medical/pieces/02-certificat.pdf"] == MEDICAL_PDF
    assert "evaluation_medicale" not in json.loads(files["dossier.json"])
    assert json.loads(files["medical/medical.json"])["evaluation_medicale"] == EVALUATION
    signed = json.loads(files["manifeste.json"])
    headers = bearer(demo["62"]["jetons"]["doctor"])
    assert signed == client.get(f"/api/v1/inbound/{transfer_id}/manifest", headers=headers).json
    only(tmp_path / "medecin", transfer_id)
    assert state(session, transfer_id) == "acknowledged"
    # The sender fetches the receipt and checks it offline against the manifest it knows.
    sender = bearer(demo["59"]["jetons"]["caseworker"])
    receipt = client.get(f"/api/v1/transfers/{transfer_id}/receipt", headers=sender).get_json()
    assert receipt["cle"] == demo["62"]["cles"]["signing"]["id"]
    assert receipt["recu"]["sha256_manifeste"] == digest(signed["manifeste"])
    assert verify(receipt["cle_publique"], receipt["signature"], receipt["recu"])
    assert not any(marker in doctor.output for marker in PERSONAL)

    receiver = pull_62(tmp_path / "accueil", "receiver")

    assert receiver.exit_code == 0, receiver.output
    assert sorted(contents(tmp_path / "accueil" / transfer_id)) == [
        "dossier.json",
        "manifeste.json",
        "pieces/01-piece_identite.pdf",
        "rapport_harmonisation.html",
        "rapport_harmonisation.json",
    ]
    assert "réservé aux médecins" in receiver.output
    assert state(session, transfer_id) == "acknowledged"


def test_rerun_rewrites_nothing_and_later_transfers_come_next(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    tmp_path: Path,
    pull_62: Pull,
) -> None:
    out = tmp_path / "out"
    first = ready(app, client, demo, backends, medical=False)
    assert pull_62(out).exit_code == 0
    before = snapshot(out)

    again = pull_62(out)

    assert again.exit_code == 0, again.output
    assert "Aucun nouveau transfert" in again.output
    assert snapshot(out) == before
    # Even polling from the start again (state file lost) rewrites nothing and acknowledges once.
    cursor = (out / pull.STATE).read_bytes()
    (out / pull.STATE).unlink()
    replay = pull_62(out)
    assert replay.exit_code == 0, replay.output
    assert "déjà reçu" in replay.output
    assert (out / pull.STATE).read_bytes() == cursor
    assert {k: v for k, v in snapshot(out).items() if k != pull.STATE} == {
        k: v for k, v in before.items() if k != pull.STATE
    }

    second = ready(app, client, demo, backends, medical=False)
    later = pull_62(out)

    assert later.exit_code == 0, later.output
    assert f"Transfert {second} reçu" in later.output
    assert first not in later.output
    assert (out / pull.STATE).read_bytes() != cursor
    only(out, first, second)
    assert state(session, second) == "acknowledged"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda blob: blob[:100] + bytes([blob[100] ^ 1]) + blob[101:], "altérée"),
        (lambda blob: blob[:-100], "tronquée"),
    ],
    ids=["flipped-byte", "truncated"],
)
def test_damaged_envelope_is_quarantined_and_the_cursor_moves_on(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    tmp_path: Path,
    pull_62: Pull,
    damage: Callable[[bytes], bytes],
    expected: str,
) -> None:
    out = tmp_path / "out"
    good = ready(app, client, demo, backends, medical=False)
    bad = ready(app, client, demo, backends, medical=False)
    transfer = session.get(Transfer, uuid.UUID(bad))
    assert transfer is not None
    assert transfer.package_key is not None
    blob = backends.storage.root / transfer.package_key
    blob.write_bytes(damage(blob.read_bytes()))
    headers = bearer(demo["62"]["jetons"]["doctor"])
    after_bad = client.get("/api/v1/inbound?limit=2", headers=headers).get_json()["cursor"]

    result = pull_62(out)

    assert result.exit_code == 0, result.output
    assert f"Transfert {bad} : mis en quarantaine" in result.output
    assert expected in result.output
    assert f"Transfert {bad} : échec de réception signalé (paquet_altere)" in result.output
    assert not any(marker in result.output for marker in PERSONAL)
    only(out, good, extra=(QUARANTINE,))
    assert os.listdir(out / QUARANTINE) == [bad]
    reason = json.loads((out / QUARANTINE / bad / "motif.json").read_text())
    assert (reason["code"], reason["signale"]) == ("paquet_altere", True)
    assert expected in (out / QUARANTINE / bad / "motif.txt").read_text()
    assert json.loads((out / pull.STATE).read_text())["curseur"] == after_bad
    assert state(session, bad) == "downloaded"
    before = snapshot(out)

    # Polling again from the start: neither fetched nor reported again.
    (out / pull.STATE).unlink()
    replay = pull_62(out)

    assert replay.exit_code == 0, replay.output
    assert f"Transfert {bad} : déjà en quarantaine." in replay.output
    assert "signalé" not in replay.output
    assert {k: v for k, v in snapshot(out).items() if k != pull.STATE} == {
        k: v for k, v in before.items() if k != pull.STATE
    }


def test_manifest_signed_by_another_key_is_refused(
    client: FlaskClient,
    app: Flask,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    tmp_path: Path,
    pull_62: Pull,
) -> None:
    transfer_id = ready(app, client, demo, backends, medical=True)
    published = client.get("/api/v1/keys").get_json()
    _, other = generate_signing_key()
    wrong = tmp_path / "wrong-hub-keys.json"
    wrong.write_text(
        json.dumps({"cles": [{**k, "cle_publique": other} for k in published["cles"]]})
    )
    out = tmp_path / "out"

    result = pull_62(out, "doctor", "--hub-keys", str(wrong))

    assert result.exit_code == 1
    assert f"transfert {transfer_id} : la signature du manifeste" in result.stderr
    assert listing(out) == []
    assert state(session, transfer_id) == "ready"  # refused before any download

    pinned = tmp_path / "hub-keys.json"
    pinned.write_text(json.dumps(published))
    assert pull_62(out, "doctor", "--hub-keys", str(pinned)).exit_code == 0
    only(out, transfer_id)


@pytest.mark.parametrize("point", ["rename", "receipt"])
def test_interrupted_run_leaves_no_partial_folder_and_the_next_completes(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    tmp_path: Path,
    pull_62: Pull,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
) -> None:
    transfer_id = ready(app, client, demo, backends, medical=True)
    out = tmp_path / "out"
    real_rename = os.rename

    def rename(source: Path, target: Path) -> None:
        if target.name == transfer_id:
            raise KeyboardInterrupt  # killed once everything is downloaded and decrypted
        real_rename(source, target)

    def receipt(*args: Any) -> None:
        raise KeyboardInterrupt  # killed after publishing, before acknowledging

    with monkeypatch.context() as patch:
        if point == "rename":
            patch.setattr(os, "rename", rename)
        else:
            patch.setattr(pull, "receipt", receipt)
        interrupted = pull_62(out)

    assert interrupted.exit_code != 0
    published = (out / transfer_id).exists()
    assert published == (point == "receipt")
    assert not (out / pull.STATE).exists()
    assert state(session, transfer_id) == "downloaded"
    # What a killed run would leave behind: its temporary folder.
    (out / f"{pull.TEMP_PREFIX}killed").mkdir(exist_ok=True)
    (out / f"{pull.TEMP_PREFIX}killed" / "dossier.age").write_bytes(b"partial")

    resumed = pull_62(out)

    assert resumed.exit_code == 0, resumed.output
    only(out, transfer_id)
    assert "medical/medical.json" in contents(out / transfer_id)
    assert state(session, transfer_id) == "acknowledged"


def test_keys_that_do_not_match_quarantine_then_retry_with_the_key_gives_no_medical_part(
    app: Flask,
    client: FlaskClient,
    demo: dict[str, Any],
    backends: Backends,
    session: Session,
    tmp_path: Path,
    pull_62: Pull,
) -> None:
    transfer_id = ready(app, client, demo, backends, medical=True)
    signing = Path(demo["62"]["cles"]["signing"]["identity_file"])
    keys = tmp_path / "cles"
    keys.mkdir()
    shutil.copy(signing, keys)
    (keys / "autre.agekey").write_text(generate_identity()[0] + "\n")
    out = tmp_path / "out"

    refused = pull_62(out, keys=keys)

    assert refused.exit_code == 0, refused.output
    assert f"Transfert {transfer_id} : mis en quarantaine" in refused.output
    assert f"aucune clé de {keys}" in refused.output
    assert listing(out) == sorted([pull.STATE, QUARANTINE])
    assert json.loads((out / QUARANTINE / transfer_id / "motif.json").read_text())["code"] == (
        "cle_absente"
    )
    assert state(session, transfer_id) == "ready"  # set aside before any download
    still = pull_62(out, "doctor", "--retry", transfer_id, keys=keys)
    assert still.exit_code == 1
    assert "toujours en quarantaine" in still.stderr

    # The receiver key added (a doctor's token, no doctor key): administrative part only.
    shutil.copy(demo["62"]["cles"]["receiver"]["identity_file"], keys)

    partial = pull_62(out, "doctor", "--retry", transfer_id, keys=keys)

    assert partial.exit_code == 0, partial.output
    assert "aucune clé médecin" in partial.output
    assert not (out / transfer_id / "medical").exists()
    assert (out / transfer_id / "dossier.json").is_file()
    only(out, transfer_id)  # no longer in quarantine
    assert state(session, transfer_id) == "acknowledged"


def tar_of(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


GOOD = tar_of({"dossier.json": b"{}"})


@pytest.mark.parametrize(
    ("plain", "cut", "declared", "expected"),
    [
        (tar_of({"dossier.json": b"{}", "manifeste.json": b"{}"}), 0, None, "nom réservé"),
        (tar_of({"dossier.json": b"{}", "../hors.txt": b"x"}), 0, None, "archive illisible"),
        (GOOD, 0, hashlib.sha256(b"autre").hexdigest(), "diffère du manifeste"),
        (GOOD, 1, None, "ne se déchiffre pas"),
        (tar_of({"pieces/a.pdf": b"%PDF"}), 0, None, "ne contient pas dossier.json"),
    ],
    ids=["reserved-name", "path-traversal", "plaintext-hash", "truncated", "no-dossier"],
)
def test_unpack_refuses_what_the_signed_manifest_does_not_vouch_for(
    tmp_path: Path, plain: bytes, cut: int, declared: str | None, expected: str
) -> None:
    identity, recipient = generate_identity()
    envelope = tmp_path / "dossier.age"
    sealed = encrypt_bytes(plain, [recipient])
    envelope.write_bytes(sealed[: len(sealed) - cut])
    part = {
        "nom": "dossier",
        "taille_claire": len(plain),
        "sha256_clair": declared or hashlib.sha256(plain).hexdigest(),
    }
    dest = tmp_path / "a" / "b"
    dest.mkdir(parents=True)

    with pytest.raises(PullError, match=expected):
        unpack(envelope, [identity], dest, part, "dossier.json", pull.RESERVED)
    assert not (tmp_path / "a" / "hors.txt").exists()
