"""Turn transfers into documents for the API and the pages (metadata only, French keys)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from flask import current_app, request, url_for
from sqlalchemy import Row

from mdph_bridge.domain.clock import (
    LEVEL_LABELS,
    STOPPED,
    Deadlines,
    Level,
    days,
    level_at,
    level_between,
)
from mdph_bridge.domain.reception import FAILURE
from mdph_bridge.domain.states import LABELS, State
from mdph_bridge.models import Transfer, utcnow
from mdph_bridge.services.clock import reading
from mdph_bridge.services.submission import Created

# A transfer as the ORM loads it, or as its submission just wrote it (`Created`).
Shown = Transfer | Created
# One of those, or a row of its listed columns (a list reads no object).
Listed = Shown | Row[Any]
# The link of an endpoint for a transfer: `url_for`, or the page's templates (`page_links`).
Linker = Callable[[str, uuid.UUID | str], str]
_SLOT = uuid.UUID(int=0)


def transfer_link(endpoint: str, transfer_id: uuid.UUID | str) -> str:
    """The path of a transfer's endpoint, as `url_for` builds it."""
    return url_for(endpoint, transfer_id=transfer_id)


def page_links() -> Linker:
    """Links for a page of transfers: `url_for` once per endpoint, then a template filled in."""
    templates: dict[str, tuple[str, str]] = {}

    def link(endpoint: str, transfer_id: uuid.UUID | str) -> str:
        if endpoint not in templates:
            head, _, tail = transfer_link(endpoint, _SLOT).partition(str(_SLOT))
            templates[endpoint] = head, tail
        head, tail = templates[endpoint]
        return f"{head}{transfer_id}{tail}"

    return link


_KEPT_LINKS = "mdph_bridge.kept_links"


def kept_link(endpoint: str, transfer_id: uuid.UUID | str) -> str:
    """A transfer's link from the app's templates (`page_links`) for the prefix it is served
    under: `url_for` once per endpoint and prefix, not per answer (~0.03 ms of CPU each)."""
    prefix, link = current_app.extensions.get(_KEPT_LINKS, (None, None))
    if link is None or prefix != request.script_root:
        link = page_links()
        current_app.extensions[_KEPT_LINKS] = (request.script_root, link)
    return link(endpoint, transfer_id)


def _level(transfer: Listed) -> str:
    """Where the transfer stands against its deadlines, now or when its clock stopped."""
    end = transfer.state_changed_at if transfer.state in STOPPED else utcnow()
    return level_at(Deadlines(transfer.warn_at, transfer.due_at), end).value


def clock(transfer: Shown) -> dict[str, Any]:
    """Describe a transfer's clock from its timeline; pauses are figures of their own."""
    current = reading(transfer, utcnow())
    return {
        "niveau": current.level.value,
        "niveau_libelle": LEVEL_LABELS[current.level],
        "age_jours": days(current.elapsed),
        "attente_expediteur_jours": days(current.waiting_for_sender),
        "renvoye_jours": days(current.returned),
        "cote_a_agir": current.side,
        "arrete_le": current.stopped_at,
        "etapes": {k: None if v is None else days(v) for k, v in current.steps.items()},
    }


def summary(transfer: Listed, link: str) -> dict[str, Any]:
    """Describe a transfer in a list."""
    return {
        "id": transfer.id,
        "etat": transfer.state,
        "etat_libelle": LABELS[State(transfer.state)],
        "mdph_origine": transfer.origin_code,
        "mdph_destination": transfer.dest_code,
        "numero_dossier_origine": transfer.numero_dossier_origine,
        "motif": transfer.motif,
        "soumis_le": transfer.submitted_at,
        "echeance": transfer.due_at,
        "a_risque_le": transfer.warn_at,
        "niveau": _level(transfer),
        "pret_le": transfer.ready_at,
        "numero_dossier_destination": transfer.numero_dossier_destination,
        "motif_retour": transfer.return_reason,
        "avertissements": transfer.warnings,
        "harmonisation": transfer.harmonisation,
        "lien": link,
    }


def packages(transfer: Listed, links: bool, link: Linker = transfer_link) -> dict[str, Any]:
    """Describe the encrypted packages; download links only for the receiving side."""
    main = medical = None
    if transfer.package_key:
        main = {
            "taille": transfer.package_size,
            "sha256": transfer.package_sha256,
            "cles": transfer.package_key_ids,
        }
        if links:
            main["lien"] = link("inbound.package", transfer.id)
    if transfer.medical_package_key:
        medical = {
            "taille": transfer.medical_package_size,
            "sha256": transfer.medical_package_sha256,
            "cles": transfer.medical_package_key_ids,
        }
        if links:
            medical["lien"] = link("inbound.medical_package", transfer.id)
    return {"paquet": main, "paquet_medical": medical}


def public_actor(actor: str) -> str:
    """Say who acted, at the level the other side may know: a département, not a token."""
    departement, _, rest = actor.partition("/")
    if rest:
        return f"MDPH {departement}"
    return {"worker": "plateforme"}.get(actor, "administrateur de la plateforme")


