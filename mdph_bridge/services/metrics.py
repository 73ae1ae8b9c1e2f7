"""Delay metrics for supervisors, returned as plain dicts (API, CSV, pages).

The figures come from monthly roll-ups plus the transfers not folded yet (`services.rollups`), so a
call costs the same on a thousand or ten million transfers; `services.metrics_exact` computes them
the slow, exact way, as the reference. Every function takes the supervisor's départements and sees
the transfers whose origin or destination is one of them; none returns personal data.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, literal, or_, select
from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import (
    LEVEL_LABELS,
    SIDE_TO_ACT,
    STEP_LABELS,
    STOPPED,
    Level,
    Side,
)
from mdph_bridge.domain.delays import (
    DELAY,
    RELATIVE_ERROR,
    Distribution,
    histogram_rows,
)
from mdph_bridge.domain.harmonisation import ENDED, MAINTAINED, OUTCOMES, PAYER_SWITCH
from mdph_bridge.domain.reception import FAILURE, FAILURES
from mdph_bridge.domain.states import LABELS, OPEN, State
from mdph_bridge.models import ApiToken, Transfer, TransferEvent
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.rollups import HUB, PAST, Snapshot, by_month, by_pair, snapshot

PERCENTILES = {"mediane_jours": 0.5, "p90_jours": 0.9, "p95_jours": 0.95}
STEP_FIGURES = {"mediane_jours": 0.5, "p90_jours": 0.9}
ALERTS_SHOWN = 100  # the most overdue, on the dashboard; its CSV export lists every one
FAILURES_SHOWN = 100  # the latest reception failures, on the dashboard; its CSV lists every one
STEP_SIDES = {
    "soumis_pret": Side.HUB,
    "pret_telecharge": Side.DESTINATION,
    "telecharge_accuse": Side.DESTINATION,
    "accuse_termine": Side.DESTINATION,
    "attente_expediteur": Side.ORIGIN,
}


def round_days(value: float | None) -> float | None:
    """Days to the hundredth, as every figure shows them."""
    return None if value is None else round(float(value), 2)


def _rounded(names: dict[str, float], distribution: Distribution) -> dict[str, float | None]:
    """Named quantiles of a distribution, in days to the hundredth."""
    found = distribution.quantiles(names.values())
    return {name: round_days(value) for name, value in zip(names, found, strict=True)}


def _figures(distribution: Distribution) -> dict[str, Any]:
    """A distribution's figures: days to the hundredth, the share to the thousandth."""
    count = distribution.count
    return {
        "nombre": count,
        **_rounded(PERCENTILES, distribution),
        "max_jours": round_days(distribution.maximum),
        "moyenne_jours": round_days(distribution.mean()),
        "part_dans_les_delais": round(distribution.within / count, 3) if count else None,
    }


def delays(snap: Snapshot, source: str = HUB) -> dict[str, Any]:
    """Distribution of the delays of completed transfers, and the share within the target."""
    return _figures(snap.total(source, DELAY))


def delays_by_pair(snap: Snapshot, source: str = HUB) -> list[dict[str, Any]]:
    """The same distribution for each (origin, destination) pair."""
    groups = snap.grouped(source, DELAY, by_pair)
    return [
        {"mdph_origine": pair[0], "mdph_destination": pair[1], **_figures(groups[pair])}
        for pair in sorted(groups)
    ]


def delays_by_month(snap: Snapshot, source: str = HUB) -> list[dict[str, Any]]:
    """The same distribution for each month of completion (Paris time)."""
    groups = snap.grouped(source, DELAY, by_month)
    return [{"mois": mois, **_figures(groups[mois])} for mois in sorted(groups)]


def histogram(snap: Snapshot, source: str = HUB) -> list[dict[str, int]]:
    """Completed transfers per whole day of delay (0 = under a day), the last bar open-ended."""
    return histogram_rows(snap.total(source, DELAY).histogram)


def _step_rows(snap: Snapshot, pair: tuple[str, str] | None) -> Iterable[dict[str, Any]]:
    for name in STEP_LABELS:
        distribution = snap.total(HUB, name, pair)
        yield {
            **({"mdph_origine": pair[0], "mdph_destination": pair[1]} if pair else {}),
            "etape": name,
            "libelle": STEP_LABELS[name],
            "cote": STEP_SIDES[name].value,
            "nombre": distribution.count,
            "moyenne_jours": round_days(distribution.mean()),
            **_rounded(STEP_FIGURES, distribution),
        }


def steps(snap: Snapshot, by_pair: bool = False) -> list[dict[str, Any]]:
    """Per step (and per pair if asked): how many reached it, mean, median and p90 in days."""
    if not by_pair:
        return list(_step_rows(snap, None))
    return [row for pair in sorted(snap.pairs) for row in _step_rows(snap, pair)]


