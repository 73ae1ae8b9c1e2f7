"""An agent with only a browser opens a received package and signs its receipt; hub stays blind."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from browsers import BIN
from conftest import REDIS_DB
from dossiers import PDF, dossier, multipart
from flask.testing import FlaskClient
from playwright.sync_api import Page, Request, expect
from processes import Process
from sqlalchemy import text
from sqlalchemy.orm import Session
from support import AGENT_PASSWORD, REDIS_URL, bearer, redis_values

from mdph_bridge.domain.states import LABELS, State
from mdph_bridge.extensions import Backends
from mdph_bridge.keyfiles import read_secret
from mdph_bridge.models import Base, Transfer
from mdph_bridge.services.accounts import create_account
from mdph_bridge.web.bundle import opening_script

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SURNAME = "Vermeulenbrouck"
DOCUMENT_MARKER = b"MARQUEUR-PIECE-NAVIGATEUR-5c1e"
VERIFY_FILES = ["--manifest", "manifeste.json", "--hub-keys", "cles.json"]
PASSPHRASE = "une phrase de passe assez longue"  # noqa: S105 - the test's own


def send(
    client: FlaskClient,
    demo: dict[str, Any],
    files: dict[str, bytes],
    medical: dict[str, bytes] | None = None,
) -> uuid.UUID:
    """59 sends a dossier through the API; return its id once the worker made it ready."""
    data = dossier(files=files, medical=medical)
    data["beneficiaire"]["nom_naissance"] = SURNAME
    response = client.post(
        "/api/v1/transfers",
        **multipart(data, {**files, **(medical or {})}),
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert response.status_code == 202, response.get_json()
    transfer_id = uuid.UUID(response.get_json()["id"])
    receiver = bearer(demo["62"]["jetons"]["receiver"])
    deadline = time.monotonic() + 90
    while client.get(f"/api/v1/inbound/{transfer_id}", headers=receiver).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return transfer_id


def key_file(demo: dict[str, Any], code: str, usage: str) -> str:
    return demo[code]["cles"][usage]["identity_file"]


def record_requests(page: Page) -> list[Request]:
    """Every request the page makes, to check none carries a key or a document."""
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))
    return seen


def carried(request: Request) -> bytes:
    """What a request sends: its address and its body."""
    return request.url.encode() + (request.post_data_buffer or b"")


def api_json(base: str, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{base}{path}", headers=headers)  # noqa: S310 - local
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)


def test_62_opens_a_package_from_59_in_the_browser_and_signs_the_receipt(
    people: Any,
    accounts: dict[str, str],
    demo: dict[str, Any],
    client: FlaskClient,
    session: Session,
    backends: Backends,
    processes: dict[str, Process],
    e2e_settings: dict[str, Any],
    served: str,
    tmp_path: Path,
) -> None:
    justificatif = PDF + DOCUMENT_MARKER + os.urandom(300 * 1024)
    files = {"piece_identite.pdf": PDF, "justificatif_domicile.pdf": justificatif}
    transfer_id = send(client, demo, files)
    secrets = [
        read_secret(Path(key_file(demo, "62", usage)))
        for usage in ("receiver", "doctor", "signing")
    ]

    receiver = people("10-accueil-62-navigateur")
    receiver.sign_in(accounts["rx62"])
    page = receiver.page
    sent = record_requests(page)
    page.goto(f"/recus/{transfer_id}")
    opening = page.locator("#ouverture")
    expect(opening).to_be_visible()
    versions = opening_script()["versions"]
    expect(page.locator("#versions-bibliotheques")).to_contain_text(
        f"age-encryption {versions['age-encryption']}"
    )
    assert versions == {
        name: json.loads((ROOT / "node_modules" / name / "package.json").read_text())["version"]
        for name in ("age-encryption", "@noble/curves", "@noble/hashes")
    }

    # First visit: the key files, kept in this browser under a passphrase.
    page.set_input_files(
        "#fichiers-cles", [key_file(demo, "62", "receiver"), key_file(demo, "62", "signing")]
    )
    page.locator("label[for=garder-cles]").click()  # the DSFR label covers its box
    page.get_by_label("Phrase de passe choisie").fill(PASSPHRASE)
    page.get_by_role("button", name="Ouvrir le dossier", exact=True).click()
    message = page.locator("#message-ouverture")
    expect(message).to_contain_text("Dossier ouvert dans ce navigateur", timeout=60_000)
    expect(page.locator("#rapport h1")).to_have_text("Rapport d'harmonisation des droits")
    shown = {
        row.get_attribute("data-fichier"): row.locator("code").inner_text()
        for row in page.locator("#fichiers-dossier tr").all()
    }
    assert shown["pieces/01-piece_identite.pdf"] == hashlib.sha256(PDF).hexdigest()
    assert shown["pieces/02-justificatif_domicile.pdf"] == hashlib.sha256(justificatif).hexdigest()
    assert {"dossier.json", "rapport_harmonisation.html"} <= set(shown)
    row = page.locator('tr[data-fichier="pieces/02-justificatif_domicile.pdf"]')
    with page.expect_download() as download:
        row.get_by_role("link", name="Enregistrer").click()
    saved = tmp_path / "justificatif.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == justificatif
    receiver.shot("1-ouvert")

    # Next visit: the kept keys open it again with the passphrase, and only with it.
    page.reload()
    expect(page.locator("#cles-gardees")).to_be_visible()
    page.get_by_label("Phrase de passe des clés gardées").fill("pas la bonne phrase")
    page.get_by_role("button", name="Ouvrir avec les clés gardées").click()
    expect(message).to_contain_text("Phrase de passe incorrecte", timeout=60_000)
    page.get_by_label("Phrase de passe des clés gardées").fill(PASSPHRASE)
    page.get_by_role("button", name="Ouvrir avec les clés gardées").click()
    expect(message).to_contain_text("Dossier ouvert dans ce navigateur", timeout=60_000)
    # Only a signed receipt is offered here; the agent's unsigned confirmation stays labelled.
    expect(page.locator("#accuse-agent")).to_contain_text("Ce n'est pas un reçu signé")
    problems = receiver.accessibility_problems()
    page.get_by_role("button", name="Signer et envoyer l'accusé de réception").click()
    expect(page.get_by_role("status").first).to_contain_text("Accusé de réception signé")
    expect(page.locator("#etat")).to_have_text(LABELS[State.ACKNOWLEDGED])
    receiver.shot("2-recu-signe")
    assert problems == []
    assert receiver.console_errors == []

    # The sender's proof: the receipt, verified offline by the command line.
    token = demo["59"]["jetons"]["caseworker"]
    base = f"/api/v1/transfers/{transfer_id}"
    (tmp_path / "recu.json").write_text(json.dumps(api_json(served, f"{base}/receipt", token)))
    (tmp_path / "manifeste.json").write_text(
        json.dumps(api_json(served, f"{base}/manifest", token))
    )
    (tmp_path / "cles.json").write_text(json.dumps(api_json(served, "/api/v1/keys")))
    verified = subprocess.run(
        [BIN / "mdph-bridge", "receipt", "verify", "recu.json", *VERIFY_FILES],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Reçu signé par la MDPH 62" in verified.stdout
    assert "signature valide" in verified.stdout

    # Nothing the page sent carried a key, the passphrase or a document; one POST: the receipt.
    needles = [s.encode() for s in secrets] + [PASSPHRASE.encode(), SURNAME.encode()]
    needles += [DOCUMENT_MARKER, base64.b64encode(justificatif[:3000])]
    assert [r.url for r in sent if any(n in carried(r) for n in needles)] == []
    posts = [r for r in sent if r.method == "POST"]
    assert [r.url.removeprefix(served) for r in posts] == [f"/recus/{transfer_id}/recu-signe"]
    assert set(json.loads(posts[0].post_data_buffer or b"{}")) == {"recu", "cle", "signature"}

    # Afterwards the hub's database, storage and logs hold no plaintext.
    nir = dossier()["beneficiaire"]["nir"]
    needles += [nir.encode()]
    haystacks: dict[str, bytes] = {}
    with backends.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            query = f"SELECT row_to_json(t)::text FROM {table.name} t"  # noqa: S608 - our tables
            rows = conn.execute(text(query)).scalars()
            haystacks[f"table {table.name}"] = "\n".join(rows).encode()
    store = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
    haystacks["redis"] = b"\n".join(redis_values(store))
    store.close()
    for path in Path(backends.storage.root).rglob("*"):
        if path.is_file():
            haystacks[f"blob {path.name}"] = path.read_bytes()
    for path in Path(e2e_settings["VAR_DIR"]).glob("*.log"):
        haystacks[path.name] = path.read_bytes()
    assert {"gunicorn.log", "worker.log"} <= set(haystacks)
    assert str(transfer_id).encode() in haystacks["worker.log"]  # the scan read the real logs
    assert session.get(Transfer, transfer_id) is not None
    found = [(where, n) for where, hay in haystacks.items() for n in needles if n in hay]
    assert found == []


def test_a_wrong_key_or_a_tampered_package_is_refused_in_french(
    people: Any,
    accounts: dict[str, str],
    demo: dict[str, Any],
    client: FlaskClient,
    session: Session,
    backends: Backends,
    processes: dict[str, Process],
    tmp_path: Path,
) -> None:
    transfer_id = send(client, demo, {"piece_identite.pdf": PDF + DOCUMENT_MARKER})
    receiver = people("11-accueil-62-refus")
    receiver.sign_in(accounts["rx62"])
    page = receiver.page
    page.goto(f"/recus/{transfer_id}")
    message = page.locator("#message-ouverture")
    content = page.locator("#contenu-dossier")

    # 59's key is not one of 62's.
    page.set_input_files("#fichiers-cles", key_file(demo, "59", "receiver"))
    page.get_by_role("button", name="Ouvrir le dossier", exact=True).click()
    expect(message).to_contain_text(
        "Aucune des clés choisies n'ouvre ce dossier : il faut la clé de réception "
        "(receiver.agekey) de la MDPH 62"
    )
    expect(content).to_be_hidden()
    not_a_key = tmp_path / "notes.agekey"
    not_a_key.write_text("pas une clé\n")
    page.set_input_files("#fichiers-cles", str(not_a_key))
    page.get_by_role("button", name="Ouvrir le dossier", exact=True).click()
    expect(message).to_contain_text("Le fichier « notes.agekey » n'est pas une clé de MDPH")

    # One byte of the stored package changed: its hash no longer matches the signed manifest.
    transfer = session.get(Transfer, transfer_id)
    assert transfer is not None
    assert transfer.package_key is not None
    blob = Path(backends.storage.root) / transfer.package_key
    original = blob.read_bytes()
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    page.set_input_files("#fichiers-cles", key_file(demo, "62", "receiver"))
    page.get_by_role("button", name="Ouvrir le dossier", exact=True).click()
    expect(message).to_contain_text(
        "L'empreinte SHA-256 de l'enveloppe administrative diffère du manifeste signé "
        "(enveloppe altérée) : dossier refusé.",
        timeout=60_000,
    )
    expect(content).to_be_hidden()
    receiver.shot("1-paquet-altere")

    # The manifest altered to match: its signature no longer checks.
    signed = dict(transfer.manifest or {})
    body = json.loads(json.dumps(signed["manifeste"]))
    body["parties"][0]["sha256_chiffre"] = hashlib.sha256(blob.read_bytes()).hexdigest()
    transfer.manifest = {**signed, "manifeste": body}
    session.commit()
    page.get_by_role("button", name="Ouvrir le dossier", exact=True).click()
    expect(message).to_contain_text(
        "La signature du manifeste ne correspond à aucune clé de la plateforme : dossier refusé."
    )
    expect(content).to_be_hidden()
    assert receiver.console_errors == []


def test_the_medical_envelope_opens_only_with_a_doctors_key_on_the_doctors_page(
    people: Any,
    accounts: dict[str, str],
    demo: dict[str, Any],
    client: FlaskClient,
    session: Session,
    processes: dict[str, Process],
) -> None:
    certificate = PDF + b"certificat medical"
    transfer_id = send(client, demo, {"piece_identite.pdf": PDF}, {"certificat.pdf": certificate})
    doctor_key = key_file(demo, "62", "doctor")

    receiver = people("12-accueil-62-medical")
    receiver.sign_in(accounts["rx62"])
    page = receiver.page
    page.goto(f"/recus/{transfer_id}")
    page.set_input_files("#fichiers-cles", doctor_key)
    page.get_by_role("button", name="Ouvrir le dossier", exact=True).click()
    expect(page.locator("#message-ouverture")).to_contain_text(
        "Aucune des clés choisies n'ouvre ce dossier"
    )
    expect(page.locator("#volet-medical")).to_be_hidden()

    login = create_account(session, "doctor-62", "doctor", ["62"], AGENT_PASSWORD).login
    doctor = people("13-medecin-62")
    doctor.sign_in(login)
    page = doctor.page
    page.goto(f"/recus/{transfer_id}")
    page.set_input_files("#fichiers-cles", [doctor_key, key_file(demo, "62", "receiver")])
    page.get_by_role("button", name="Ouvrir le dossier", exact=True).click()
    expect(page.locator("#message-ouverture")).to_contain_text(
        "enveloppe administrative et médicale vérifiée", timeout=60_000
    )
    row = page.locator('#fichiers-medical tr[data-fichier="pieces/02-certificat.pdf"]')
    expect(row.locator("code")).to_have_text(hashlib.sha256(certificate).hexdigest())
    expect(page.locator('#fichiers-medical tr[data-fichier="medical.json"]')).to_be_visible()
    expect(page.locator("#fichiers-dossier")).not_to_contain_text("certificat")
    doctor.shot("1-volet-medical")
    assert doctor.console_errors == []
