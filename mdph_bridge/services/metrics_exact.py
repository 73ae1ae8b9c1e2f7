"""The supervisors' figures computed exactly in SQL over every transfer: the reference.

The dashboard reads roll-ups (`services.rollups`); this module computes the same figures the slow,
exact way, so a test can compare the two and the benchmark can show what the roll-ups save.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from mdph_bridge.domain.clock import STEP_LABELS, STOPPED
from mdph_bridge.domain.delays import HISTOGRAM_CAP_DAYS
from mdph_bridge.domain.harmonisation import MAINTAINED, OUTCOMES
from mdph_bridge.domain.states import LABELS, State
from mdph_bridge.models import HistoricalTransfer, Transfer
from mdph_bridge.models.sqlstats import days_between, month_of, percentile, whole_days
from mdph_bridge.services.metrics import PERCENTILES, STEP_SIDES, continuity_row, round_days
from mdph_bridge.services.rollups import step_durations

# Percentiles sort every delay in scope: on PostgreSQL give this transaction's sorts room enough to
# stay in memory (a million transfers: 3x faster than the default 4 MB, which spills to disk).
SORT_MEMORY = "64MB"


@dataclass(frozen=True)
class _Source:
    """The columns the figures read, from the hub's transfers or from imported past ones."""

    model: Any
    target_days: int

    def column(self, name: str) -> InstrumentedAttribute[Any]:
        column: InstrumentedAttribute[Any] = getattr(self.model, name)
        return column

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
        **{name: round_days(getattr(row, name)) for name in (*PERCENTILES, "max_jours")},
        "moyenne_jours": round_days(row.moyenne_jours),
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


def steps(
    session: Session, departements: Sequence[str], by_pair: bool = False
) -> list[dict[str, Any]]:
    """Per step (and per pair if asked): how many reached it, mean, median and p90 in days."""
    source = _Source(Transfer, 0)
    durations = step_durations(Transfer)
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
                        figure: round_days(values[f"{name}__{figure}"])
                        for figure in ("moyenne_jours", "mediane_jours", "p90_jours")
                    },
                }
            )
    return result


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


def continuity(session: Session, departements: Sequence[str]) -> list[dict[str, Any]]:
    """Rights by outcome per pair and month of submission: one aggregate over every transfer."""
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
    names = ("transferts", *OUTCOMES)
    return [
        continuity_row((r.origin_code, r.dest_code, r.mois), {n: getattr(r, n) for n in names})
        for r in rows
    ]


def use_sort_memory(session: Session) -> None:
    """Let the current transaction sort in memory (PostgreSQL; reset at its end)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))


def figures(
    session: Session, departements: Sequence[str], now: datetime, target_days: int
) -> dict[str, Any]:
    """The dashboard's figures (all but the lists of transfers), each computed exactly in SQL."""
    use_sort_memory(session)
    return {
        **states(session, departements, now),
        "delais": delays(session, departements, target_days),
        "histogramme": histogram(session, departements),
        "par_paire": delays_by_pair(session, departements, target_days),
        "par_mois": delays_by_month(session, departements, target_days),
        "etapes": steps(session, departements),
        "etapes_par_paire": steps(session, departements, by_pair=True),
        "continuite": continuity(session, departements),
        "historique": {
            "delais": delays(session, departements, target_days, historical=True),
            "histogramme": histogram(session, departements, historical=True),
            "par_paire": delays_by_pair(session, departements, target_days, historical=True),
            "par_mois": delays_by_month(session, departements, target_days, historical=True),
        },
    }