def states(snap: Snapshot) -> dict[str, Any]:
    """Transfers per state, and how many open ones are at risk or late."""
    return {
        "etats": [
            {"etat": s.value, "libelle": LABELS[s], "nombre": snap.states.get(s.value, 0)}
            for s in State
        ],
        "ouverts": {
            "total": sum(n for s, n in snap.states.items() if State(s) not in STOPPED),
            "a_risque": snap.open_levels[Level.AT_RISK],
            "en_retard": snap.open_levels[Level.LATE],
        },
    }


def alerts_total(snap: Snapshot) -> int:
    """How many open transfers are at risk or late: every row `open_alerts` can list."""
    return snap.open_levels[Level.AT_RISK] + snap.open_levels[Level.LATE]


def _precision(snap: Snapshot) -> dict[str, Any]:
    """Whether medians and percentiles are exact or read from sketches, and how close."""
    exact = snap.exact
    return {"exacts": exact, "erreur_relative_max": 0.0 if exact else RELATIVE_ERROR}


def _watched(departements: Sequence[str]) -> ColumnElement[bool]:
    return or_(Transfer.origin_code.in_(departements), Transfer.dest_code.in_(departements))


def _open() -> ColumnElement[bool]:
    return Transfer.state.in_([s.value for s in OPEN])  # few rows, found by the state index


def _side_case() -> Any:
    return case(
        *((Transfer.state == s.value, side.value) for s, side in SIDE_TO_ACT.items() if side),
        else_=literal(None),
    )


def open_alerts(
    session: Session, departements: Sequence[str], now: datetime, limit: int | None = None
) -> list[dict[str, Any]]:
    """Open transfers at risk or late at `now`, the most overdue first (no personal data).

    The `limit` first (None: every one); how many there are in all is `alerts_total`.
    """
    level = case((Transfer.due_at <= now, Level.LATE.value), else_=Level.AT_RISK.value)
    rows = (
        session.connection()
        .execute(  # Core rows: no ORM processing of a thousand rows
            select(
                Transfer.id,
                Transfer.origin_code,
                Transfer.dest_code,
                Transfer.state,
                Transfer.submitted_at,
                Transfer.due_at,
                Transfer.sender_wait_seconds,
                level.label("niveau"),
                _side_case().label("cote"),
            )
            .where(_watched(departements), Transfer.warn_at <= now, _open())
            .order_by(Transfer.due_at, Transfer.id)
            .limit(limit)
        )
        .all()
    )
    return [
        {
            "id": str(row.id),
            "mdph_origine": row.origin_code,
            "mdph_destination": row.dest_code,
            "etat": row.state,
            "etat_libelle": LABELS[State(row.state)],
            "age_jours": round_days((now - row.submitted_at).total_seconds() / 86400),
            "attente_expediteur_jours": round_days(row.sender_wait_seconds / 86400),
            "niveau": row.niveau,
            "niveau_libelle": LEVEL_LABELS[Level(row.niveau)],
            "cote_a_agir": row.cote,
            "echeance": row.due_at.isoformat(),
        }
        for row in rows
    ]


def reception_failures(session: Session, departements: Sequence[str]) -> list[dict[str, Any]]:
    """Transfers whose receiving client reported a failure and that have not moved on since.

    Latest report first, every one: the dashboard shows the first `FAILURES_SHOWN`.
    """
    waiting = (State.READY.value, State.DOWNLOADED.value)
    rows = session.execute(
        select(Transfer.id, Transfer.origin_code, Transfer.dest_code, TransferEvent)
        .join(TransferEvent, TransferEvent.transfer_id == Transfer.id)
        .where(
            _watched(departements),
            Transfer.state.in_(waiting),
            # A failure is the only event that keeps a waiting transfer in its state.
            TransferEvent.from_state == TransferEvent.to_state,
            TransferEvent.to_state == Transfer.state,
        )
        .order_by(TransferEvent.id.desc())
    )
    latest: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        code = (row.TransferEvent.detail or {}).get(FAILURE)
        if code and row.id not in latest:
            latest[row.id] = {
                "id": str(row.id),
                "mdph_origine": row.origin_code,
                "mdph_destination": row.dest_code,
                "motif": code,
                "motif_libelle": FAILURES.get(code, code),
                "signale_le": row.TransferEvent.at.isoformat(),
            }
    return list(latest.values())


def reception_clients(session: Session, departements: Sequence[str]) -> list[dict[str, Any]]:
    """Which version of the receiving client each département's active tokens last used."""
    rows = session.scalars(
        select(ApiToken)
        .where(
            ApiToken.departement_code.in_(departements),
            ApiToken.client_version.is_not(None),
            ApiToken.revoked_at.is_(None),
        )
        .order_by(ApiToken.departement_code, ApiToken.created_at)
    )
    return [
        {
            "mdph": token.departement_code,
            "role": token.role,
            "version": token.client_version,
            "dernier_usage": token.last_used_at.isoformat() if token.last_used_at else None,
        }
        for token in rows
    ]


