"""A caseworker with only a browser composes a dossier, leaves, resumes, previews and sends it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from dossiers import EXAMPLE, PDF
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_pages_browser import accounts, browser, people, served

from mdph_bridge.domain.dossier_form import BOOLEAN, CHOICE, STEP_BY_SLUG, step_fields, typed_from
from mdph_bridge.models import Draft

pytestmark = pytest.mark.e2e
# The browser, the served hub and the agents of the other page tests, as fixtures here too.
SHARED_FIXTURES = (accounts, browser, people, served)
DOCUMENTS = {
    "piece_identite.pdf": PDF + b"identite",
    "justificatif_domicile.pdf": PDF + b"domicile",
    "notification_pch_2021.pdf": PDF + b"notification",
    "certificat_medical.pdf": PDF + b"certificat",
}


def field_id(path: str) -> str:
    return "#champ-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)


def fill_step(page: Page, slug: str, entries: dict[str, str], counts: dict[str, int]) -> None:
    """Fill every field of a step as the example dossier says."""
    for path, spec in step_fields(STEP_BY_SLUG[slug], counts):
        value = entries.get(path, "")
        if spec.kind == BOOLEAN:
            box = page.locator(field_id(path))
            if box.is_checked() != bool(value):
                box.focus()
                page.keyboard.press("Space")
            expect(box).to_be_checked(checked=bool(value))
        elif spec.kind == CHOICE:
            page.locator(field_id(path)).select_option(value)
        else:
            page.locator(field_id(path)).fill(value)


def test_a_caseworker_composes_the_adult_dossier_resumes_it_previews_and_sends_it(
    people: Any,
    accounts: dict[str, str],
    demo: dict[str, Any],
    session: Session,
    e2e_settings: dict[str, Any],
) -> None:
    typed = typed_from(json.loads(EXAMPLE.read_text()))
    entries, counts = typed.entries, typed.counts
    sender = people("10-brouillon-59")
    sender.sign_in(accounts["cw59"])
    page = sender.page
    page.get_by_role("link", name="Dossiers en préparation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossiers en préparation")
    problems = sender.accessibility_problems()
    sender.shot("0-brouillons")
    page.get_by_role("button", name="Composer un nouveau dossier").click()

    # Step 1 with the keyboard only: Tab from field to field, Enter to go on.
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 1 sur 7")
    page.focus(field_id("transfert.mdph_destination"))
    page.keyboard.type("62")
    page.keyboard.press("Tab")
    page.keyboard.type("59-2024-004217")
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # « Déménagement »
    page.keyboard.press("Tab")
    page.keyboard.type("31/02/2026")  # no such day: said as the field is left
    page.keyboard.press("Tab")
    date_messages = page.locator(field_id("transfert.date_demenagement") + "-messages")
    expect(date_messages).to_have_text(
        "Une date au format JJ/MM/AAAA est attendue, par exemple 14/03/1985."
    )
    expect(page.locator("#etat-enregistrement")).to_contain_text("Brouillon enregistré à")
    problems += sender.accessibility_problems()
    sender.shot("1-transfert-erreur")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type(entries["transfert.date_demenagement"])
    page.keyboard.press("Tab")
    expect(date_messages).to_have_text("")
    page.keyboard.type(entries["transfert.consentement.date"])
    page.keyboard.press("Tab")
    page.keyboard.type(entries["transfert.consentement.reference"])
    assert page.evaluate("document.activeElement.id") == "champ-transfert-consentement-reference"
    page.keyboard.press("Enter")
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 2 sur 7")

    fill_step(page, "personne", entries, counts)
    problems += sender.accessibility_problems()
    sender.shot("2-personne")
    page.get_by_role("button", name="Suivant", exact=True).click()
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 3 sur 7")
    problems += sender.accessibility_problems()
    sender.shot("3-representant")

    # The caseworker leaves, then finds the draft again among the département's drafts.
    page.get_by_role("link", name="Transferts envoyés").click()
    page.get_by_role("link", name="Dossiers en préparation").click()
    page.get_by_role("link", name="Exemple Camille").click()
    expect(page.locator(field_id("transfert.numero_dossier_origine"))).to_have_value(
        "59-2024-004217"
    )
    page.get_by_role("link", name="4. Droits").click()
    for _ in range(counts["droits"] - 1):
        page.get_by_role("button", name="Ajouter un droit").click()
    fill_step(page, "droits", entries, counts)
    problems += sender.accessibility_problems()
    sender.shot("4-droits")
    page.get_by_role("button", name="Suivant", exact=True).click()
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 5 sur 7")
    page.get_by_role("button", name="Ajouter une demande").click()
    fill_step(page, "demandes", entries, counts)
    problems += sender.accessibility_problems()
    sender.shot("5-demandes")
    page.get_by_role("button", name="Suivant", exact=True).click()

    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 6 sur 7")
    for count in range(2, len(DOCUMENTS) + 1):
        page.get_by_role("button", name="Ajouter une pièce").click()
        expect(page.locator("section.element-liste")).to_have_count(count)
    fill_step(page, "pieces", entries, counts)
    for index, (name, content) in enumerate(DOCUMENTS.items()):
        page.set_input_files(
            field_id(f"pieces[{index}].fichier"),
            {"name": name, "mimeType": "application/pdf", "buffer": content},
        )
    problems += sender.accessibility_problems()
    sender.shot("6-pieces")
    # The files go with a progress bar: the request is held until the bar has been seen (held,
    # it never reaches the network, so the bar stays at its start).
    held: list[Route] = []
    page.route("**/pieces", lambda route: held.append(route))
    page.get_by_role("button", name="Suivant", exact=True).click(no_wait_after=True)
    expect(page.locator("[data-progression]")).to_be_visible()
    expect(page.locator("[data-progression-texte]")).to_have_text("Envoi en cours…")
    sender.shot("6-pieces-envoi")
    held[0].continue_()
    page.unroute("**/pieces")

    # The preview: what 62 will do with each right, computed like the worker's report.
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 7 sur 7")
    pch = page.locator("#apercu-droit-1")
    expect(pch).to_have_attribute("data-resultat", "maintenu_changement_payeur")
    expect(pch).to_contain_text("Maintenu, changement de payeur")
    expect(pch).to_contain_text("le département du Pas-de-Calais (62)")
    expect(page.locator("#alertes-apercu")).to_contain_text("devient payeur le 02/02/2027")
    problems += sender.accessibility_problems()
    sender.shot("7-apercu")

    # No draft sits in clear: neither what was typed, nor the documents' files.
    draft = session.scalars(select(Draft)).one()
    session.refresh(draft)
    for typed_value in ("Exemple", "Camille", "285035935012357", "Arras", "DEM-2026-10-0042"):
        assert typed_value.encode() not in draft.sealed
    blobs = [p for p in (Path(e2e_settings["STORAGE_DIR"]) / "drafts").rglob("*") if p.is_file()]
    assert len(blobs) == len(DOCUMENTS)
    for blob in blobs:
        assert blob.read_bytes().startswith(b"MDPHSEAL1\n")
        assert b"%PDF" not in blob.read_bytes()

    # Another département's caseworker gets nothing at the draft's addresses.
    other = people("11-brouillon-62")
    other.sign_in(accounts["cw62"])
    for address in ("", "/transfert", "/apercu", "/export"):
        response = other.page.goto(f"/brouillons/{draft.id}{address}")
        assert response is not None
        assert response.status == 404
        expect(other.page.locator("main")).not_to_contain_text("Exemple")
    other.shot("1-introuvable")

    page.get_by_role("button", name="Envoyer", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Dossier envoyé")
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Transfert du dossier 59-2024-004217"
    )
    deadline = time.monotonic() + 60
    while "Prêt à être téléchargé" not in page.locator("#etat").inner_text():
        assert time.monotonic() < deadline, page.locator("#etat").inner_text()
        time.sleep(0.5)
        page.reload()
    problems += sender.accessibility_problems()
    sender.shot("8-envoye")
    assert session.scalars(select(Draft)).all() == []
    assert problems == []
    assert sender.console_errors == []
