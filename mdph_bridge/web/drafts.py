"""Caseworker pages that compose a dossier step by step, preview each right's outcome, and send."""

from __future__ import annotations

import re
import uuid
from typing import Any, cast

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import NotFound

from mdph_bridge.domain.dossier_form import (
    FILE_FIELD,
    PREVIEW,
    STEP_BY_SLUG,
    STEPS,
    Step,
    add_item,
    field_of,
    ignored,
    inner_lists,
    item_prefix,
    layout,
    remove_item,
    step_fields,
    step_of,
    take_step,
)
from mdph_bridge.extensions import backends, session
from mdph_bridge.http.identity import current_principal
from mdph_bridge.http.uploads import SealedPart, new_intake, received
from mdph_bridge.models import Draft
from mdph_bridge.services import drafts
from mdph_bridge.services.drafts import DraftContent
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.harmonisation import OUTCOME_LABELS
from mdph_bridge.services.submission import StagedUpload
from mdph_bridge.web.agents import agent_page, check_csrf
from mdph_bridge.web.pages import install

bp = Blueprint("brouillons", __name__, url_prefix="/brouillons")
install(bp)
SLUGS = [step.slug for step in STEPS] + [PREVIEW]
_FILE_PART = re.compile(rf"pieces\[(\d+)\]\.{FILE_FIELD}")
_REMOVE = re.compile(r"supprimer-(\d+)")
# A list inside an item (a PCH's payments): « ajouter:droits[0].pch.versements »,
# « supprimer:droits[0].pch.versements[1] ».
_ADD_INNER = re.compile(r"ajouter:(.+)")
_REMOVE_INNER = re.compile(r"supprimer:(.+)\[(\d+)\]")


def _keyring() -> Any:
    return current_app.config["KEYRING"]


def _draft(draft_id: uuid.UUID, lock: bool = False) -> tuple[Draft, DraftContent]:
    draft = drafts.get_draft(session(), current_principal(), draft_id, lock)
    g.audit_object_id = draft.id
    return draft, drafts.read(_keyring(), draft)


def _step(slug: str) -> Step:
    if slug not in STEP_BY_SLUG:
        raise NotFound
    return STEP_BY_SLUG[slug]


def _neighbour(slug: str, offset: int) -> str:
    return SLUGS[max(0, min(len(SLUGS) - 1, SLUGS.index(slug) + offset))]


def _to_step(draft: Draft, slug: str, anchor: str | None = None) -> Any:
    return redirect(url_for("brouillons.etape", draft_id=draft.id, etape=slug, _anchor=anchor), 303)


def placed(erreurs: list[dict[str, str]], known: set[str]) -> dict[str, list[dict[str, str]]]:
    """Each problem under the field it is shown next to ("" for those of the whole step)."""
    by_field: dict[str, list[dict[str, str]]] = {}
    for problem in erreurs:
        by_field.setdefault(field_of(problem["chemin"], known), []).append(problem)
    return by_field


def _step_problems(draft: Draft, content: DraftContent, step: Step) -> list[dict[str, str]]:
    checked = drafts.check(session(), current_app.config["RULES"], current_principal(), content)
    return [e for e in checked.erreurs if step_of(e["chemin"]) == step.slug]


def _render_step(
    draft: Draft, content: DraftContent, step: Step, erreurs: list[dict[str, str]], status: int
) -> Any:
    fields = step_fields(step, content.typed.counts)
    known = {path for path, _ in fields}
    if step.section == "pieces":
        known |= {f"{item_prefix(step, i)}.{FILE_FIELD}" for i in range(_count(content, step))}
    return render_template(
        "brouillon_etape.html",
        brouillon=draft,
        etape=step,
        etapes=STEPS,
        numero=SLUGS.index(step.slug) + 1,
        total=len(SLUGS),
        saisie=content.typed.entries,
        nombre=_count(content, step),
        nombres=content.typed.counts,
        disposition=layout(step, content.typed.counts),
        ignores=ignored(step, content.typed),
        fichiers=content.files,
        erreurs=erreurs,
        par_champ=placed(erreurs, known),
    ), status


def _count(content: DraftContent, step: Step) -> int:
    return content.typed.counts.get(step.section, 0)


@bp.get("")
@agent_page("caseworker")
def index() -> Any:
    """List the département's drafts; start one, or one from a dossier file."""
    found = drafts.list_drafts(session(), current_principal())
    g.audit_object_ids = [d.id for d in found]
    rows = [(d, drafts.read(_keyring(), d).typed.entries) for d in found]
    return render_template(
        "brouillons.html", brouillons=rows, jours=current_app.config["DRAFT_RETENTION_DAYS"]
    )


