"""Delay metrics for supervisors: aggregated in SQL, returned as plain dicts (API, CSV, pages).

Every function takes the supervisor's départements and sees the transfers whose origin or
destination is one of them; none returns personal data (ids, codes, states, dates, figures).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, func, literal, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from mdph_bridge.domain.clock import (
    LEVEL_LABELS,
    OPEN,
    SIDE_TO_ACT,
    STEP_LABELS,
    STOPPED,
    Level,
    Side,
)
from mdph_bridge.domain.harmonisation import ENDED, MAINTAINED, OUTCOMES, PAYER_SWITCH
from mdph_bridge.domain.states import LABELS, State
from mdph_bridge.models import HistoricalTransfer, Transfer
from mdph_bridge.services.errors import ServiceError
from mdph_bridge.services.sqlstats import days_between, month_of, percentile, whole_days

PERCENTILES = {"mediane_jours": 0.5, "p90_jours": 0.9, "p95_jours": 0.95}
# Percentiles sort every delay in scope: on PostgreSQL give this transaction's sorts room enough to
# stay in memory (a million transfers: 3x faster than the default 4 MB, which spills to disk).
SORT_MEMORY = "64MB"
OPEN_LIST_LIMIT = 1000
HISTOGRAM_CAP_DAYS = 60  # longer delays fall in the last bar


@dataclass(frozen=True)
class _Source:
    """The columns the figures read, from the hub's transfers or from imported past ones."""

    model: Any
    target_days: int

    def column(self, name: str) -> InstrumentedAttribute[Any]:
        return getattr(self.model, name)

    @property
    def delay(self) -> ColumnElement[float]:
        return days_between(self.column("completed_at"), self.column("submitted_at"))

    @property
    def within(self) -> ColumnElement[bool]:
        if self.model is Transfer:
            return Transfer.completed_at <= Transfer.due_at  # the deadline of its own pair policy
        return self.delay <= self.target_days

    def scope(self, departements: Sequence[str]) -> ColumnElement[bool]:
        return or_(
            self.column("origin_code").in_(departements),
            self.column("dest_code").in_(departements),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _distribution_columns(source: _Source) -> list[Any]:
    delay = source.delay
    return [
        func.count(delay).label("nombre"),
        *(percentile(delay, fraction).label(name) for name, fraction in PERCENTILES.items()),
        func.max(delay).label("max_jours"),
        func.avg(delay).label("moyenne_jours"),
        func.avg(case((source.within, 1.0), else_=0.0)).label("part_dans_les_delais"),
    ]


def _figures(row: Any) -> dict[str, Any]:
    """Round a distribution row: days to the hundredth, the share to the thousandth."""
    share = row.part_dans_les_delais
    return {
        "nombre": row.nombre,
        **{name: _round(getattr(row, name)) for name in (*PERCENTILES, "max_jours")},
        "moyenne_jours": _round(row.moyenne_jours),
        "part_dans_les_delais": None if share is None else round(float(share), 3),
    }


def _completed(source: _Source, departements: Sequence[str]) -> list[ColumnElement[bool]]:
    return [source.scope(departements), source.column("completed_at").is_not(None)]


def delays(
    session: Session, departements: Sequence[str], target_days: int, historical: bool = False
) -> dict[str, Any]:
    """Distribution of the delays of completed transfers, and the share within the target."""
    source = _Source(HistoricalTransfer if historical else Transfer, target_days)
    row = session.execute(
        select(*_distribution_columns(source)).where(*_completed(source, departements))
    ).one()
    return _figures(row)


def delays_by_pair(
    session: Session, departements: Sequence[str], target_days: int, historical: bool = False
) -> list[dict[str, Any]]:
    """The same distribution for each (origin, destination) pair."""
    source = _Source(HistoricalTransfer if historical else Transfer, target_days)
    origin, dest = source.column("origin_code"), source.column("dest_code")
    rows = session.execute(
        select(origin, dest, *_distribution_columns(source))
        .where(*_completed(source, departements))
        .group_by(origin, dest)
        .order_by(origin, dest)
    )
    return [{"mdph_origine": r[0], "mdph_destination": r[1], **_figures(r)} for r in rows]


def delays_by_month(
    session: Session, departements: Sequence[str], target_days: int, historical: bool = False
) -> list[dict[str, Any]]:
    """The same distribution for each month of completion (Paris time)."""
    source = _Source(HistoricalTransfer if historical else Transfer, target_days)
    month = month_of(source.column("completed_at")).label("mois")
    rows = session.execute(
        select(month, *_distribution_columns(source))
        .where(*_completed(source, departements))
        .group_by(month)
        .order_by(month)
    )
    return [{"mois": r.mois, **_figures(r)} for r in rows]


def continuity(session: Session, departements: Sequence[str]) -> list[dict[str, Any]]:
    """Rights by outcome per pair and month of submission, from the mapping summaries kept.

    A right is carried without a gap when it goes on as it was or with a named new payer; one
    that had ended before the move is left out of the share.
    """
    counts = {
        outcome: func.coalesce(
            func.sum(Transfer.harmonisation[("resultats", outcome)].as_integer()), 0
        )
        for outcome in OUTCOMES
    }
    month = month_of(Transfer.submitted_at).label("mois")
    mapped = func.count(Transfer.harmonisation[("resultats", MAINTAINED)].as_integer())
    rows = session.execute(
        select(
            Transfer.origin_code,
            Transfer.dest_code,
            month,
            mapped.label("transferts"),
            *(value.label(name) for name, value in counts.items()),
        )
        .where(_Source(Transfer, 0).scope(departements))
        .group_by(Transfer.origin_code, Transfer.dest_code, month)
        .having(mapped > 0)
        .order_by(month, Transfer.origin_code, Transfer.dest_code)
    )
    return [_continuity_row(row) for row in rows]


def _continuity_row(row: Any) -> dict[str, Any]:
    by_outcome = {outcome: int(getattr(row, outcome)) for outcome in OUTCOMES}
    carried = by_outcome[MAINTAINED] + by_outcome[PAYER_SWITCH]
    counted = sum(by_outcome.values()) - by_outcome[ENDED]
    return {
        "mdph_origine": row.origin_code,
        "mdph_destination": row.dest_code,
        "mois": row.mois,
        "transferts": row.transferts,
        **by_outcome,
        "part_sans_rupture": round(carried / counted, 3) if counted else None,
    }


def histogram(
    session: Session, departements: Sequence[str], historical: bool = False
) -> list[dict[str, int]]:
    """Completed transfers per whole day of delay (0 = under a day), the last bar open-ended."""
    source = _Source(HistoricalTransfer if historical else Transfer, 0)
    day = whole_days(source.delay).label("jour")
    rows = session.execute(
        select(day, func.count().label("nombre"))
        .where(*_completed(source, departements))
        .group_by(day)
    )
    bars: dict[int, int] = {}
    for row in rows:
        bar = min(int(row.jour), HISTOGRAM_CAP_DAYS)
        bars[bar] = bars.get(bar, 0) + row.nombre
    return [{"jours": day, "nombre": bars[day]} for day in sorted(bars)]


def _step_durations(source: _Source) -> dict[str, ColumnElement[float]]:
    """Each step's duration in days; the first leaves out the wait for the sender's correction."""
    col = source.column
    wait = cast(col("sender_wait_seconds"), Float) / 86400.0
    return {
        "soumis_pret": days_between(col("ready_at"), col("submitted_at")) - wait,
        "pret_telecharge": days_between(col("downloaded_at"), col("ready_at")),
        "telecharge_accuse": days_between(col("acknowledged_at"), col("downloaded_at")),
        "accuse_termine": days_between(col("completed_at"), col("acknowledged_at")),
        "attente_expediteur": case((col("ready_at").is_not(None), wait)),
    }


STEP_SIDES = {
    "soumis_pret": Side.HUB,
    "pret_telecharge": Side.DESTINATION,
    "telecharge_accuse": Side.DESTINATION,
    "accuse_termine": Side.DESTINATION,
    "attente_expediteur": Side.ORIGIN,
}


def steps(
    session: Session, departements: Sequence[str], by_pair: bool = False
) -> list[dict[str, Any]]:
    """Per step (and per pair if asked): how many reached it, mean, median and p90 in days."""
    source = _Source(Transfer, 0)
    durations = _step_durations(source)
    columns: list[Any] = []
    for name, duration in durations.items():
        columns += [
            func.count(duration).label(f"{name}__nombre"),
            func.avg(duration).label(f"{name}__moyenne_jours"),
            percentile(duration, 0.5).label(f"{name}__mediane_jours"),
            percentile(duration, 0.9).label(f"{name}__p90_jours"),
        ]
    keys = [Transfer.origin_code, Transfer.dest_code] if by_pair else []
    query = select(*keys, *columns).where(source.scope(departements))
    if by_pair:
        query = query.group_by(*keys).order_by(*keys)
    result = []
    for row in session.execute(query):
        values = row._mapping
        pair = {"mdph_origine": row[0], "mdph_destination": row[1]} if by_pair else {}
        for name in durations:
            result.append(
                {
                    **pair,
                    "etape": name,
                    "libelle": STEP_LABELS[name],
                    "cote": STEP_SIDES[name].value,
                    "nombre": values[f"{name}__nombre"],
                    **{
                        figure: _round(values[f"{name}__{figure}"])
                        for figure in ("moyenne_jours", "mediane_jours", "p90_jours")
                    },
                }
            )
    return result


def _open() -> ColumnElement[bool]:
    return Transfer.state.in_([s.value for s in OPEN])  # few rows, found by the state index


def _side_case() -> Any:
    return case(
        *((Transfer.state == s.value, side.value) for s, side in SIDE_TO_ACT.items() if side),
        else_=literal(None),
    )


def states(session: Session, departements: Sequence[str], now: datetime) -> dict[str, Any]:
    """Transfers per state, and how many open ones are at risk or late at `now`."""
    at_risk = case((Transfer.warn_at <= now, case((Transfer.due_at > now, 1), else_=0)), else_=0)
    late = case((Transfer.due_at <= now, 1), else_=0)
    rows = session.execute(
        select(
            Transfer.state,
            func.count().label("nombre"),
            func.sum(at_risk).label("a_risque"),
            func.sum(late).label("en_retard"),
        )
        .where(_Source(Transfer, 0).scope(departements))
        .group_by(Transfer.state)
    ).all()
    counts = {row.state: row for row in rows}
    open_rows = [row for row in rows if State(row.state) not in STOPPED]
    return {
        "etats": [
            {
                "etat": s.value,
                "libelle": LABELS[s],
                "nombre": counts[s].nombre if s in counts else 0,
            }
            for s in State
        ],
        "ouverts": {
            "total": sum(row.nombre for row in open_rows),
            "a_risque": sum(int(row.a_risque) for row in open_rows),
            "en_retard": sum(int(row.en_retard) for row in open_rows),
        },
    }


def open_alerts(
    session: Session, departements: Sequence[str], now: datetime, limit: int = OPEN_LIST_LIMIT
) -> list[dict[str, Any]]:
    """Open transfers at risk or late at `now`, the most overdue first (no personal data)."""
    level = case((Transfer.due_at <= now, Level.LATE.value), else_=Level.AT_RISK.value)
    rows = session.execute(
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
        .where(_Source(Transfer, 0).scope(departements), Transfer.warn_at <= now, _open())
        .order_by(Transfer.due_at, Transfer.id)
        .limit(limit)
    )
    return [
        {
            "id": str(row.id),
            "mdph_origine": row.origin_code,
            "mdph_destination": row.dest_code,
            "etat": row.state,
            "etat_libelle": LABELS[State(row.state)],
            "age_jours": _round((now - row.submitted_at).total_seconds() / 86400),
            "attente_expediteur_jours": _round(row.sender_wait_seconds / 86400),
            "niveau": row.niveau,
            "niveau_libelle": LEVEL_LABELS[Level(row.niveau)],
            "cote_a_agir": row.cote,
            "echeance": row.due_at.isoformat(),
        }
        for row in rows
    ]


def use_sort_memory(session: Session) -> None:
    """Let the current transaction sort in memory (PostgreSQL; reset at its end)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))


def dashboard(
    session: Session, departements: Sequence[str], now: datetime, target_days: int = 15
) -> dict[str, Any]:
    """Every figure of the supervisors' dashboard, for the given départements at `now`."""
    use_sort_memory(session)
    counts = states(session, departements, now)
    overall = delays(session, departements, target_days)
    before = delays(session, departements, target_days, historical=True)
    return {
        "departements": list(departements),
        "calcule_le": now.isoformat(),
        "objectif_jours": target_days,
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
        "histogramme": histogram(session, departements),
        "par_paire": delays_by_pair(session, departements, target_days),
        "par_mois": delays_by_month(session, departements, target_days),
        "etapes": steps(session, departements),
        "etapes_par_paire": steps(session, departements, by_pair=True),
        "alertes": open_alerts(session, departements, now),
        "continuite": continuity(session, departements),
        "historique": {
            "delais": before,
            "histogramme": histogram(session, departements, historical=True),
            "par_paire": delays_by_pair(session, departements, target_days, historical=True),
            "par_mois": delays_by_month(session, departements, target_days, historical=True),
        },
    }


# CSV exports: one table per section, rows as the JSON gives them.
SECTIONS: dict[str, Callable[[Session, Sequence[str], datetime, int], list[dict[str, Any]]]] = {
    "etats": lambda s, d, now, t: states(s, d, now)["etats"],
    "delais": lambda s, d, now, t: [delays(s, d, t)],
    "histogramme": lambda s, d, now, t: histogram(s, d),
    "paires": lambda s, d, now, t: delays_by_pair(s, d, t),
    "mois": lambda s, d, now, t: delays_by_month(s, d, t),
    "etapes": lambda s, d, now, t: steps(s, d) + steps(s, d, by_pair=True),
    "alertes": lambda s, d, now, t: open_alerts(s, d, now),
    "continuite": lambda s, d, now, t: continuity(s, d),
    "historique": lambda s, d, now, t: [
        {"groupe": "ensemble", **delays(s, d, t, historical=True)},
        *({"groupe": "paire", **r} for r in delays_by_pair(s, d, t, historical=True)),
        *({"groupe": "mois", **r} for r in delays_by_month(s, d, t, historical=True)),
    ],
}


def export(
    session: Session, departements: Sequence[str], section: str, now: datetime, target_days: int
) -> str:
    """One section of the figures as CSV (API and pages); an unknown section is a 404."""
    produce = SECTIONS.get(section)
    if produce is None:
        raise ServiceError.one(404, "", "http.introuvable")
    use_sort_memory(session)
    return to_csv(produce(session, departements, now, target_days))


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
        select(Transfer).where(Transfer.id == transfer_id, _Source(Transfer, 0).scope(departements))
    )
    if transfer is None:
        raise ServiceError.one(404, "", "transfert.introuvable")
    return transfer
