"""How pages show dates, delays, states and problems to agents (French, Paris time)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from flask import Flask

from mdph_bridge.domain.clock import STEP_LABELS
from mdph_bridge.domain.reception import FAILURE, FAILURES
from mdph_bridge.domain.roles import Role
from mdph_bridge.domain.states import DOWNLOADABLE, FINISHED, LABELS, State
from mdph_bridge.models import Transfer, utcnow
from mdph_bridge.web.charts import fr_number
from schemas.clock import PARIS
from schemas.dossier import DossierSchema

_MONTHS = (
    "janv.", "févr.", "mars", "avr.", "mai", "juin",
    "juil.", "août", "sept.", "oct.", "nov.", "déc.",
)  # fmt: skip

BADGES = {
    State.RECEIVED: "info",
    State.VALIDATING: "info",
    State.READY: "new",
    State.DOWNLOADED: "info",
    State.ACKNOWLEDGED: "info",
    State.COMPLETED: "success",
    State.REJECTED: "error",
    State.RETURNED: "warning",
    State.CANCELLED: "",
    State.FAILED: "error",
}
SHORT_LABELS = {
    State.RECEIVED: "Reçu",
    State.VALIDATING: "En vérification",
    State.READY: "Prêt",
    State.DOWNLOADED: "Téléchargé",
    State.ACKNOWLEDGED: "Réception confirmée",
    State.COMPLETED: "Intégré",
    State.REJECTED: "À corriger",
    State.RETURNED: "Renvoyé",
    State.CANCELLED: "Annulé",
    State.FAILED: "En échec",
}
URGENCY_LABELS = {
    "late": ("En retard", "error"),
    "at_risk": ("À risque", "warning"),
    "new": ("Nouveau", "new"),
    "in_progress": ("En cours", "info"),
    "done": ("Terminé", "success"),
}
MOTIFS = {
    "demenagement": "Déménagement",
    "domicile_secours": "Domicile de secours",
    "demande_usager": "Demande de la personne",
    "orientation_frontaliere": "Orientation de l'autre côté de la frontière, sans déménagement",
}
RETURN_REASONS = {
    "domicile_secours_non_acquis": "Domicile de secours non acquis",
    "hors_competence": "Hors de la compétence de notre MDPH",
    "dossier_incomplet": "Dossier incomplet",
    "doublon": "Doublon d'un dossier déjà reçu",
    "autre": "Autre motif (précisé en commentaire)",
}
ROLES = {
    Role.CASEWORKER: "instruction (envoi)",
    Role.RECEIVER: "accueil (réception)",
    Role.DOCTOR: "médecin (réception)",
    Role.SUPERVISOR: "supervision",
    Role.ADMIN: "administration de la plateforme",
}
SIDE_LABELS = {
    "origine": "MDPH d'origine",
    "destination": "MDPH d'accueil",
    "plateforme": "plateforme",
}
# Labels of the harmonisation summary's keys, where a plain reading of the key is not enough.
KEY_LABELS = {
    "maintenu": "Maintenus",
    "maintenu_changement_payeur": "Maintenus, avec changement de payeur",
    "a_instruire": "À instruire par la MDPH d'accueil",
    "non_transferable": "Non transférables",
    "echu": "Échus avant le déménagement",
}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T[0-9:.]+([+-]\d{2}:\d{2}|Z)?)?")


def date_fr(value: datetime | str | None, with_time: bool = True) -> str:
    """Format an instant as a French date in Paris time: « 1 déc. 2026 à 17 h 05 »."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(PARIS)
    text = f"{local.day} {_MONTHS[local.month - 1]} {local.year}"
    return f"{text} à {local:%H} h {local:%M}" if with_time else text


def label(key: str) -> str:
    """A readable French label for a summary key."""
    return KEY_LABELS.get(key) or key.replace("_", " ").capitalize()


def date_if_iso(text: str) -> str:
    """Show an ISO date (or instant) the French way; leave any other text as it is."""
    if not _ISO_DATE.fullmatch(text):
        return text
    try:
        if "T" in text:
            return date_fr(datetime.fromisoformat(text.replace("Z", "+00:00")))
        day = date.fromisoformat(text)
    except ValueError:
        return text
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def days_elapsed(transfer: Transfer) -> int:
    """Whole days since submission, up to completion (or now while it runs)."""
    end = transfer.state_changed_at if State(transfer.state) in FINISHED else utcnow()
    return max(0, (end - transfer.submitted_at).days)