@bp.post("")
@agent_page("caseworker")
def nouveau() -> Any:
    """Start an empty draft and open its first step."""
    draft = drafts.create(session(), _keyring(), current_principal())
    g.audit_object_id = draft.id
    return _to_step(draft, STEPS[0].slug)


@bp.post("/import")
@agent_page("caseworker")
def importer() -> Any:
    """Start a draft from a dossier file and its documents, and show its preview."""
    intake = new_intake()
    try:
        with received(intake, "pieces") as upload:
            check_csrf(upload.form.get("csrf_token", ""))
            submission = upload.submission(None)
            draft = drafts.import_dossier(
                session(),
                intake.storage,
                intake.keyring,
                current_principal(),
                submission.dossier,
                dict(submission.uploads),
            )
    except ServiceError as exc:
        found = drafts.list_drafts(session(), current_principal())
        rows = [(d, drafts.read(_keyring(), d).typed.entries) for d in found]
        return render_template(
            "brouillons.html",
            brouillons=rows,
            jours=current_app.config["DRAFT_RETENTION_DAYS"],
            erreurs_import=exc.erreurs,
        ), exc.status
    g.audit_object_id = draft.id
    flash("Dossier repris dans un brouillon : vérifiez l'aperçu, complétez si besoin, envoyez.")
    return _to_step(draft, PREVIEW)


@bp.get("/<uuid:draft_id>")
@agent_page("caseworker")
def brouillon(draft_id: uuid.UUID) -> Any:
    """Open a draft at its first step."""
    draft, _ = _draft(draft_id)
    return _to_step(draft, STEPS[0].slug)


@bp.get("/<uuid:draft_id>/<etape>")
@agent_page("caseworker")
def etape(draft_id: uuid.UUID, etape: str) -> Any:
    """Show one step of the form with what was typed, or the preview before sending."""
    draft, content = _draft(draft_id)
    if etape == PREVIEW:
        return _preview(draft, content, 200)
    return _render_step(draft, content, _step(etape), [], 200)


def _preview(draft: Draft, content: DraftContent, status: int) -> Any:
    checked = drafts.check(session(), current_app.config["RULES"], current_principal(), content)
    by_step: dict[str, list[dict[str, str]]] = {}
    for problem in checked.erreurs:
        by_step.setdefault(step_of(problem["chemin"]), []).append(problem)
    return render_template(
        "brouillon_apercu.html",
        brouillon=draft,
        etapes=STEPS,
        numero=len(SLUGS),
        total=len(SLUGS),
        erreurs=checked.erreurs,
        par_etape=by_step,
        rapport=checked.report,
        dossier=checked.dossier,
        fichiers=content.files,
        RESULTATS=OUTCOME_LABELS,
    ), status


def _outdated(step: Step, content: DraftContent, form: dict[str, str]) -> bool:
    """Tell whether the page was drawn before an item was added or removed (its indexes moved)."""
    sent = form.get("disposition")
    return sent is not None and sent != layout(step, content.typed.counts)


def _apply(draft: Draft, content: DraftContent, step: Step, form: dict[str, str]) -> Any:
    """Keep the step's typed values, then do what the pressed button asks."""
    if _outdated(step, content, form):
        session().rollback()
        flash(
            "Cette page n'était plus à jour (le brouillon a changé entre-temps) : rien n'a été "
            "enregistré. Vérifiez les champs, puis recommencez."
        )
        return _to_step(draft, step.slug)
    take_step(content.typed, step, form)
    action = form.get("action", "suivant")
    storage = backends().storage
    if action == "ajouter":
        index = add_item(content.typed, step.section)
        drafts.save(session(), _keyring(), draft, content)
        return _to_step(draft, step.slug, _field_id(item_prefix(step, index)))
    if match := _REMOVE.fullmatch(action):
        if step.section == "pieces":
            drafts.remove_document(
                session(), storage, _keyring(), draft, content, int(match.group(1))
            )
        else:
            remove_item(content.typed, step.section, int(match.group(1)))
            drafts.save(session(), _keyring(), draft, content)
        return _to_step(draft, step.slug)
    inner = inner_lists(step, content.typed.counts)
    if (match := _ADD_INNER.fullmatch(action)) and match.group(1) in inner:
        index = add_item(content.typed, match.group(1))
        drafts.save(session(), _keyring(), draft, content)
        return _to_step(draft, step.slug, _field_id(f"{match.group(1)}[{index}]"))
    if (match := _REMOVE_INNER.fullmatch(action)) and match.group(1) in inner:
        remove_item(content.typed, match.group(1), int(match.group(2)))
        drafts.save(session(), _keyring(), draft, content)
        return _to_step(draft, step.slug, _field_id(match.group(1)))
    drafts.save(session(), _keyring(), draft, content)
    if action == "precedent":
        return _to_step(draft, _neighbour(step.slug, -1))
    if action == "enregistrer":
        flash("Brouillon enregistré.")
        return _to_step(draft, step.slug)
    problems = _step_problems(draft, content, step)
    if problems:
        return _render_step(draft, content, step, problems, 422)
    return _to_step(draft, _neighbour(step.slug, 1))


