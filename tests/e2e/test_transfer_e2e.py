"""A transfer from Nord (59) to Pas-de-Calais (62) through a real worker process."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dossiers import PDF, dossier, submit
from flask.testing import FlaskClient
from processes import Process
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import bearer, signed_receipt

from mdph_bridge.extensions import Backends
from mdph_bridge.models import Transfer, TransferEvent
from mdph_bridge.services.queue import PROCESS_TASK
from mdph_bridge.services.sweeper import remove_orphans

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "mdph-bridge")


def state(session: Session, transfer_id: uuid.UUID) -> str:
    session.expire_all()
    transfer = session.get(Transfer, transfer_id)
    assert transfer is not None
    session.commit()  # end the read transaction so the next poll sees new commits
    return transfer.state


def wait_for(session: Session, transfer_id: uuid.UUID, expected: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (current := state(session, transfer_id)) != expected:
        assert time.monotonic() < deadline, f"transfer still {current}, expected {expected}"
        time.sleep(0.05)


def event_states(session: Session, transfer_id: uuid.UUID) -> list[str]:
    query = (
        select(TransferEvent.to_state)
        .where(TransferEvent.transfer_id == transfer_id)
        .order_by(TransferEvent.id)
    )
    states = list(session.scalars(query))
    session.commit()
    return states


def test_59_sends_to_62_who_downloads_decrypts_acknowledges_and_completes(
    client: FlaskClient, demo: dict[str, Any], session: Session, tmp_path: Path
) -> None:
    document = PDF + os.urandom(3 * 1024 * 1024)  # only PDF, JPEG or PNG bytes are accepted
    files = {"justificatif.pdf": document}
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)
    wait_for(session, transfer_id, "ready")

    receiver = bearer(demo["62"]["jetons"]["receiver"])
    inbound = client.get("/api/v1/inbound", headers=receiver).get_json()
    assert [t["id"] for t in inbound["transferts"]] == [str(transfer_id)]
    with client.get(inbound["transferts"][0]["paquet"]["lien"], headers=receiver) as response:
        assert response.status_code == 200
        package = tmp_path / "paquet.age"
        package.write_bytes(response.data)

    # The receiving MDPH decrypts on its side with its private key, using the receiving client.
    identity = demo["62"]["cles"]["receiver"]["identity_file"]
    subprocess.run(
        [CLI, "client", "decrypt", "-i", identity, "-o", str(tmp_path / "out"), str(package)],
        check=True,
        cwd=tmp_path,
    )
    assert (tmp_path / "out" / "pieces" / "01-justificatif.pdf").read_bytes() == document
    received = json.loads((tmp_path / "out" / "dossier.json").read_text())
    assert received["transfert"]["numero_dossier_origine"] == "59-2024-004217"
    # The worker mapped the rights: the report is in the package, its summary on the transfer.
    report = json.loads((tmp_path / "out" / "rapport_harmonisation.json").read_text())
    assert [r["resultat"] for r in report["droits"]] == [
        "maintenu",
        "maintenu_changement_payeur",
        "maintenu",
        "maintenu",
    ]
    assert inbound["transferts"][0]["harmonisation"]["resultats"] == report["resultats"]
    assert inbound["transferts"][0]["harmonisation"]["bascule_payeur"] == "2027-02-02"

    base = f"/api/v1/inbound/{transfer_id}"
    manifest = client.get(f"{base}/manifest", headers=receiver).get_json()
    assert (
        manifest["manifeste"]["parties"][0]["sha256_chiffre"]
        == hashlib.sha256(package.read_bytes()).hexdigest()
    )
    signed = signed_receipt(manifest, demo["62"]["cles"]["signing"])
    assert client.post(f"{base}/receipt", json=signed, headers=receiver).status_code == 200
    done = client.post(
        f"{base}/complete", json={"numero_dossier_destination": "62-2026-0001"}, headers=receiver
    )
    assert done.get_json()["etat"] == "completed"

    timeline = client.get(
        f"/api/v1/transfers/{transfer_id}", headers=bearer(demo["59"]["jetons"]["caseworker"])
    )
    assert [e["vers"] for e in timeline.get_json()["evenements"]] == [
        "received",
        "validating",
        "ready",
        "downloaded",
        "acknowledged",
        "completed",
    ]
    # 62 cannot see 59's outbound list; a third département sees nothing at all.
    assert (
        client.get(
            "/api/v1/transfers", headers=bearer(demo["62"]["jetons"]["caseworker"])
        ).get_json()["transferts"]
        == []
    )
    outsider = bearer(demo["80"]["jetons"]["receiver"])
    assert client.get("/api/v1/inbound", headers=outsider).get_json()["transferts"] == []
    assert client.get(base, headers=outsider).status_code == 404


def test_same_idempotency_key_twice_gives_one_transfer(
    client: FlaskClient, demo: dict[str, Any], session: Session
) -> None:
    token = demo["59"]["jetons"]["caseworker"]
    files = {"piece_identite.pdf": PDF}
    first = submit(client, token, dossier(files=files), files, key="export-2026-11-22-0042")
    second = submit(client, token, dossier(files=files), files, key="export-2026-11-22-0042")
    assert first == second
    wait_for(session, first, "ready")
    assert session.scalar(select(func.count()).select_from(Transfer)) == 1
    assert event_states(session, first) == ["received", "validating", "ready"]


def test_worker_killed_during_processing_still_gives_exactly_one_ready(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    backends: Backends,
    processes: dict[str, Process],
    restart_worker: Any,
) -> None:
    document = PDF + os.urandom(300 * 1024 * 1024)
    token = demo["59"]["jetons"]["caseworker"]
    killed: uuid.UUID | None = None
    for _ in range(5):  # retry if the worker finished before we could catch it mid-processing
        files = {"gros.pdf": document}
        transfer_id = submit(client, token, dossier(files=files), files)
        while (current := state(session, transfer_id)) == "received":
            time.sleep(0.002)
        if current == "validating":
            processes["worker"].kill()
            killed = transfer_id
            break
        wait_for(session, transfer_id, "ready")
    assert killed is not None, "never caught the worker in the middle of processing"
    assert state(session, killed) == "validating"

    restart_worker()
    wait_for(session, killed, "ready")  # woken again by the sweeper once the lease expired

    assert event_states(session, killed).count("ready") == 1
    transfer = session.get(Transfer, killed, populate_existing=True)
    assert transfer is not None
    assert transfer.attempts == 2
    assert backends.storage.list_starting(f"staging/{killed}.") == []
    # The killed attempt's package, partial under its attempt's own name (written in place) and
    # recorded nowhere, is the orphan sweeper's.
    keyring = client.application.config["KEYRING"]
    remove_orphans(session, backends.storage, keyring, timedelta(seconds=-1))
    assert backends.storage.list_starting(f"packages/{killed}.") == [transfer.package_key]
    session.commit()


def test_the_worker_logs_a_transfer_s_outcome_without_celery_s_lines_for_its_task(
    client: FlaskClient,
    demo: dict[str, Any],
    session: Session,
    processes: dict[str, Process],
    backends: Backends,
) -> None:
    files = {"piece_identite.pdf": PDF}
    transfer_id = submit(client, demo["59"]["jetons"]["caseworker"], dossier(files=files), files)
    wait_for(session, transfer_id, "ready")
    log = processes["worker"].log
    # A maintenance task sent once the transfer is ready: its own Celery lines, still logged,
    # come after any line Celery would have written about the transfer's task.
    task_id = backends.celery.send_task("maintenance.requeue_stale").id
    deadline = time.monotonic() + 30
    while f"maintenance.requeue_stale[{task_id}] succeeded" not in log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    lines = log.read_text().splitlines()
    assert [line for line in lines if f"transfer {transfer_id} ready for 62" in line]
    assert not [line for line in lines if f"{PROCESS_TASK}[" in line]