def days_left(transfer: Transfer) -> int:
    """Whole days before the due date (negative once late)."""
    seconds = (transfer.due_at - utcnow()).total_seconds()
    return int(seconds // 86400)


def days_fr(value: float | None) -> str:
    """Write a number of days the French way, « 3,2 j », or « — » when there is none."""
    return "—" if value is None else f"{fr_number(value)} j"


def percent_fr(share: float | None) -> str:
    """Write a share (0 to 1) as a French percentage, « 87 % », or « — » when there is none."""
    return "—" if share is None else f"{fr_number(100 * share, 0)} %"


def event_text(event: dict[str, Any]) -> str:
    """Say in French what a timeline step was, with its detail when it helps."""
    text = LABELS[State(event["vers"])]
    detail = event.get("detail") or {}
    if detail.get("correction"):
        text = "Version corrigée envoyée : " + text[0].lower() + text[1:]
    if detail.get("accuse") == "agent":
        text += " (confirmée par un agent sur la plateforme, sans reçu signé)"
    if detail.get(FAILURE):
        reason = FAILURES.get(detail[FAILURE], detail[FAILURE])
        text = f"Échec de réception signalé par la MDPH d'accueil — motif : {reason}"
    if detail.get("motif"):
        text += f" — motif : {RETURN_REASONS.get(detail['motif'], detail['motif'])}"
    return text


_PIECE_PATH = re.compile(r"pieces\[(\d+)\]")
_SECTIONS = frozenset(DossierSchema().fields) | {"_schema"}


def _piece_names(raw_dossier: bytes | None) -> list[str]:
    try:
        pieces = json.loads(raw_dossier or b"{}").get("pieces") or []
        return [str(p.get("nom_fichier", "")) for p in pieces if isinstance(p, dict)]
    except (ValueError, AttributeError):
        return []


def place_errors(
    erreurs: list[dict[str, str]], raw_dossier: bytes | None
) -> dict[str, list[dict[str, str]]]:
    """Sort a refusal's problems by what they concern on the form: the dossier or the documents."""
    names = _piece_names(raw_dossier)
    placed: dict[str, list[dict[str, str]]] = {"dossier": [], "pieces": [], "general": []}
    for problem in erreurs:
        path = problem["chemin"]
        match = _PIECE_PATH.match(path)
        if match and int(match.group(1)) < len(names):
            placed["pieces"].append({**problem, "ou": f"Pièce « {names[int(match.group(1))]} »"})
        elif path.startswith("pieces"):
            placed["pieces"].append({**problem, "ou": path if path != "pieces" else ""})
        elif path == "Idempotency-Key" or (path == "" and problem["code"].startswith("requete.")):
            placed["general"].append({**problem, "ou": ""})
        elif path in ("", "dossier") or path.split(".")[0].split("[")[0] in _SECTIONS:
            placed["dossier"].append({**problem, "ou": path if path != "dossier" else ""})
        else:  # a part named after a file: not declared, too large, of a refused type
            placed["pieces"].append({**problem, "ou": f"Fichier « {path} »"})
    return placed


def install_filters(app: Flask) -> None:
    """Make the helpers available in templates."""
    app.jinja_env.filters.update(
        date_fr=date_fr,
        jours_ecoules=days_elapsed,
        jours_restants=days_left,
        evenement=event_text,
        libelle=label,
        date_si_iso=date_if_iso,
        jours_fr=days_fr,
        pourcent=percent_fr,
        nombre_fr=fr_number,
    )
    app.jinja_env.globals.update(
        LABELS={s.value: label for s, label in LABELS.items()},
        TERMINES=frozenset(state.value for state in FINISHED),
        TELECHARGEABLES=frozenset(state.value for state in DOWNLOADABLE),
        SHORT_LABELS={s.value: label for s, label in SHORT_LABELS.items()},
        BADGES={s.value: badge for s, badge in BADGES.items()},
        URGENCY_LABELS=URGENCY_LABELS,
        MOTIFS=MOTIFS,
        RETURN_REASONS=RETURN_REASONS,
        ROLE_LABELS=ROLES,
        Role=Role,
        SIDE_LABELS=SIDE_LABELS,
        STEP_LABELS=STEP_LABELS,
    )