@bp.post("/<uuid:draft_id>/<etape>")
@agent_page("caseworker")
def enregistrer(draft_id: uuid.UUID, etape: str) -> Any:
    """Save a step (always), then go on, back, add or remove an item, or show its problems."""
    step = _step(etape)
    if step.section == "pieces":
        raise NotFound  # documents come with their files: see `pieces`
    draft, content = _draft(draft_id, lock=True)
    return _apply(draft, content, step, request.form.to_dict())


@bp.post("/<uuid:draft_id>/pieces")
@agent_page("caseworker")
def pieces(draft_id: uuid.UUID) -> Any:
    """Save the documents step with the files chosen for each document, sealed as they arrive."""
    drafts.ensure_draft(session(), current_principal(), draft_id)  # 404 before any upload
    intake = new_intake()
    with received(intake, "pieces") as upload:
        check_csrf(upload.form.get("csrf_token", ""))
        draft, content = _draft(draft_id, lock=True)
        step = STEP_BY_SLUG["pieces"]
        found: dict[int, tuple[str, StagedUpload]] = {}
        for name, part in upload.files.items(multi=True):
            match = _FILE_PART.fullmatch(name)
            if match and part.filename and int(match.group(1)) < _count(content, step):
                found[int(match.group(1))] = (part.filename, cast(SealedPart, part.stream).finish())
        form = upload.form.to_dict()
        if found and not _outdated(step, content, form):  # else dropped with the request
            drafts.attach(session(), intake.storage, intake.keyring, draft, content, found)
        answer = _apply(draft, content, step, form)
    if request.headers.get("X-Televersement") and isinstance(answer, Response):
        return "", 201, {"Location": answer.location}  # the page's script navigates itself
    return answer


@bp.post("/<uuid:draft_id>/<etape>/verification")
@agent_page("caseworker")
def verification(draft_id: uuid.UUID, etape: str) -> Any:
    """Save a step as it is typed and list its problems by field, for the page's script."""
    step = _step(etape)
    draft, content = _draft(draft_id, lock=True)
    if _outdated(step, content, request.form.to_dict()):
        session().rollback()
        return {"erreurs": [], "perime": True}  # nothing saved: the page is being replaced
    take_step(content.typed, step, request.form.to_dict())
    drafts.save(session(), _keyring(), draft, content)
    known = {path for path, _ in step_fields(step, content.typed.counts)}
    problems = _step_problems(draft, content, step)
    return {
        "erreurs": [
            {"champ": _field_id(path), "message": e["message"]}
            for path, items in placed(problems, known).items()
            for e in items
        ],
        "enregistre_a": draft.updated_at.isoformat(),
    }


def _field_id(path: str) -> str:
    """The HTML id of a field, from its path in the dossier."""
    return "champ-" + re.sub(r"[^A-Za-z0-9_-]", "-", path) if path else "resume-erreurs"


@bp.get("/<uuid:draft_id>/export")
@agent_page("caseworker")
def exporter(draft_id: uuid.UUID) -> Any:
    """Download the draft as a JSON v1 file, as far as it is filled in."""
    _, content = _draft(draft_id)
    return (
        drafts.export(content, current_principal()),
        200,
        {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Disposition": 'attachment; filename="dossier.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/<uuid:draft_id>/envoi")
@agent_page("caseworker")
def envoyer(draft_id: uuid.UUID) -> Any:
    """Send a complete draft as a transfer, through the same service as the API."""
    draft, content = _draft(draft_id)
    try:
        transfer = drafts.send(session(), new_intake(), current_principal(), draft)
    except ServiceError as exc:
        if exc.status != 422:
            raise
        session().rollback()
        draft, content = _draft(draft_id)
        return _preview(draft, content, 422)
    g.audit_object_id = transfer.id  # the submission service woke a worker once it committed
    flash("Dossier envoyé : la plateforme le vérifie, puis le chiffre pour la MDPH d'accueil.")
    return redirect(url_for("envois.transfert", transfer_id=transfer.id), 303)


@bp.post("/<uuid:draft_id>/suppression")
@agent_page("caseworker")
def supprimer(draft_id: uuid.UUID) -> Any:
    """Delete a draft and its documents."""
    draft, _ = _draft(draft_id)
    drafts.delete(session(), backends().storage, draft)
    flash("Brouillon supprimé.")
    return redirect(url_for("brouillons.index"), 303)
