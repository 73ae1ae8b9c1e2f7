"""Fold finished transfers into monthly roll-ups, and read the figures back without rescanning.

A beat task folds each finished transfer (and each imported past one) once, in the transaction
that flags it `rolled_up`. Readers add the roll-ups to the transfers not folded yet (open ones and
those finished since the last fold, found by a partial index), so every count is exact at any
moment; quantiles are exact until a folded sketch takes part, then within `RELATIVE_ERROR`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import STOPPED, Deadlines, Level, level_at
from mdph_bridge.domain.delays import (
    DELAY,
    Distribution,
    combined,
    days,
    decode_sketch,
    encode_sketch,
    month,
    step_values,
)
from mdph_bridge.domain.states import FINISHED, State
from mdph_bridge.models import HistoricalTransfer, MetricRollup, Transfer

HUB, PAST = "hub", "historique"
BATCH = 2000
LOCK_KEY = 0x6D647068_726F6C6C  # "mdphroll": one folder at a time on PostgreSQL
STATE_MEASURE = "etat."
HUB_COLUMNS = (
    Transfer.id,
    Transfer.origin_code,
    Transfer.dest_code,
    Transfer.state,
    Transfer.submitted_at,
    Transfer.ready_at,
    Transfer.downloaded_at,
    Transfer.acknowledged_at,
    Transfer.completed_at,
    Transfer.sender_wait_seconds,
    Transfer.state_changed_at,
    Transfer.warn_at,
    Transfer.due_at,
)
PAST_COLUMNS = (
    HistoricalTransfer.id,
    HistoricalTransfer.origin_code,
    HistoricalTransfer.dest_code,
    HistoricalTransfer.submitted_at,
    HistoricalTransfer.completed_at,
)

Key = tuple[str, str, str, str]  # origin, destination, month, measure


def _hub_measures(row: Any) -> Iterable[tuple[str, float, bool]]:
    """The values one of the hub's transfers adds: its delay if completed, and its steps."""
    delay = days(row.completed_at, row.submitted_at)
    if delay is not None:
        yield DELAY, delay, row.completed_at <= row.due_at  # the deadline of its own pair
    for name, value in step_values(row).items():
        if value is not None:
            yield name, value, False


def _past_delay(row: Any, target_days: int) -> tuple[str, float, bool] | None:
    """The delay a past transfer adds, judged against the target in force."""
    delay = days(row.completed_at, row.submitted_at)
    return None if delay is None else (DELAY, delay, delay <= target_days)


def _fold_row(groups: dict[Key, Distribution], pair: tuple[str, str], moment: datetime,
              values: Iterable[tuple[str, float, bool]]) -> None:  # fmt: skip
    for measure, value, within in values:
        period = month(moment) if measure == DELAY else ""  # only delays are shown by month
        groups[(*pair, period, measure)].add(value, within)


def _store(session: Session, source: str, groups: dict[Key, Distribution]) -> None:
    """Merge freshly folded distributions into their roll-up rows, in key order."""
    for key in sorted(groups):
        part = groups[key].folded()
        row = session.get(MetricRollup, (source, *key), with_for_update=True)
        if row is None:
            row = MetricRollup(source=source, origin_code=key[0], dest_code=key[1],
                               month=key[2], measure=key[3], count=0, total=0.0, within=0,
                               histogram={})  # fmt: skip
            session.add(row)
        current = _distribution(row)
        current.merge(part)
        row.count, row.total, row.within = current.count, current.total, current.within
        row.maximum = current.maximum
        row.histogram = {str(bar): n for bar, n in current.histogram.items()}
        row.sketch = encode_sketch(current.sketch) if current.sketch is not None else None


def _fold_hub(session: Session, batch: int) -> int:
    rows = session.execute(
        select(*HUB_COLUMNS)
        .where(Transfer.rolled_up.is_(False), Transfer.state.in_([s.value for s in FINISHED]))
        .order_by(Transfer.id)
        .limit(batch)
    ).all()
    groups: dict[Key, Distribution] = defaultdict(Distribution)
    for row in rows:
        pair = (row.origin_code, row.dest_code)
        finished = row.completed_at or row.state_changed_at
        _fold_row(groups, pair, finished, _hub_measures(row))
        _fold_row(groups, pair, finished, [(STATE_MEASURE + row.state, 0.0, False)])
    _store(session, HUB, groups)
    ids = [row.id for row in rows]
    if ids:
        session.execute(update(Transfer).where(Transfer.id.in_(ids)).values(rolled_up=True))
    return len(rows)


