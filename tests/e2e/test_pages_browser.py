"""The agents' pages in headless Chromium, against a served app and a real worker process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from browsers import BIN
from dossiers import EXAMPLE, PDF, dossier, with_technical_aid_partly_paid
from histories import add_transfer
from playwright.sync_api import Locator, Page, Route, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.domain.dossier_form import BOOLEAN, CHOICE, STEP_BY_SLUG, step_fields, typed_from
from mdph_bridge.domain.states import State
from mdph_bridge.models import Draft, utcnow

pytestmark = pytest.mark.e2e
# Records whether the progress bar was shown and how far it went (attributes it sets).
WATCH_PROGRESS = """() => {
    const box = document.querySelector("[data-progression]");
    const bar = box.querySelector("progress");
    window.progressSeen = {shown: false, max: 0};
    new MutationObserver(() => {
        if (!box.hidden) { window.progressSeen.shown = true; }
        window.progressSeen.max = Math.max(window.progressSeen.max, Number(bar.value));
    }).observe(box, {attributes: true, subtree: true});
}"""


def drop_files(page: Page, selector: str, files: dict[str, bytes], mime: str) -> None:
    """Drag and drop files onto an element, as a person would from their file manager."""
    transfer = page.evaluate_handle(
        """([files, mime]) => {
            const transfer = new DataTransfer();
            for (const [name, bytes] of files) {
                transfer.items.add(new File([new Uint8Array(bytes)], name, {type: mime}));
            }
            return transfer;
        }""",
        [[[name, list(content)] for name, content in files.items()], mime],
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def file(name: str, content: bytes, mime: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": content}


def test_59_sends_with_a_mistake_fixes_it_and_62_receives_acknowledges_completes(
    people: Any, accounts: dict[str, str], demo: dict[str, Any], tmp_path: Path
) -> None:
    justificatif = PDF + os.urandom(2 * 1024 * 1024)
    files = {"piece_identite.pdf": PDF, "justificatif_domicile.pdf": justificatif}
    data = json.dumps(dossier(files=files)).encode()

    sender = people("1-instructeur-59")
    sender.sign_in(accounts["cw59"])
    page = sender.page
    page.get_by_role("link", name="Nouveau transfert").first.click()
    expect(page.get_by_role("heading", name="Nouveau transfert")).to_be_visible()
    page.set_input_files("#dossier", file("dossier.json", data, "application/json"))
    page.set_input_files("#pieces", file("piece_identite.pdf", PDF, "application/pdf"))
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Envoyer le dossier").click()

    # Refused: the problem is shown next to the documents, in French; the files stay chosen.
    errors = page.locator("#erreurs-pieces")
    expect(errors).to_contain_text(
        "Pièce « justificatif_domicile.pdf » : Aucun fichier n'a été envoyé pour la pièce"
    )
    expect(page.locator("#resume-erreurs")).to_be_focused()
    assert page.eval_on_selector("#dossier", "input => input.files.length") == 1
    # The progress bar was shown during the upload and reached 100 %.
    assert page.evaluate("window.progressSeen") == {"shown": True, "max": 100}
    problems = sender.accessibility_problems()
    sender.shot("1-erreur")

    # Fixed by dropping the missing document: nothing chosen before has to be chosen again.
    drop_files(
        page, "#formulaire-envoi", {"justificatif_domicile.pdf": justificatif}, "application/pdf"
    )
    assert page.eval_on_selector("#pieces", "input => input.files.length") == 2
    page.get_by_role("button", name="Envoyer le dossier").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Transfert du dossier 59-2024-004217"
    )
    expect(page.get_by_role("status")).to_contain_text("Dossier envoyé")
    transfer_url = page.url
    transfer_id = uuid.UUID(transfer_url.rsplit("/", 1)[1])
    deadline = time.monotonic() + 60
    while "Prêt à être téléchargé" not in page.locator("#etat").inner_text():
        assert time.monotonic() < deadline, page.locator("#etat").inner_text()
        time.sleep(0.5)
        page.reload()
    problems += sender.accessibility_problems()
    sender.shot("2-envoye")

    receiver = people("2-accueil-62")
    receiver.sign_in(accounts["rx62"])
    page = receiver.page
    expect(page.get_by_role("heading", name="Transferts reçus")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="59-2024-004217")
    expect(row).to_contain_text("Nouveau")
    expect(row).to_contain_text("14 j")
    problems += receiver.accessibility_problems()
    receiver.shot("1-liste")
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("reçu de la MDPH 59")
    with page.expect_download() as download:
        page.get_by_role("link", name="Paquet administratif").click()
    package = tmp_path / "paquet.age"
    download.value.save_as(package)
    identity = demo["62"]["cles"]["receiver"]["identity_file"]
    subprocess.run(
        [BIN / "mdph-bridge", "client", "decrypt", "-i", identity, "-o", tmp_path / "out", package],
        check=True,
        cwd=tmp_path,
    )
    assert (
        tmp_path / "out" / "pieces" / "02-justificatif_domicile.pdf"
    ).read_bytes() == justificatif

    page.reload()
    page.get_by_role("button", name="Confirmer la réception").click()
    expect(page.get_by_role("status")).to_contain_text("Réception confirmée")
    page.get_by_label("Numéro du dossier dans votre MDPH").fill("62-2026-0001")
    page.get_by_role("button", name="Marquer comme intégré").click()
    expect(page.locator("#etat")).to_have_text("Intégré par la MDPH d'accueil")
    problems += receiver.accessibility_problems()
    receiver.shot("2-integre")

    sender.page.goto(transfer_url)
    steps = sender.page.locator(".chronologie li")
    expect(steps).to_have_count(6)
    expect(steps.last).to_contain_text("Intégré par la MDPH d'accueil")
    expect(sender.page.locator("body")).to_contain_text("62-2026-0001")
    sender.shot("3-suivi")
    sender.page.goto("/envois")
    expect(sender.page.get_by_role("row").filter(has_text="59-2024-004217")).to_contain_text(
        "Intégré"
    )
    problems += sender.accessibility_problems()
    sender.shot("4-liste")
    visitor = people("0-visiteur")
    visitor.page.goto("/connexion")
    problems += visitor.accessibility_problems()
    # No violation of the WCAG 2.1 AA rules that can be checked automatically (RGAA's base).
    assert problems == []
    # The pages ran under their Content-Security-Policy with no script error; the one error
    # logged is the refused form's 422 answer, read by the page's script.
    assert sender.console_errors == [
        "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
    ]
    assert receiver.console_errors == []
    assert str(transfer_id) in transfer_url


def test_62_agents_typing_a_59_only_address_get_nothing(
    people: Any, accounts: dict[str, str], demo: dict[str, Any], session: Session
) -> None:
    sender = people("3-instructeur-59")
    sender.sign_in(accounts["cw59"])
    page = sender.page
    page.goto("/envois/nouveau")
    data = json.dumps(dossier(files={"piece_identite.pdf": PDF})).encode()
    page.set_input_files("#dossier", file("dossier.json", data, "application/json"))
    page.set_input_files("#pieces", file("piece_identite.pdf", PDF, "application/pdf"))
    page.get_by_role("button", name="Envoyer le dossier").click()
    expect(page.get_by_role("status")).to_contain_text("Dossier envoyé")
    private_url = page.url

    other = people("4-instructeur-62")
    other.sign_in(accounts["cw62"])
    response = other.page.goto(private_url)
    assert response is not None
    assert response.status == 404
    expect(other.page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    expect(other.page.locator("main")).not_to_contain_text("59-2024-004217")
    other.shot("1-introuvable")
    other.page.goto("/envois")
    expect(other.page.locator("main")).to_contain_text("Aucun transfert")

    receiver = people("5-accueil-62")
    receiver.sign_in(accounts["rx62"])
    response = receiver.page.goto(private_url)
    assert response is not None
    assert response.status == 403
    expect(receiver.page.locator("main")).not_to_contain_text("59-2024-004217")
    receiver.shot("1-refuse")


HEADLINE = {
    "part-dans-les-delais": "part_dans_les_delais",
    "delai-median": "delai_median_jours",
    "ouverts": "total",
    "a-risque": "a_risque",
    "en-retard": "en_retard",
}


def api_figures(base: str, token: str) -> dict[str, Any]:
    """The supervisor's figures from the metrics API of the same served hub."""
    request = urllib.request.Request(  # noqa: S310 - the local test server
        f"{base}/api/v1/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)


def shown_figures(page: Page) -> dict[str, str]:
    """The headline figures of the dashboard, as the page states them for machines."""
    return {name: page.locator(f"#{name}").get_attribute("data-valeur") or "" for name in HEADLINE}


def expected_figures(figures: dict[str, Any]) -> dict[str, str]:
    return {
        name: "" if figures["en_bref"][key] is None else str(figures["en_bref"][key])
        for name, key in HEADLINE.items()
    }


def test_a_supervisor_sees_the_figures_change(
    people: Any, accounts: dict[str, str], demo: dict[str, Any], session: Session, served: str
) -> None:
    token = demo["59"]["jetons"]["supervisor"]
    # A transfer sent eleven days ago and still not downloaded: at risk.
    waiting = add_transfer(
        session,
        "59",
        "62",
        utcnow() - timedelta(days=11),
        {State.READY: utcnow() - timedelta(days=11) + timedelta(hours=1)},
    )
    session.commit()
    sender = people("7-instructeur-59")
    sender.sign_in(accounts["cw59"])
    page = sender.page
    page.goto("/envois/nouveau")
    data = json.dumps(dossier(files={"piece_identite.pdf": PDF})).encode()
    page.set_input_files("#dossier", file("dossier.json", data, "application/json"))
    page.set_input_files("#pieces", file("piece_identite.pdf", PDF, "application/pdf"))
    page.get_by_role("button", name="Envoyer le dossier").click()
    expect(page.get_by_role("status")).to_contain_text("Dossier envoyé")
    transfer_id = page.url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while "Prêt à être téléchargé" not in page.locator("#etat").inner_text():
        assert time.monotonic() < deadline, page.locator("#etat").inner_text()
        time.sleep(0.5)
        page.reload()

    supervisor = people("8-superviseur-59")
    supervisor.sign_in(accounts["sv59"])
    page = supervisor.page
    expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord — MDPH 59")
    expect(page.get_by_role("link", name="Tableau de bord", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    before = shown_figures(page)
    assert before == expected_figures(api_figures(served, token))
    assert before == {
        "part-dans-les-delais": "",
        "delai-median": "",
        "ouverts": "2",
        "a-risque": "1",
        "en-retard": "0",
    }
    expect(page.locator("#part-dans-les-delais")).to_have_text("—")
    at_risk = page.locator(f'tr[data-transfert="{waiting}"]')
    expect(at_risk).to_contain_text("59 → 62")
    expect(at_risk).to_contain_text("À risque")
    expect(at_risk).to_contain_text("MDPH d'accueil")
    expect(page.locator("#graphique-histogramme svg title").first).to_have_text(
        "Délais des transferts terminés"
    )
    problems = supervisor.accessibility_problems()
    supervisor.shot("1-tableau-de-bord")

    at_risk.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Transfert de la MDPH 59 vers la MDPH 62"
    )
    expect(page.locator("#niveau")).to_have_text("À risque")
    expect(page.locator("#cote")).to_have_text("MDPH d'accueil")
    expect(page.locator(".chronologie li")).to_have_count(2)
    expect(page.locator("main")).not_to_contain_text("59-2026-0001")  # no file number
    problems += supervisor.accessibility_problems()
    supervisor.shot("2-transfert-a-risque")

    receiver = people("9-accueil-62")
    receiver.sign_in(accounts["rx62"])
    page = receiver.page
    page.goto(f"/recus/{transfer_id}")
    with page.expect_download():
        page.get_by_role("link", name="Paquet administratif").click()
    page.reload()
    page.get_by_role("button", name="Confirmer la réception").click()
    page.get_by_label("Numéro du dossier dans votre MDPH").fill("62-2026-0002")
    page.get_by_role("button", name="Marquer comme intégré").click()
    expect(page.locator("#etat")).to_have_text("Intégré par la MDPH d'accueil")

    page = supervisor.page
    page.goto("/tableau-de-bord")
    after = shown_figures(page)
    assert after == expected_figures(api_figures(served, token))
    assert after["part-dans-les-delais"] == "1.0"
    assert after["delai-median"] != ""
    assert (after["ouverts"], after["a-risque"]) == ("1", "1")
    expect(page.locator("#part-dans-les-delais")).to_have_text("100 %")
    expect(page.locator('#table-etats tr[data-etat="completed"] td').last).to_have_text("1")
    expect(page.locator('#table-histogramme tr[data-jours="0"] td').last).to_have_text("1")
    page.get_by_text("Données du graphique : transferts terminés par jour de délai").click()
    expect(page.locator("#table-histogramme")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Transferts par état").click()
    assert download.value.suggested_filename == "mdph-bridge-etats.csv"
    problems += supervisor.accessibility_problems()
    supervisor.shot("3-chiffres-a-jour")
    assert problems == []
    # The inline SVG charts ran under the pages' Content-Security-Policy: nothing was refused.
    assert supervisor.console_errors == []


# The dossier composed on the pages (drafts): leave, resume, preview, send.
DRAFT_DOCUMENTS = {
    "piece_identite.pdf": PDF + b"identite",
    "justificatif_domicile.pdf": PDF + b"domicile",
    "notification_pch_2021.pdf": PDF + b"notification",
    "certificat_medical.pdf": PDF + b"certificat",
}


def field_id(path: str) -> str:
    return "#champ-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)


def tab_to(page: Page, target: Locator) -> None:
    """Move the focus to an element with Tab (Shift+Tab if it lies above), as with a keyboard."""
    expect(target).to_be_enabled()
    for _ in range(500):
        where = target.evaluate(
            """element => {
                const active = document.activeElement;
                if (active === element) { return 0; }
                if (!active || active === document.body) { return 1; }
                return active.compareDocumentPosition(element) & Node.DOCUMENT_POSITION_FOLLOWING
                    ? 1 : -1;
            }"""
        )
        if where == 0:
            return
        page.keyboard.press("Tab" if where > 0 else "Shift+Tab")
    raise AssertionError(f"never reached with the keyboard: {target}")


def press(page: Page, target: Locator, key: str = "Enter") -> None:
    """Reach a button or a link with Tab and press it."""
    tab_to(page, target)
    page.keyboard.press(key)


def choose(page: Page, select: Locator, value: str) -> None:
    """Pick an option of a list with the arrow keys."""
    tab_to(page, select)
    options = select.evaluate("element => Array.from(element.options).map(o => o.value)")
    moves = options.index(value) - options.index(select.input_value())
    for _ in range(abs(moves)):
        page.keyboard.press("ArrowDown" if moves > 0 else "ArrowUp")
    expect(select).to_have_value(value)


def type_in(page: Page, field: Locator, text: str) -> None:
    """Replace a field's text by typing."""
    tab_to(page, field)
    page.keyboard.press("Control+A")
    if text:
        page.keyboard.type(text)
    else:
        page.keyboard.press("Delete")
    expect(field).to_have_value(text)


def fill_step(page: Page, slug: str, entries: dict[str, str], counts: dict[str, int]) -> None:
    """Fill a step as the dossier says with the keyboard only, skipping the parts it hides."""
    for path, spec in step_fields(STEP_BY_SLUG[slug], counts):
        value = entries.get(path, "")
        field = page.locator(field_id(path))
        if not field.is_visible():
            assert value == "", f"{path} is hidden but the dossier fills it"
            continue
        if spec.kind == BOOLEAN:
            if field.is_checked() != bool(value):
                press(page, field, "Space")
            expect(field).to_be_checked(checked=bool(value))
        elif spec.kind == CHOICE:
            if field.input_value() != value:
                choose(page, field, value)
        elif field.input_value() != value:
            type_in(page, field, value)


def next_step(page: Page) -> None:
    press(page, page.locator(".fr-btns-group").get_by_role("button", name="Suivant", exact=True))


def add(page: Page, button: Locator, count: int, items: Locator) -> None:
    """Press an « Ajouter … » button until there are `count` items."""
    while items.count() < count:
        before = items.count()
        press(page, button)
        expect(items).to_have_count(before + 1)


def adding(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name)


def test_a_right_shows_only_the_fields_of_its_type_and_a_place_only_its_own(
    people: Any, accounts: dict[str, str], demo: dict[str, Any]
) -> None:
    sender = people("12-brouillon-types")
    sender.sign_in(accounts["cw59"])
    page = sender.page
    press(page, page.get_by_role("link", name="Dossiers en préparation"))
    press(page, page.get_by_role("button", name="Composer un nouveau dossier"))
    press(page, page.get_by_role("link", name="2. Personne"))
    place, finess = (
        page.locator(field_id("beneficiaire.lieu_de_vie.type")),
        page.locator(field_id("beneficiaire.lieu_de_vie.finess")),
    )
    expect(finess).to_be_visible()  # nothing chosen yet: every field is shown
    choose(page, place, "domicile")
    expect(finess).to_be_hidden()
    choose(page, place, "hopital")
    expect(finess).to_be_visible()
    problems = sender.accessibility_problems()

    press(page, page.get_by_role("link", name="4. Droits"))
    kind = page.locator(field_id("droits[0].type"))
    pch = page.locator(field_id("droits[0].pch.montant_mensuel"))
    hours = page.locator(field_id("droits[0].pch.heures_mensuelles.prestataire"))
    granted = page.locator(field_id("droits[0].pch.montant_attribue"))
    paid = page.locator('button[value="ajouter:droits[0].pch.versements"]')
    finess = page.locator(field_id("droits[0].etablissement_finess"))
    complement = page.locator(field_id("droits[0].aeeh_complement"))
    unlimited = page.locator(field_id("droits[0].sans_limitation_duree"))
    creton = page.locator(field_id("droits[0].creton"))
    choose(page, kind, "5.1")
    type_in(page, pch, "1471,20")
    for shown in (pch, hours, unlimited):
        expect(shown).to_be_visible()
    for hidden in (granted, paid, finess, complement, creton):
        expect(hidden).to_be_hidden()
        expect(hidden).to_be_disabled()  # hidden parts are not sent
    problems += sender.accessibility_problems()
    sender.shot("1-pch-aide-humaine")
    choose(page, kind, "5.2")
    for shown in (granted, paid):
        expect(shown).to_be_visible()
    expect(hours).to_be_hidden()
    expect(pch).to_be_hidden()
    choose(page, kind, "13.3")
    expect(finess).to_be_visible()
    expect(pch).to_be_hidden()
    choose(page, kind, "6.3")
    expect(complement).to_be_visible()
    choose(page, kind, "1.2")  # AAH at 50-79 %: never without a time limit
    expect(unlimited).to_be_hidden()
    for hidden in (pch, finess, complement, creton):
        expect(hidden).to_be_hidden()
    problems += sender.accessibility_problems()
    sender.shot("2-aah")
    press(page, page.get_by_role("button", name="Enregistrer le brouillon"))
    expect(page.get_by_role("status")).to_contain_text("Brouillon enregistré")
    exported = page.request.get(page.url.rsplit("/", 1)[0] + "/export").json()
    assert exported["droits"][0]["type"] == "1.2"
    assert exported["droits"][0]["pch"] is None  # hidden: left out of the dossier
    # What was typed for the PCH is kept in the draft, and comes back with the type.
    choose(page, page.locator(field_id("droits[0].type")), "5.1")
    expect(page.locator(field_id("droits[0].pch.montant_mensuel"))).to_have_value("1471,20")
    assert problems == []
    assert sender.console_errors == []


def test_a_caseworker_composes_the_adult_dossier_resumes_it_previews_and_sends_it(
    people: Any,
    accounts: dict[str, str],
    demo: dict[str, Any],
    session: Session,
    e2e_settings: dict[str, Any],
) -> None:
    """The whole journey with the keyboard only: Tab, Space, Enter, arrows and typing."""
    typed = typed_from(with_technical_aid_partly_paid(json.loads(EXAMPLE.read_text())))
    entries, counts = typed.entries, typed.counts
    sender = people("10-brouillon-59")
    sender.sign_in(accounts["cw59"])
    page = sender.page
    press(page, page.get_by_role("link", name="Dossiers en préparation"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossiers en préparation")
    problems = sender.accessibility_problems()
    sender.shot("0-brouillons")
    press(page, page.get_by_role("button", name="Composer un nouveau dossier"))

    # Step 1: Tab from field to field, Enter to go on.
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 1 sur 7")
    tab_to(page, page.locator(field_id("transfert.mdph_destination")))
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
    next_step(page)
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 3 sur 7")
    problems += sender.accessibility_problems()
    sender.shot("3-representant")

    # The caseworker leaves, then finds the draft again among the département's drafts.
    press(page, page.get_by_role("link", name="Transferts envoyés"))
    press(page, page.get_by_role("link", name="Dossiers en préparation"))
    press(page, page.get_by_role("link", name="Exemple Camille"))
    expect(page.locator(field_id("transfert.numero_dossier_origine"))).to_have_value(
        "59-2024-004217"
    )
    press(page, page.get_by_role("link", name="4. Droits"))
    items = page.locator("section.element-liste")
    add(page, adding(page, "Ajouter un droit"), counts["droits"], items)
    # The technical aid (a one-off PCH element) shows its payments once its type is chosen.
    last = f"droits[{counts['droits'] - 1}]"
    choose(page, page.locator(field_id(f"{last}.type")), entries[f"{last}.type"])
    payments = page.locator(field_id(f"{last}.pch.versements"))
    add(
        page,
        payments.get_by_role("button", name="Ajouter un versement"),
        counts[f"{last}.pch.versements"],
        payments.locator("fieldset"),
    )
    fill_step(page, "droits", entries, counts)
    problems += sender.accessibility_problems()
    sender.shot("4-droits")
    next_step(page)
    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 5 sur 7")
    add(page, adding(page, "Ajouter une demande"), counts["demandes_en_cours"], items)
    fill_step(page, "demandes", entries, counts)
    problems += sender.accessibility_problems()
    sender.shot("5-demandes")
    next_step(page)

    expect(page.locator(".fr-stepper__state")).to_have_text("Étape 6 sur 7")
    add(page, adding(page, "Ajouter une pièce"), len(DRAFT_DOCUMENTS), items)
    fill_step(page, "pieces", entries, counts)
    # Each file input is reached with Tab; the system's file chooser that Space would open is not
    # the page's (headless Chromium does not always open one), so the files are handed to it.
    for index, (name, content) in enumerate(DRAFT_DOCUMENTS.items()):
        chooser = page.locator(field_id(f"pieces[{index}].fichier"))
        tab_to(page, chooser)
        chooser.set_input_files({"name": name, "mimeType": "application/pdf", "buffer": content})
    problems += sender.accessibility_problems()
    sender.shot("6-pieces")
    # The files go with a progress bar: the request is held until the bar has been seen (held,
    # it never reaches the network, so the bar stays at its start).
    held: list[Route] = []
    page.route("**/pieces", lambda route: held.append(route))
    next_step(page)
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
    # The payments typed for the technical aid are counted: only the rest is left to pay.
    aid = page.locator("#apercu-droit-4")
    expect(aid).to_contain_text(re.compile(r"Déjà versé : 1\s200,00\s€ le 15/09/2025"))
    expect(aid).to_contain_text(re.compile(r"dans la limite des 1\s499,50\s€ restants"))
    problems += sender.accessibility_problems()
    sender.shot("7-apercu")

    # No draft sits in clear: neither what was typed, nor the documents' files.
    draft = session.scalars(select(Draft)).one()
    session.refresh(draft)
    for typed_value in ("Exemple", "Camille", "285035935012357", "Arras", "DEM-2026-10-0042"):
        assert typed_value.encode() not in draft.sealed
    blobs = [p for p in (Path(e2e_settings["STORAGE_DIR"]) / "drafts").rglob("*") if p.is_file()]
    assert len(blobs) == len(DRAFT_DOCUMENTS)
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

    press(page, page.get_by_role("button", name="Envoyer", exact=True))
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