def continuity(snap: Snapshot) -> list[dict[str, Any]]:
    """Rights by outcome per pair and month of submission, from the mapping summaries kept.

    A right is carried without a gap when it goes on as it was or with a named new payer; one
    that had ended before the move is left out of the share. Read from the roll-ups plus the
    transfers not folded yet, in the same pass as the other figures (`services.rollups`).
    """
    sums = snap.continuity
    ordered = sorted(sums, key=lambda key: (key[2], key[0], key[1]))
    return [continuity_row(key, sums[key]) for key in ordered]


def continuity_row(key: tuple[str, str, str], counts: Mapping[str, Any]) -> dict[str, Any]:
    """One pair and month of the continuity figures, with its share carried without a gap."""
    by_outcome = {outcome: int(counts[outcome]) for outcome in OUTCOMES}
    carried = by_outcome[MAINTAINED] + by_outcome[PAYER_SWITCH]
    counted = sum(by_outcome.values()) - by_outcome[ENDED]
    return {
        "mdph_origine": key[0],
        "mdph_destination": key[1],
        "mois": key[2],
        "transferts": int(counts["transferts"]),
        **by_outcome,
        "part_sans_rupture": round(carried / counted, 3) if counted else None,
    }


def dashboard(
    session: Session, departements: Sequence[str], now: datetime, target_days: int = 15
) -> dict[str, Any]:
    """Every figure of the supervisors' dashboard, for the given départements at `now`."""
    snap = snapshot(session, departements, now, target_days)
    counts = states(snap)
    overall = delays(snap)
    before = delays(snap, PAST)
    failures = reception_failures(session, departements)
    return {
        "departements": list(departements),
        "calcule_le": now.isoformat(),
        "objectif_jours": target_days,
        "quantiles": _precision(snap),
        "en_bref": {
            "part_dans_les_delais": overall["part_dans_les_delais"],
            "delai_median_jours": overall["mediane_jours"],
            **counts["ouverts"],
            "avant_la_plateforme": {
                "part_dans_les_delais": before["part_dans_les_delais"],
                "delai_median_jours": before["mediane_jours"],
            },
        },
        **counts,
        "delais": overall,
        "histogramme": histogram(snap),
        "par_paire": delays_by_pair(snap),
        "par_mois": delays_by_month(snap),
        "etapes": steps(snap),
        "etapes_par_paire": steps(snap, by_pair=True),
        "alertes": open_alerts(session, departements, now, ALERTS_SHOWN),
        "alertes_total": alerts_total(snap),
        "echecs_reception": failures[:FAILURES_SHOWN],
        "echecs_reception_total": len(failures),
        "clients_reception": reception_clients(session, departements),
        "continuite": continuity(snap),
        "historique": {
            "delais": before,
            "histogramme": histogram(snap, PAST),
            "par_paire": delays_by_pair(snap, PAST),
            "par_mois": delays_by_month(snap, PAST),
        },
    }


# CSV exports: one table per section, rows as the JSON gives them.
SECTIONS: dict[str, Callable[[Snapshot], list[dict[str, Any]]]] = {
    "etats": lambda snap: states(snap)["etats"],
    "delais": lambda snap: [delays(snap)],
    "histogramme": histogram,
    "paires": delays_by_pair,
    "mois": delays_by_month,
    "etapes": lambda snap: steps(snap) + steps(snap, by_pair=True),
    "continuite": continuity,
    "historique": lambda snap: [
        {"groupe": "ensemble", **delays(snap, PAST)},
        *({"groupe": "paire", **r} for r in delays_by_pair(snap, PAST)),
        *({"groupe": "mois", **r} for r in delays_by_month(snap, PAST)),
    ],
}

# Sections read from the transfers and tokens themselves, not from the snapshot.
READ_DIRECTLY: dict[str, Callable[[Session, Sequence[str]], list[dict[str, Any]]]] = {
    "echecs_reception": reception_failures,
    "clients_reception": reception_clients,
}


def export(
    session: Session, departements: Sequence[str], section: str, now: datetime, target_days: int
) -> str:
    """One section of the figures as CSV (API and pages); an unknown section is a 404."""
    if section == "alertes":
        return to_csv(open_alerts(session, departements, now))
    if read := READ_DIRECTLY.get(section):
        return to_csv(read(session, departements))
    produce = SECTIONS.get(section)
    if produce is None:
        raise ServiceError.one(404, "", "http.introuvable")
    return to_csv(produce(snapshot(session, departements, now, target_days)))


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """Write rows as a CSV a French spreadsheet opens as is: `;` separator, decimal comma, BOM."""
    rows = list(rows)
    header: list[str] = []
    for row in rows:
        header += [key for key in row if key not in header]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=header, delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: str(v).replace(".", ",") if isinstance(v, float) else v for k, v in row.items()}
        )
    return out.getvalue()


def supervised_transfer(
    session: Session, departements: Sequence[str], transfer_id: uuid.UUID
) -> Transfer:
    """Return a transfer whose origin or destination the supervisor watches, else 404."""
    transfer = session.scalar(
        select(Transfer).where(Transfer.id == transfer_id, _watched(departements))
    )
    if transfer is None:
        raise ServiceError.one(404, "", "transfert.introuvable")
    return transfer