def _fold_past(session: Session, batch: int, target_days: int) -> int:
    rows = session.execute(
        select(*PAST_COLUMNS)
        .where(HistoricalTransfer.rolled_up.is_(False))
        .order_by(HistoricalTransfer.id)
        .limit(batch)
    ).all()
    groups: dict[Key, Distribution] = defaultdict(Distribution)
    for row in rows:
        delay = _past_delay(row, target_days)
        if delay is not None:
            _fold_row(groups, (row.origin_code, row.dest_code), row.completed_at, [delay])
    _store(session, PAST, groups)
    ids = [row.id for row in rows]
    if ids:
        session.execute(
            update(HistoricalTransfer).where(HistoricalTransfer.id.in_(ids)).values(rolled_up=True)
        )
    return len(rows)


def roll_up(session: Session, target_days: int, batch: int = BATCH) -> int:
    """Fold every finished transfer not rolled up yet, a batch per transaction; return how many."""
    folded = 0
    while True:
        if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}
        ):
            session.rollback()
            return folded  # another folder is at work
        done = _fold_hub(session, batch) + _fold_past(session, batch, target_days)
        session.commit()
        folded += done
        if done == 0:
            return folded


def _distribution(row: MetricRollup) -> Distribution:
    return Distribution(
        count=row.count,
        total=row.total,
        within=row.within,
        maximum=row.maximum,
        histogram={int(bar): n for bar, n in row.histogram.items()},
        sketch=decode_sketch(row.sketch) if row.sketch is not None else None,
    )


@dataclass
class Snapshot:
    """What the figures of some départements are computed from: roll-ups plus unfolded rows."""

    groups: dict[str, dict[Key, Distribution]] = field(
        default_factory=lambda: {HUB: defaultdict(Distribution), PAST: defaultdict(Distribution)}
    )
    states: Counter[str] = field(default_factory=Counter)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    open_levels: Counter[Level] = field(default_factory=Counter)

    totals: dict[tuple[str, str, tuple[str, str] | None], Distribution] = field(
        default_factory=dict
    )

    def measure(self, source: str, name: str) -> Iterable[tuple[Key, Distribution]]:
        """Every group of one measure."""
        return ((k, d) for k, d in self.groups[source].items() if k[3] == name)

    def total(self, source: str, name: str, pair: tuple[str, str] | None = None) -> Distribution:
        """All values of one measure (of one pair if given), merged once and kept."""
        key = (source, name, pair)
        if key not in self.totals:
            self.totals[key] = combined(
                d for k, d in self.measure(source, name) if pair is None or k[:2] == pair
            )
        return self.totals[key]


def snapshot(
    session: Session, departements: Sequence[str], now: datetime, target_days: int
) -> Snapshot:
    """Read the roll-ups and the unfolded transfers of the départements supervised."""
    snap = Snapshot()
    watched = list(departements)
    rollups = session.scalars(
        select(MetricRollup).where(
            or_(MetricRollup.origin_code.in_(watched), MetricRollup.dest_code.in_(watched))
        )
    )
    for rollup in rollups:
        key = (rollup.origin_code, rollup.dest_code, rollup.month, rollup.measure)
        if rollup.measure.startswith(STATE_MEASURE):
            snap.states[rollup.measure.removeprefix(STATE_MEASURE)] += rollup.count
            snap.pairs.add(key[:2])
        else:
            snap.groups[rollup.source][key] = _distribution(rollup)  # one row per key
    live = session.execute(
        select(*HUB_COLUMNS).where(
            Transfer.rolled_up.is_(False),
            or_(Transfer.origin_code.in_(watched), Transfer.dest_code.in_(watched)),
        )
    )
    for row in live:
        pair = (row.origin_code, row.dest_code)
        snap.pairs.add(pair)
        snap.states[row.state] += 1
        if State(row.state) not in STOPPED:
            snap.open_levels[level_at(Deadlines(row.warn_at, row.due_at), now)] += 1
        _fold_row(snap.groups[HUB], pair, row.completed_at or row.state_changed_at,
                  _hub_measures(row))  # fmt: skip
    past = session.execute(
        select(*PAST_COLUMNS).where(
            HistoricalTransfer.rolled_up.is_(False),
            or_(
                HistoricalTransfer.origin_code.in_(watched),
                HistoricalTransfer.dest_code.in_(watched),
            ),
        )
    )
    for row in past:
        delay = _past_delay(row, target_days)
        if delay is not None:
            _fold_row(snap.groups[PAST], (row.origin_code, row.dest_code), row.completed_at,
                      [delay])  # fmt: skip
    return snap