def timeline(transfer: Shown, with_detail: bool = True) -> list[dict[str, Any]]:
    """The transfer's steps, each with who acted as the other side may know it."""
    events = []
    for event in transfer.events:
        step: dict[str, Any] = {
            "date": event.at,
            "de": event.from_state,
            "vers": event.to_state,
            "acteur": public_actor(event.actor),
        }
        # Without the details (the parties' own), only a reception failure's code is shown.
        step.update({"detail": event.detail} if with_detail else _failure_only(event.detail))
        events.append(step)
    return events


def outbound(transfer: Shown) -> dict[str, Any]:
    """Describe a transfer for its sender."""
    return summary(transfer, kept_link("transfers.detail", transfer.id))


def outbound_detail(transfer: Shown) -> dict[str, Any]:
    """Describe a transfer for its sender, with timeline and problems to fix."""
    return {
        **outbound(transfer),
        **packages(transfer, links=False),
        "horloge": clock(transfer),
        "evenements": timeline(transfer),
        "erreurs": transfer.problems,
    }


def inbound(transfer: Transfer) -> dict[str, Any]:
    """Describe a transfer for its receiver, with its clock (read from the timeline)."""
    return {**listed_inbound(transfer), "horloge": clock(transfer)}


def listed_inbound(transfer: Listed, link: Linker = transfer_link) -> dict[str, Any]:
    """Describe a transfer for its receiver in a list: metadata and packages, no clock."""
    return {
        **summary(transfer, link("inbound.detail", transfer.id)),
        **packages(transfer, links=True, link=link),
    }


# What `receiving.WRITTEN` binds its links with: each endpoint's path around a transfer's id,
# JSON-escaped, by name.
_WRITTEN_ENDPOINTS = {
    "detail": "inbound.detail",
    "package": "inbound.package",
    "medical": "inbound.medical_package",
}


_MADE_LINKS = "mdph_bridge.written_links"


def written_links() -> dict[str, str]:
    """The link templates of a page `receiving.WRITTEN` writes: `url_for` once per endpoint.

    Kept by the app for the last prefix it was served under (the same paths for the same one).
    """
    prefix, kept = current_app.extensions.get(_MADE_LINKS, (None, {}))
    if prefix == request.script_root:
        return kept
    templates = {}
    for name, endpoint in _WRITTEN_ENDPOINTS.items():
        head, _, tail = transfer_link(endpoint, _SLOT).partition(str(_SLOT))
        templates[f"{name}_head"] = orjson.dumps(head)[1:-1].decode()
        templates[f"{name}_tail"] = orjson.dumps(tail)[1:-1].decode()
    current_app.extensions[_MADE_LINKS] = (request.script_root, templates)
    return templates


# The constant keys between a page's values, written with them: the state's two and the next
# key's name after the due date, the level's after the return reason. As UTF-8 bytes, as the
# page is joined: the states' labels are not ASCII, and encoding a page of text that holds one
# costs ~0.18 ms (82 KB, char by char) where the bytes of its ASCII pieces are copied.
_STATES_TEXT = {
    state.value: b',"etat":%b,"etat_libelle":%b,"harmonisation":'
    % (orjson.dumps(state.value), orjson.dumps(label))
    for state, label in LABELS.items()
}
_LEVELS_TEXT = {level: b',"niveau":' + orjson.dumps(level.value) for level in Level}
Dumper = Callable[[str], bytes]


def written_inbound(
    rows: Sequence[Row[Any]], warnings: Dumper, harmonisation: Dumper, reason: Dumper
) -> list[bytes]:
    """The JSON of the listed transfers `receiving.WRITTEN` wrote, the rules' values added.

    The stored lists, given as stored text when not empty, are written by the caller's dumpers.
    """
    now = utcnow()
    parts: list[bytes] = []
    for row in rows:
        _, _, state, changed, warn_at, due_at, stored, harmonised, returned = row[:9]
        first, second, third, fourth = row[9:]
        level = level_between(warn_at, due_at, changed if state in STOPPED else now)
        parts += (
            first.encode(),
            b"[]" if stored is None else warnings(stored),
            second.encode(),
            _STATES_TEXT[state],
            b"null" if harmonised is None else harmonisation(harmonised),
            third.encode(),
            b"null" if returned is None else reason(returned),
            _LEVELS_TEXT[level],
            fourth.encode(),
            b",",
        )
    return parts[:-1]


def supervised(transfer: Transfer) -> dict[str, Any]:
    """Describe a transfer for a supervisor: codes, dates, clock and timeline, no file number."""
    return {
        "id": transfer.id,
        "mdph_origine": transfer.origin_code,
        "mdph_destination": transfer.dest_code,
        "etat": transfer.state,
        "etat_libelle": LABELS[State(transfer.state)],
        "soumis_le": transfer.submitted_at,
        "a_risque_le": transfer.warn_at,
        "echeance": transfer.due_at,
        "horloge": clock(transfer),
        "evenements": timeline(transfer, with_detail=False),
    }


def _failure_only(detail: dict[str, Any] | None) -> dict[str, Any]:
    """The reception failure code of an event's detail, as a detail of its own, if any."""
    code = (detail or {}).get(FAILURE)
    return {"detail": {FAILURE: code}} if code else {}
