"""Run the rights mapping for a transfer: check aid codes, build the report and its HTML version."""

from __future__ import annotations

from datetime import date
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from mdph_bridge.domain.harmonisation import OUTCOMES, PAYMENT_LABELS, fr, harmonise, summary
from mdph_bridge.domain.payers import MODE_NAMES
from mdph_bridge.domain.rulesets import RuleBook
from mdph_bridge.services.packaging import Entry, json_entry, text_entry
from schemas.errors import error

REPORT_JSON = "rapport_harmonisation.json"
REPORT_HTML = "rapport_harmonisation.html"
OUTCOME_LABELS = {
    "maintenu": "Maintenu",
    "maintenu_changement_payeur": "Maintenu, changement de payeur",
    "a_instruire": "À instruire par la MDPH d'accueil",
    "non_transferable": "Non transférable",
    "echu": "Échu avant le déménagement",
}


def _fr_iso(value: str | None) -> str:
    return fr(date.fromisoformat(value) if value else None)


# Read once per process (no reload check per page). The template reads the report's keys as
# `report["key"]`, not `report.key`, which Jinja tries as an attribute first, at the cost of an
# exception per lookup; dates go through the `fr` filter, which Jinja calls directly.
_templates = Environment(
    loader=PackageLoader("mdph_bridge.services", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
_templates.filters["fr"] = _fr_iso
_REPORT_PAGE = _templates.get_template(REPORT_HTML)


def aid_problems(rules: RuleBook, dossier: dict[str, Any]) -> list[dict[str, str]]:
    """Refuse extra-legal aid codes that the origin département's rule set does not define."""
    origin = dossier["transfert"]["mdph_origine"]
    moved_on = dossier["transfert"]["date_demenagement"]
    own = rules.departement_at(origin, moved_on)
    codes = [aid.code for aid in own.aids] if own else []
    return [
        error(
            f"aides_extra_legales[{index}].code",
            "aide.inconnue",
            aide=aid["code"],
            departement=origin,
            codes=", ".join(codes) or "aucune",
        )
        for index, aid in enumerate(dossier["aides_extra_legales"])
        if aid["code"] not in codes
    ]


def mapping(rules: RuleBook, dossier: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The full report (travels encrypted) and its summary without personal data (on the hub)."""
    report = harmonise(dossier, rules)
    return report, summary(report)


def report_entries(report: dict[str, Any]) -> list[Entry]:
    """The report as package files: JSON for information systems, HTML for agents."""
    return [json_entry(REPORT_JSON, report), text_entry(REPORT_HTML, report_html(report))]


def report_html(report: dict[str, Any]) -> str:
    """A readable French page of the report, self-contained (no script, no external resource)."""
    return _REPORT_PAGE.render(
        report=report,
        outcomes=OUTCOMES,
        outcome_labels=OUTCOME_LABELS,
        mode_labels=MODE_NAMES,
        payment_labels=PAYMENT_LABELS,
    )
