"""The dossier form on the pages, by the Flask test client on PostgreSQL: drafts, preview, send."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import uuid
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from dossiers import EXAMPLE, PDF, in_an_establishment, with_technical_aid_partly_paid
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from support import files_under, sign_in

from mdph_bridge.domain.dossier_form import (
    STEP_BY_SLUG,
    Typed,
    inner_lists,
    step_fields,
    typed_from,
)
from mdph_bridge.domain.sealing import Keyring, SealReader, generate_staging_key
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Draft, Transfer, utcnow
from mdph_bridge.services.audit import entries, seal_all
from mdph_bridge.services.drafts import purge_drafts, read, reseal_drafts
from mdph_bridge.services.sweeper import remove_orphans

pytestmark = pytest.mark.integration
DOCUMENTS = {
    "piece_identite.pdf": PDF + b"identite",
    "justificatif_domicile.pdf": PDF + b"domicile",
    "notification_pch_2021.pdf": PDF + b"notification",
    "certificat_medical.pdf": PDF + b"certificat",
}


def example() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text())


def step_form(typed: Typed, slug: str, token: str, action: str = "suivant") -> dict[str, str]:
    """What a browser posts for one step filled in as `typed` (unticked boxes are not sent)."""
    form = {"csrf_token": token, "action": action}
    for path, _ in step_fields(STEP_BY_SLUG[slug], typed.counts):
        value = typed.entries.get(path, "")
        if value:
            form[path] = value
    return form


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def field_messages(html: str, field_id: str) -> str:
    match = re.search(rf'id="{field_id}-messages"[^>]*>(.*?)</div>', html, re.S)
    assert match is not None, f"no messages for {field_id}"
    return text_of(match.group(1)).strip()


def new_draft(client: FlaskClient, token: str) -> str:
    response = client.post("/brouillons", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.location.endswith("/transfert")
    return response.location.rsplit("/", 1)[0]


def attach_documents(client: FlaskClient, url: str, token: str, typed: Typed) -> Any:
    form: dict[str, Any] = step_form(typed, "pieces", token)
    for index, name in enumerate(DOCUMENTS):
        form[f"pieces[{index}].fichier"] = (io.BytesIO(DOCUMENTS[name]), name)
    return client.post(f"{url}/pieces", data=form, content_type="multipart/form-data")


def add_document(client: FlaskClient, url: str, token: str) -> None:
    """Press « Ajouter une pièce »: the documents step is a multipart form, files or not."""
    form = {"csrf_token": token, "action": "ajouter"}
    added = client.post(f"{url}/pieces", data=form, content_type="multipart/form-data")
    assert added.status_code == 303


@pytest.fixture
def caseworker(web: Flask, agents: dict[tuple[str, str], str]) -> tuple[FlaskClient, str]:
    client = web.test_client()
    return client, sign_in(client, agents[("59", "caseworker")])


def fill_everything(
    client: FlaskClient, token: str, url: str, data: dict[str, Any] | None = None
) -> Typed:
    """Type a dossier (the example adult one: AAH, PCH, CMI, RQTH) step by step, as a caseworker.

    Its four documents are those of the example.
    """
    typed = typed_from(data or example())
    for slug in ("transfert", "personne"):
        response = client.post(f"{url}/{slug}", data=step_form(typed, slug, token))
        assert response.status_code == 303, text_of(response.text)[:2000]
    # The example has no representative: the step is passed as it is.
    assert client.post(f"{url}/representants", data={"csrf_token": token}).status_code == 303
    # The draft starts with one right: add the others and their payments, then fill them all.
    for _ in range(typed.counts["droits"] - 1):
        added = client.post(f"{url}/droits", data={"csrf_token": token, "action": "ajouter"})
        assert added.status_code == 303
    for inner in inner_lists(STEP_BY_SLUG["droits"], typed.counts):
        for _ in range(typed.counts[inner]):
            action = {"csrf_token": token, "action": f"ajouter:{inner}"}
            assert client.post(f"{url}/droits", data=action).status_code == 303
    response = client.post(f"{url}/droits", data=step_form(typed, "droits", token))
    assert response.status_code == 303, text_of(response.text)[:2000]
    client.post(f"{url}/demandes", data={"csrf_token": token, "action": "ajouter"})
    assert (
        client.post(f"{url}/demandes", data=step_form(typed, "demandes", token)).status_code == 303
    )
    for _ in range(3):
        add_document(client, url, token)
    response = attach_documents(client, url, token, typed)
    assert response.status_code == 303, text_of(response.text)[:2000]
    assert response.location.endswith("/apercu")
    return typed


def test_a_caseworker_composes_the_adult_dossier_sees_the_pch_switch_and_sends_it(
    caseworker: tuple[FlaskClient, str], session: Session, web: Flask
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    fill_everything(client, token, url)
    preview = client.get(f"{url}/apercu")
    assert preview.status_code == 200
    page = text_of(preview.text)
    assert "problème" not in page
    # The same engine as the worker's report: the PCH stays, paid by 59 then by 62.
    pch = re.search(r'id="apercu-droit-1" data-resultat="([a-z_]+)"', preview.text)
    assert pch is not None
    assert pch.group(1) == "maintenu_changement_payeur"
    assert "Maintenu, changement de payeur" in page
    card = text_of(preview.text.split('id="apercu-droit-1"')[1].split('id="apercu-droit-2"')[0])
    assert "2 févr. 2027 31 déc. 2031 le département du Pas-de-Calais (62)" in card
    assert "veille de l'acquisition du domicile de secours" in card
    alerts = text_of(preview.text.split('id="alertes-apercu"')[1].split("</table>")[0])
    assert "le département du Pas-de-Calais (62) devient payeur le 02/02/2027" in alerts
    for name in DOCUMENTS:
        assert name in page

    sent = client.post(f"{url}/envoi", data={"csrf_token": token})
    assert sent.status_code == 303, text_of(sent.text)[:2000]
    transfer_id = uuid.UUID(sent.location.rsplit("/", 1)[1])
    transfer = session.get(Transfer, transfer_id)
    assert transfer is not None
    assert transfer.state == "received"
    assert transfer.numero_dossier_origine == "59-2024-004217"
    assert [d.type_piece for d in transfer.documents] == [
        "piece_identite",
        "justificatif_domicile",
        "notification_decision",
        "certificat_medical",
    ]
    # The draft is gone with its files; the documents now sit in the transfer's staging, its
    # dossier sealed in its row.
    assert session.scalar(select(func.count()).select_from(Draft)) == 0
    storage = Path(web.config["STORAGE_DIR"])
    assert not (storage / "drafts").exists() or files_under(storage / "drafts") == []
    assert len(files_under(storage / "staging")) == 4
    assert session.scalar(select(Transfer.sealed_dossier).where(Transfer.id == transfer_id))
    assert {p.name[:36] for p in files_under(storage / "staging")} == {str(transfer_id)}
    assert client.get(f"{url}/apercu").status_code == 404


def test_problems_sit_next_to_their_field_in_french_and_nothing_typed_is_lost(
    caseworker: tuple[FlaskClient, str], session: Session
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    form = {
        "csrf_token": token,
        "transfert.mdph_destination": "62",
        "transfert.numero_dossier_origine": "59-2024-004217",
        "transfert.motif": "demenagement",
        "transfert.date_demenagement": "31/02/2026",  # no such day
        "transfert.consentement.date": "2026-10-20",  # not the French way
        "transfert.consentement.reference": "",
    }
    refused = client.post(f"{url}/transfert", data=form)
    assert refused.status_code == 422
    html = refused.text
    date_error = "Une date au format JJ/MM/AAAA est attendue, par exemple 14/03/1985."
    assert field_messages(html, "champ-transfert-date_demenagement") == date_error
    assert field_messages(html, "champ-transfert-consentement-date") == date_error
    assert field_messages(html, "champ-transfert-consentement-reference") == (
        "Ce champ est obligatoire."
    )
    assert field_messages(html, "champ-transfert-mdph_destination") == ""
    # The summary lists each problem with a link to its field.
    summary = re.search(r'id="resume-erreurs".*?</div>\s*</div>', html, re.S)
    assert summary is not None
    assert "3 problèmes à corriger" in text_of(summary.group(0))
    assert 'href="#champ-transfert-consentement-reference"' in summary.group(0)
    # What was typed is shown again, and kept in the draft.
    assert 'value="31/02/2026"' in html
    assert 'value="2026-10-20"' in html
    again = client.get(f"{url}/transfert").text
    assert 'value="31/02/2026"' in again
    assert 'value="59-2024-004217"' in again

    # Step checks use the same schemas as the API: a bad NIR key is refused in the same words.
    typed = typed_from(example())
    typed.entries["beneficiaire.nir"] = "285035935012358"
    refused = client.post(f"{url}/personne", data=step_form(typed, "personne", token))
    assert refused.status_code == 422
    assert "clé" in field_messages(refused.text, "champ-beneficiaire-nir").lower()


def test_a_draft_never_sits_in_clear(
    caseworker: tuple[FlaskClient, str], session: Session, web: Flask
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    typed = typed_from(example())
    typed.entries["beneficiaire.nom_naissance"] = "Vandersteene"
    typed.entries["beneficiaire.prenoms"] = "Marie-Thérèse, Léonie"
    typed.entries["beneficiaire.adresse_nouvelle.ligne1"] = "12 rue des Jacobins"
    client.post(f"{url}/personne", data=step_form(typed, "personne", token, "enregistrer"))
    add_document(client, url, token)
    attach_documents(client, url, token, typed)
    draft = session.scalar(select(Draft))
    assert draft is not None
    session.refresh(draft)
    typed_values = [
        b"Vandersteene",
        "Marie-Thérèse".encode(),
        "Léonie".encode(),
        b"Jacobins",
        b"285035935012357",
    ]
    assert draft.sealed.startswith(b"MDPHSEAL1\n")
    for value in typed_values:
        assert value not in draft.sealed
    blobs = files_under(Path(web.config["STORAGE_DIR"]) / "drafts")
    assert len(blobs) == 2
    for blob in blobs:
        content = blob.read_bytes()
        assert content.startswith(b"MDPHSEAL1\n")
        assert b"%PDF" not in content
    # The page shows what was typed back, unsealed for the département's caseworker only.
    assert "Vandersteene" in client.get(f"{url}/personne").text


def test_a_caseworker_of_62_cannot_see_a_draft_of_59(
    caseworker: tuple[FlaskClient, str], web: Flask, agents: dict[tuple[str, str], str]
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    client.post(
        f"{url}/transfert",
        data={"csrf_token": token, "transfert.numero_dossier_origine": "59-2024-004217"},
    )
    other = web.test_client()
    other_token = sign_in(other, agents[("62", "caseworker")])
    for page in ("", "/transfert", "/apercu", "/export"):
        answer = other.get(url + page)
        assert answer.status_code == 404
        assert "59-2024-004217" not in answer.text
    for page in ("/transfert", "/envoi", "/suppression", "/transfert/verification"):
        assert other.post(url + page, data={"csrf_token": other_token}).status_code == 404
    assert "59-2024-004217" not in other.get("/brouillons").text
    assert "59-2024-004217" in client.get("/brouillons").text
    # A receiver of 59 is refused the drafts altogether.
    receiver = web.test_client()
    sign_in(receiver, agents[("59", "receiver")])
    assert receiver.get(url + "/transfert").status_code == 403


def test_the_form_works_without_javascript_for_lists_and_validates_on_blur_with_json(
    caseworker: tuple[FlaskClient, str],
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    for _ in range(2):
        client.post(f"{url}/droits", data={"csrf_token": token, "action": "ajouter"})
    typed_first = {"csrf_token": token, "droits[0].identifiant": "D1", "action": "ajouter"}
    client.post(f"{url}/droits", data=typed_first)
    page = client.get(f"{url}/droits").text
    assert page.count("Supprimer droit") == 4
    client.post(
        f"{url}/droits",
        data={"csrf_token": token, "droits[1].identifiant": "D2", "action": "supprimer-0"},
    )
    page = client.get(f"{url}/droits").text
    assert page.count("Supprimer droit") == 3
    assert 'name="droits[0].identifiant" value="D2"' in page

    answer = client.post(
        f"{url}/droits/verification",
        data={
            "csrf_token": token,
            "droits[0].identifiant": "D2",
            "droits[0].date_ouverture": "01/13/2024",
        },
    )
    assert answer.status_code == 200
    found = {(e["champ"], e["message"]) for e in answer.json["erreurs"]}
    assert (
        "champ-droits-0--date_ouverture",
        "Une date au format JJ/MM/AAAA est attendue, par exemple 14/03/1985.",
    ) in found
    assert ("champ-droits-0--type", "Ce champ est obligatoire.") in found
    # The check saved what was typed (autosave).
    assert 'value="01/13/2024"' in client.get(f"{url}/droits").text


def test_a_dossier_file_shows_its_preview_before_sending(
    caseworker: tuple[FlaskClient, str], session: Session
) -> None:
    client, token = caseworker
    data = example()
    for piece, name in zip(data["pieces"], DOCUMENTS, strict=True):
        piece["sha256"] = hashlib.sha256(DOCUMENTS[name]).hexdigest()
    form = {
        "csrf_token": token,
        "dossier": (io.BytesIO(json.dumps(data).encode()), "dossier.json"),
        "pieces": [(io.BytesIO(content), name) for name, content in DOCUMENTS.items()],
    }
    answer = client.post("/brouillons/import", data=form, content_type="multipart/form-data")
    assert answer.status_code == 303
    assert answer.location.endswith("/apercu")
    preview = client.get(answer.location)
    assert 'data-resultat="maintenu_changement_payeur"' in preview.text
    assert "Envoyer" in preview.text
    url = answer.location.rsplit("/", 1)[0]
    exported = json.loads(client.get(f"{url}/export").data)
    assert exported["beneficiaire"]["nir"] == data["beneficiaire"]["nir"]
    assert exported["evaluation_medicale"] == data["evaluation_medicale"]
    assert client.post(f"{url}/envoi", data={"csrf_token": token}).status_code == 303
    assert session.scalar(select(func.count()).select_from(Transfer)) == 1

    unreadable = {"csrf_token": token, "dossier": (io.BytesIO(b"{pas du json"), "dossier.json")}
    refused = client.post("/brouillons/import", data=unreadable, content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "n'est pas un dossier au format JSON v1 lisible" in unescape(refused.text)


def test_drafts_are_purged_after_the_retention_and_the_purge_is_audited(
    caseworker: tuple[FlaskClient, str], session: Session, web: Flask, backends: Backends
) -> None:
    client, token = caseworker
    old = new_draft(client, token)
    add_document(client, old, token)
    attach_documents(client, old, token, typed_from(example()))
    recent = new_draft(client, token)
    old_id = uuid.UUID(old.rsplit("/", 1)[1])
    session.execute(
        update(Draft).where(Draft.id == old_id).values(updated_at=utcnow() - timedelta(days=31))
    )
    session.commit()
    storage = backends.storage
    before = utcnow()
    assert purge_drafts(session, storage, timedelta(days=30), utcnow()) == [old_id]
    assert client.get(old + "/transfert").status_code == 404
    assert client.get(recent + "/transfert").status_code == 200
    assert files_under(Path(web.config["STORAGE_DIR"]) / "drafts" / str(old_id)) == []
    seal_all(session, web.config["SIGNER"])  # entries are read once the sequencer sealed them
    purged = [e for e in entries(session, since=before) if e.action == "draft.purge"]
    assert [(e.object_id, e.actor) for e in purged] == [(str(old_id), "systeme")]


def test_drafts_and_their_files_are_resealed_under_a_new_staging_key(
    caseworker: tuple[FlaskClient, str], session: Session, web: Flask, backends: Backends
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    typed = typed_from(example())
    client.post(f"{url}/personne", data=step_form(typed, "personne", token, "enregistrer"))
    attach_documents(client, url, token, typed)
    new_key = generate_staging_key("cle-2027")
    rotated = Keyring.parse(f"{new_key},{web.config['STAGING_KEYS']}")
    assert reseal_drafts(session, backends.storage, rotated) == 2  # the draft and its one file
    assert reseal_drafts(session, backends.storage, rotated) == 0
    # Once resealed, the old key can go: the new one alone opens the draft and its file.
    only_new = Keyring.parse(new_key)
    draft = session.scalars(select(Draft)).one()
    session.refresh(draft)
    assert draft.key_id == "cle-2027"
    assert read(only_new, draft).typed.entries["beneficiaire.nom_naissance"] == "Exemple"
    (blob,) = files_under(Path(web.config["STORAGE_DIR"]) / "drafts")
    with blob.open("rb") as sealed:
        assert SealReader(sealed, only_new).read() == DOCUMENTS["piece_identite.pdf"]


def test_draft_files_left_by_a_crash_are_swept_once_old_and_referenced_ones_kept(
    caseworker: tuple[FlaskClient, str], session: Session, web: Flask, backends: Backends
) -> None:
    client, token = caseworker
    storage = backends.storage
    url = new_draft(client, token)
    attach_documents(client, url, token, typed_from(example()))
    draft_id = uuid.UUID(url.rsplit("/", 1)[1])
    (kept,) = storage.list(f"drafts/{draft_id}")
    # A file moved into the draft's folder, then the web process died before saving the draft;
    # a draft deleted, then the process died before deleting its folder.
    unsaved = f"drafts/{draft_id}/{uuid.uuid4().hex}"
    deleted = f"drafts/{uuid.uuid4()}/{uuid.uuid4().hex}"
    in_flight = f"drafts/{draft_id}/{uuid.uuid4().hex}"  # being saved right now
    for key in (unsaved, deleted, in_flight):
        with storage.writer(key) as blob:
            blob.write(b"ciphertext")
    two_hours_ago = time.time() - 2 * 3600
    for key in (kept, unsaved, deleted):
        os.utime(storage.root / key, (two_hours_ago, two_hours_ago))

    keyring = web.config["KEYRING"]
    assert remove_orphans(session, storage, keyring, timedelta(hours=1)) == 2
    assert storage.list("drafts") == sorted([kept, in_flight])
    # The in-flight file is judged once it is old too; the draft's own file never is.
    assert remove_orphans(session, storage, keyring, timedelta(seconds=-1)) == 1
    assert storage.list("drafts") == [kept]
    preview = client.get(f"{url}/apercu")
    assert "piece_identite.pdf" in text_of(preview.text)


def test_place_of_life_and_one_off_payments_are_typed_exported_and_change_the_preview(
    caseworker: tuple[FlaskClient, str],
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    data = in_an_establishment(with_technical_aid_partly_paid(example()))
    fill_everything(client, token, url, data)
    droits = client.get(f"{url}/droits").text
    assert 'name="droits[4].pch.versements[1].montant" value="300,5"' in droits
    assert "Supprimer le versement 2" in droits

    exported = json.loads(client.get(f"{url}/export").data)
    assert exported["beneficiaire"]["lieu_de_vie"] == data["beneficiaire"]["lieu_de_vie"]
    assert exported["droits"][4]["pch"]["montant_attribue"] == 3000
    assert exported["droits"][4]["pch"]["versements"] == data["droits"][4]["pch"]["versements"]

    preview = client.get(f"{url}/apercu")
    page = text_of(preview.text)
    assert "problème" not in page, page[:3000]
    card = text_of(preview.text.split('id="apercu-droit-1"')[1].split('id="apercu-droit-2"')[0])
    # In an establishment no new domicile de secours: 59 keeps paying the PCH, 62 never does.
    assert "La personne vit en établissement : le domicile de secours ne change pas" in card
    assert "Pas-de-Calais" not in card
    aid = text_of(preview.text.split('id="apercu-droit-4"')[1].split("</div></div>")[0])
    assert "Déjà versé : 1 200,00 € le 15/09/2025 par le département du Nord (59)" in aid
    assert "dans la limite des 1 499,50 € restants" in aid


def test_fields_that_do_not_fit_the_right_are_left_out_and_said_so_without_javascript(
    caseworker: tuple[FlaskClient, str],
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    typed = typed_from(example())
    typed.counts["droits"] = 1  # the AAH alone
    typed.entries["droits[0].pch.montant_mensuel"] = "1471,20"
    typed.entries["droits[0].etablissement_finess"] = "620001230"
    typed.entries["droits[0].aeeh_complement"] = "2"
    response = client.post(f"{url}/droits", data=step_form(typed, "droits", token, "enregistrer"))
    assert response.status_code == 303
    page = client.get(f"{url}/droits").text
    ignored = "Ne s'applique pas au choix fait plus haut : ce champ ne sera pas envoyé."
    for field in ("pch-montant_mensuel", "etablissement_finess", "aeeh_complement"):
        assert field_messages(page, f"champ-droits-0--{field}") == ignored
    assert field_messages(page, "champ-droits-0--date_echeance") == ""
    # Every part is on the page; the script hides those that do not fit the chosen type.
    assert 'data-selon="champ-droits-0--type" data-valeurs="5.1 5.10' in page
    response = client.post(f"{url}/droits", data=step_form(typed, "droits", token))
    assert response.status_code == 303, text_of(response.text)[:2000]  # nothing refused
    right = json.loads(client.get(f"{url}/export").data)["droits"][0]
    assert (right["pch"], right["etablissement_finess"], right["aeeh_complement"]) == (
        None,
        None,
        None,
    )
    assert client.get(f"{url}/droits").text.count(ignored) == 3  # kept, should the type change


def test_an_autosave_sent_before_an_item_was_added_or_removed_changes_nothing(
    caseworker: tuple[FlaskClient, str],
) -> None:
    client, token = caseworker
    url = new_draft(client, token)
    match = re.search(r'name="disposition" value="([^"]*)"', client.get(f"{url}/droits").text)
    assert match is not None
    drawn = match.group(1)
    assert drawn == "droits=1;droits[0].pch.versements=0"
    added = {"csrf_token": token, "disposition": drawn, "action": "ajouter"}
    assert client.post(f"{url}/droits", data=added | {"droits[0].identifiant": "D1"}).status_code
    # The check of a field left just before « Ajouter un droit » arrives after it.
    late = {"csrf_token": token, "disposition": drawn, "droits[0].identifiant": "D9"}
    assert client.post(f"{url}/droits/verification", data=late).json == {
        "erreurs": [],
        "perime": True,
    }
    page = client.get(f"{url}/droits").text
    assert page.count("Supprimer droit") == 2
    assert 'value="D1"' in page
    assert "D9" not in page
    # A page from before a removal (another tab) saves nothing over the moved items.
    stale = {"csrf_token": token, "disposition": drawn, "droits[0].identifiant": "D9"}
    answer = client.post(f"{url}/droits", data=stale, follow_redirects=True)
    assert "Cette page n'était plus à jour" in unescape(answer.text)
    assert "D9" not in client.get(f"{url}/droits").text
