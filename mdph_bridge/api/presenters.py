"""Turn transfers into API documents (metadata only, French keys, stable state codes)."""

from __future__ import annotations

from typing import Any

from flask import url_for

from mdph_bridge.domain.clock import LEVEL_LABELS, STOPPED, Deadlines, days, level_at
from mdph_bridge.domain.reception import FAILURE
from mdph_bridge.domain.states import LABELS, State
from mdph_bridge.models import Transfer, utcnow
from mdph_bridge.services.clock import reading


def _level(transfer: Transfer) -> str:
    """Where the transfer stands against its deadlines, now or when its clock stopped."""
    end = transfer.state_changed_at if transfer.state in STOPPED else utcnow()
    return level_at(Deadlines(transfer.warn_at, transfer.due_at), end).value


def clock(transfer: Transfer) -> dict[str, Any]:
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


def summary(transfer: Transfer, link: str) -> dict[str, Any]:
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


def packages(transfer: Transfer, links: bool) -> dict[str, Any]:
    """Describe the encrypted packages; download links only for the receiving side."""
    main = medical = None
    if transfer.package_key:
        main = {
            "taille": transfer.package_size,
            "sha256": transfer.package_sha256,
            "cles": transfer.package_key_ids,
        }
        if links:
            main["lien"] = url_for("inbound.package", transfer_id=transfer.id)
    if transfer.medical_package_key:
        medical = {
            "taille": transfer.medical_package_size,
            "sha256": transfer.medical_package_sha256,
            "cles": transfer.medical_package_key_ids,
        }
        if links:
            medical["lien"] = url_for("inbound.medical_package", transfer_id=transfer.id)
    return {"paquet": main, "paquet_medical": medical}


def public_actor(actor: str) -> str:
    """Say who acted, at the level the other side may know: a département, not a token."""
    departement, _, rest = actor.partition("/")
    if rest:
        return f"MDPH {departement}"
    return {"worker": "plateforme"}.get(actor, "administrateur de la plateforme")


def outbound(transfer: Transfer) -> dict[str, Any]:
    """Describe a transfer for its sender."""
    return summary(transfer, url_for("transfers.detail", transfer_id=transfer.id))


def outbound_detail(transfer: Transfer) -> dict[str, Any]:
    """Describe a transfer for its sender, with timeline and problems to fix."""
    return {
        **outbound(transfer),
        **packages(transfer, links=False),
        "horloge": clock(transfer),
        "evenements": [
            {
                "date": event.at,
                "de": event.from_state,
                "vers": event.to_state,
                "acteur": public_actor(event.actor),
                "detail": event.detail,
            }
            for event in transfer.events
        ],
        "erreurs": transfer.problems,
    }


def inbound(transfer: Transfer, with_clock: bool = True) -> dict[str, Any]:
    """Describe a transfer for its receiver (lists leave out the clock, read from the timeline)."""
    document = {
        **summary(transfer, url_for("inbound.detail", transfer_id=transfer.id)),
        **packages(transfer, links=True),
    }
    if with_clock:
        document["horloge"] = clock(transfer)
    return document


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
        "evenements": [
            {
                "date": event.at,
                "de": event.from_state,
                "vers": event.to_state,
                "acteur": public_actor(event.actor),
                # Of the details, only a reception failure's code: the rest is the parties'.
                **_failure_only(event.detail),
            }
            for event in transfer.events
        ],
    }


def _failure_only(detail: dict[str, Any] | None) -> dict[str, Any]:
    """The reception failure code of an event's detail, as a detail of its own, if any."""
    code = (detail or {}).get(FAILURE)
    return {"detail": {FAILURE: code}} if code else {}
