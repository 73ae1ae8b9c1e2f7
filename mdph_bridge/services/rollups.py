"""Fold finished transfers into monthly roll-ups, and read the figures back without rescanning.

A beat task folds each finished transfer (and each imported past one) once, in the transaction
that flags it `rolled_up`, and each step of an open one once its milestone is set (with its rights,
mapped when it became ready), counted in `steps_rolled_up`. Readers add the roll-ups to the
transfers not folded yet (open ones and those finished since the last fold, found by a partial
index), so every count is exact at any moment; quantiles are exact until a folded sketch takes
part, then within `RELATIVE_ERROR`. Each fold gives the roll-ups a new version, and a process keeps
what it read from them (`RolledUp`) until then, so a call merges only what is not folded.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ddsketch.ddsketch import BaseDDSketch
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import STOPPED, Level
from mdph_bridge.domain.delays import (
    DAY_SECONDS,
    DELAY,
    SENDER_WAIT,
    Distribution,
    cached_sketch,
    combined,
    decode_sketch,
    encode_sketch,
)
from mdph_bridge.domain.harmonisation import MAINTAINED, OUTCOMES
from mdph_bridge.domain.states import FINISHED
from mdph_bridge.models import (
    ContinuityRollup,
    HistoricalTransfer,
    MetricRollup,
    RollupVersion,
    Transfer,
)
from mdph_bridge.models.sqlstats import days_between, month_of

HUB, PAST, OPEN = "hub", "historique", "ouverts"
BATCH = 2000
LOCK_KEY = 0x6D647068_726F6C6C  # "mdphroll": one folder at a time on PostgreSQL
STATE_MEASURE = "etat."
Key = tuple[str, str, str, str]  # origin, destination, month (delays only), measure
PairMonth = tuple[str, str, str]  # origin, destination, month of submission (continuity)


def step_durations(model: Any) -> dict[str, ColumnElement[float]]:
    """Each step's duration in days; the first leaves out the wait for the sender's correction."""
    wait = cast(model.sender_wait_seconds, Float) / DAY_SECONDS
    return {
        "soumis_pret": days_between(model.ready_at, model.submitted_at) - wait,
        "pret_telecharge": days_between(model.downloaded_at, model.ready_at),
        "telecharge_accuse": days_between(model.acknowledged_at, model.downloaded_at),
        "accuse_termine": days_between(model.completed_at, model.acknowledged_at),
        SENDER_WAIT: case((model.ready_at.is_not(None), wait)),
    }


# Durations are computed by the database, as the exact reference does: no datetime per row here.
STEPS = list(step_durations(Transfer))
# The milestone (1 ready, 2 downloaded, 3 acknowledged, 4 completed) that ends each step; a step
# never changes once its milestone is set (no way back from `ready`), so it is folded then.
STEP_MILESTONES = {
    "soumis_pret": 1,
    "pret_telecharge": 2,
    "telecharge_accuse": 3,
    "accuse_termine": 4,
    SENDER_WAIT: 1,
}
# The milestones an open transfer has reached (completed ones are finished, folded whole).
REACHED = sum(
    (
        case((at.is_not(None), 1), else_=0)
        for at in (Transfer.ready_at, Transfer.downloaded_at, Transfer.acknowledged_at)
    ),
    start=literal(0),
)
# Steps not folded yet: those ended after the milestones the roll-ups already hold.
UNFOLDED_STEPS = tuple(
    case((Transfer.steps_rolled_up < STEP_MILESTONES[name], duration)).label(name)
    for name, duration in step_durations(Transfer).items()
)
# A transfer's values: delay, whether within its deadline, month of completion, then the steps
# the roll-ups do not hold yet.
VALUE_COLUMNS: tuple[Any, ...] = (
    days_between(Transfer.completed_at, Transfer.submitted_at).label(DELAY),
    (Transfer.completed_at <= Transfer.due_at).label("within"),  # its own pair's deadline
    month_of(Transfer.completed_at).label("month"),
    *UNFOLDED_STEPS,
)
FOLD_COLUMNS = (
    Transfer.id,
    Transfer.origin_code,
    Transfer.dest_code,
    Transfer.state,
    *VALUE_COLUMNS,
)
# Rights by outcome of a transfer's mapping summary (None until its dossier was mapped), in
# integer columns the database computes from the summary: no JSON is parsed here.
OUTCOME_COUNTS: dict[str, ColumnElement[int | None]] = {
    o: getattr(Transfer, f"rights_{o}") for o in OUTCOMES
}
SUBMITTED_MONTH = month_of(Transfer.submitted_at)
# A mapped transfer's month of submission while its rights are not in the continuity roll-ups
# yet, else None. It is mapped when it becomes ready (its summary never changes after), so its
# rights are folded with its first milestone, or when it finishes if it never got there.
UNCOUNTED_MONTH = case(
    (
        and_(OUTCOME_COUNTS[MAINTAINED].is_not(None), Transfer.steps_rolled_up == 0),
        SUBMITTED_MONTH,
    )
).label("submitted")
OUTCOME_LABELS = tuple(value.label(name) for name, value in OUTCOME_COUNTS.items())
PAST_COLUMNS = (
    HistoricalTransfer.id,
    HistoricalTransfer.origin_code,
    HistoricalTransfer.dest_code,
    days_between(HistoricalTransfer.completed_at, HistoricalTransfer.submitted_at).label(DELAY),
    month_of(HistoricalTransfer.completed_at).label("month"),
)


def _add_hub_row(groups: dict[Key, Distribution], row: Any) -> None:
    """Add a transfer's delay (if completed, by month) and its steps to the groups."""
    if row.delai is not None:
        groups[(row.origin_code, row.dest_code, row.month, DELAY)].add(row.delai, bool(row.within))
    _add_steps(groups, row)


def _add_steps(groups: dict[Key, Distribution], row: Any) -> None:
    """Add the steps of a transfer the roll-ups do not hold yet to the groups."""
    for name in STEPS:
        value = getattr(row, name)
        if value is not None:
            groups[(row.origin_code, row.dest_code, "", name)].add(value)


def _add_continuity(sums: dict[PairMonth, Counter[str]], row: Any, transfers: int = 1) -> None:
    """Add the rights by outcome of `transfers` transfers (added up in `row`) not folded yet."""
    if row.submitted is not None:
        counts = sums[(row.origin_code, row.dest_code, row.submitted)]
        counts["transferts"] += transfers
        counts.update({o: getattr(row, o) or 0 for o in OUTCOMES})


def _add_past_row(groups: dict[Key, Distribution], row: Any, target_days: int) -> None:
    """Add a past transfer's delay, judged against the target in force."""
    if row.delai is not None:
        key = (row.origin_code, row.dest_code, row.month, DELAY)
        groups[key].add(row.delai, row.delai <= target_days)


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
        current = _distribution(row, decode_sketch)
        current.merge(part)
        row.count, row.total, row.within = current.count, current.total, current.within
        row.maximum = current.maximum
        row.histogram = {str(bar): n for bar, n in current.histogram.items()}
        row.sketch = encode_sketch(current.sketch) if current.sketch is not None else None


def _store_continuity(session: Session, sums: dict[PairMonth, Counter[str]]) -> None:
    """Add freshly folded outcome counts to their roll-up rows, in key order."""
    for key in sorted(sums):
        row = session.get(ContinuityRollup, key, with_for_update=True)
        if row is None:
            row = ContinuityRollup(origin_code=key[0], dest_code=key[1], month=key[2],
                                   transfers=0, **dict.fromkeys(OUTCOMES, 0))  # fmt: skip
            session.add(row)
        row.transfers += sums[key]["transferts"]
        for outcome in OUTCOMES:
            setattr(row, outcome, getattr(row, outcome) + sums[key][outcome])


def _fold_hub(session: Session, batch: int, after: dict[str, uuid.UUID]) -> int:
    query = select(*FOLD_COLUMNS, UNCOUNTED_MONTH, *OUTCOME_LABELS).where(
        ~Transfer.rolled_up, Transfer.state.in_([s.value for s in FINISHED])
    )
    if HUB in after:
        query = query.where(Transfer.id > after[HUB])
    rows = session.execute(query.order_by(Transfer.id).limit(batch)).all()
    groups: dict[Key, Distribution] = defaultdict(Distribution)
    sums: dict[PairMonth, Counter[str]] = defaultdict(Counter)
    for row in rows:
        _add_hub_row(groups, row)
        groups[(row.origin_code, row.dest_code, "", STATE_MEASURE + row.state)].add(0.0)
        _add_continuity(sums, row)
    _store(session, HUB, groups)
    _store_continuity(session, sums)
    if rows:
        ids = [row.id for row in rows]
        session.execute(update(Transfer).where(Transfer.id.in_(ids)).values(rolled_up=True))
        after[HUB] = ids[-1]
    return len(rows)


def _fold_open(session: Session, batch: int, after: dict[str, uuid.UUID]) -> int:
    """Fold the steps and rights open transfers added since the last fold; return how many."""
    query = select(
        Transfer.id,
        Transfer.origin_code,
        Transfer.dest_code,
        REACHED.label("reached"),
        *UNFOLDED_STEPS,
        UNCOUNTED_MONTH,
        *OUTCOME_LABELS,
    ).where(
        ~Transfer.rolled_up,
        Transfer.state.not_in([s.value for s in FINISHED]),
        Transfer.steps_rolled_up < REACHED,
    )
    if OPEN in after:
        query = query.where(Transfer.id > after[OPEN])
    rows = session.execute(query.order_by(Transfer.id).limit(batch)).all()
    groups: dict[Key, Distribution] = defaultdict(Distribution)
    sums: dict[PairMonth, Counter[str]] = defaultdict(Counter)
    reached: dict[int, list[uuid.UUID]] = defaultdict(list)
    for row in rows:
        _add_steps(groups, row)
        _add_continuity(sums, row)
        reached[row.reached].append(row.id)
    _store(session, HUB, groups)
    _store_continuity(session, sums)
    for milestones, ids in sorted(reached.items()):  # what was read, even if it moved on since
        session.execute(
            update(Transfer).where(Transfer.id.in_(ids)).values(steps_rolled_up=milestones)
        )
    if rows:
        after[OPEN] = rows[-1].id
    return len(rows)


def _fold_past(session: Session, batch: int, target_days: int, after: dict[str, uuid.UUID]) -> int:
    query = select(*PAST_COLUMNS).where(~HistoricalTransfer.rolled_up)
    if PAST in after:
        query = query.where(HistoricalTransfer.id > after[PAST])
    rows = session.execute(query.order_by(HistoricalTransfer.id).limit(batch)).all()
    groups: dict[Key, Distribution] = defaultdict(Distribution)
    for row in rows:
        _add_past_row(groups, row, target_days)
    _store(session, PAST, groups)
    if rows:
        ids = [row.id for row in rows]
        session.execute(
            update(HistoricalTransfer).where(HistoricalTransfer.id.in_(ids)).values(rolled_up=True)
        )
        after[PAST] = ids[-1]
    return len(rows)


def roll_up(session: Session, target_days: int, batch: int = BATCH) -> int:
    """Fold the finished transfers not rolled up yet; return how many (a batch per transaction).

    What open transfers added since the last fold (steps, rights) is folded in the same walk. Each
    batch starts after the last id of the one before, so the walk never rescans the rows it
    has just flagged (their index entries stay until PostgreSQL vacuums them).
    """
    folded = 0
    after: dict[str, uuid.UUID] = {}
    while True:
        if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}
        ):
            session.rollback()
            return folded  # another folder is at work
        done = _fold_hub(session, batch, after) + _fold_past(session, batch, target_days, after)
        stepped = _fold_open(session, batch, after)
        if done or stepped:
            _new_version(session)
        session.commit()
        folded += done
        if done == 0 and stepped == 0:
            return folded


def _distribution(row: MetricRollup, decode: Callable[[bytes], BaseDDSketch]) -> Distribution:
    return Distribution(
        count=row.count,
        total=row.total,
        within=row.within,
        maximum=row.maximum,
        histogram={int(bar): n for bar, n in row.histogram.items()},
        sketch=decode(row.sketch) if row.sketch is not None else None,
    )


Grouping = Callable[[Key], Any]


def by_pair(key: Key) -> tuple[str, str]:
    """A group's pair: the figures per pair, and each pair's steps."""
    return key[0], key[1]


def by_month(key: Key) -> str:
    """A group's month of completion: the figures per month."""
    return key[2]


def as_one(key: Key) -> None:
    """Every group together: the overall figures."""
    return None


@dataclass
class RolledUp:
    """What the roll-ups hold for some départements at one version: read once per process.

    Nothing here changes once read (distributions, sketches and merges are shared by every call
    until the next fold), so a call copies only the groups its unfolded transfers add to.
    """

    groups: dict[str, dict[Key, Distribution]] = field(default_factory=lambda: {HUB: {}, PAST: {}})
    states: Counter[str] = field(default_factory=Counter)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    continuity: dict[PairMonth, Counter[str]] = field(default_factory=dict)
    merged: dict[tuple[str, str, Grouping], dict[Any, Distribution]] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """Whether no roll-up sketch takes part, so every quantile is exact."""
        return all(d.exact for groups in self.groups.values() for d in groups.values())

    def grouped(self, source: str, name: str, by: Grouping) -> dict[Any, Distribution]:
        """The groups of one measure merged `by` pair, month or as one, merged once and kept."""
        key = (source, name, by)
        if key not in self.merged:
            merged: dict[Any, Distribution] = defaultdict(Distribution)
            if by is as_one:  # the pairs' totals merged: a few merges, not one per month
                for distribution in self.grouped(source, name, by_pair).values():
                    merged[None].merge(distribution)
            else:
                for group, distribution in self.groups[source].items():
                    if group[3] == name:
                        merged[by(group)].merge(distribution)
            self.merged[key] = dict(merged)
        return self.merged[key]


@dataclass
class Snapshot:
    """What the figures of some départements are computed from: roll-ups plus unfolded rows."""

    rolled: RolledUp = field(default_factory=RolledUp)
    # Values of the transfers not folded yet (a few: done since the last fold), raw.
    live: dict[str, dict[Key, Distribution]] = field(
        default_factory=lambda: {HUB: defaultdict(Distribution), PAST: defaultdict(Distribution)}
    )
    states: Counter[str] = field(default_factory=Counter)
    pairs: set[tuple[str, str]] = field(default_factory=set)
    open_levels: Counter[Level] = field(default_factory=Counter)
    # Mapped transfers ("transferts") and rights by outcome per pair and month of submission.
    continuity: dict[PairMonth, Counter[str]] = field(default_factory=dict)
    merged: dict[tuple[str, str, Grouping], dict[Any, Distribution]] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        """Whether every quantile is exact: unfolded values are raw, so only roll-ups count."""
        return self.rolled.exact

    def grouped(self, source: str, name: str, by: Grouping) -> dict[Any, Distribution]:
        """One measure merged `by` pair, month or as one: the roll-ups' merge plus unfolded values.

        A group no unfolded value joins is the roll-ups' own distribution: read it, never add to it.
        """
        key = (source, name, by)
        if key in self.merged:
            return self.merged[key]
        rolled = self.rolled.grouped(source, name, by)
        fresh = [(by(k), d) for k, d in self.live[source].items() if k[3] == name]
        result = dict(rolled) if fresh else rolled
        for group, part in fresh:
            if result.get(group) is rolled.get(group):  # the roll-ups' own: copied before adding
                result[group] = combined([rolled[group]] if group in rolled else [])
            result[group].merge(part)
        self.merged[key] = result
        return result

    def total(self, source: str, name: str, pair: tuple[str, str] | None = None) -> Distribution:
        """All values of one measure (of one pair if given)."""
        if pair is None:
            return self.grouped(source, name, as_one).get(None) or Distribution()
        return self.grouped(source, name, by_pair).get(pair) or Distribution()


# Each call's statements, built once: only `now` and the départements change from call to call.
NOW: BindParameter[datetime] = bindparam("now")
WATCHED: BindParameter[list[str]] = bindparam("watched", expanding=True)


def _watching(model: Any) -> ColumnElement[bool]:
    """Rows from or to one of the départements watched (the `watched` parameter)."""
    return or_(model.origin_code.in_(WATCHED), model.dest_code.in_(WATCHED))


# Where an open transfer stands at `now` (`domain.clock.level_at`), said by the database.
LEVEL = case(
    (Transfer.state.in_([s.value for s in STOPPED]), None),
    (Transfer.due_at <= NOW, Level.LATE.value),
    (Transfer.warn_at <= NOW, Level.AT_RISK.value),
    else_=Level.ON_TIME.value,
)
LIVE_GROUPS = (
    Transfer.origin_code,
    Transfer.dest_code,
    Transfer.state,
    LEVEL.label("level"),
    *VALUE_COLUMNS,
    UNCOUNTED_MONTH,
)
LIVE_READ = (
    select(
        *LIVE_GROUPS,
        func.count().label("n"),
        *(func.sum(c).label(o) for o, c in OUTCOME_COUNTS.items()),
    )
    .where(~Transfer.rolled_up, _watching(Transfer))
    .group_by(*LIVE_GROUPS)
)
PAST_READ = select(*PAST_COLUMNS).where(
    ~HistoricalTransfer.rolled_up, _watching(HistoricalTransfer)
)
VERSION_READ = select(RollupVersion.version).where(RollupVersion.id == 1)


def _add_live(snap: Snapshot, session: Session, watched: list[str], now: datetime) -> None:
    """Add the transfers not folded yet, found by the partial index, in one grouped read.

    They are the open ones (about ten thousand on a million transfers) and those finished since
    the last fold. PostgreSQL counts them per pair, state and level; the values the roll-ups do
    not hold yet (delays of the transfers completed, steps done and rights mapped since the last
    fold: a few a minute) are grouped on too, so they come back as they are, with how many share
    them, and every other transfer only in its group's count: a few dozen rows in all.
    """
    rows = session.connection().execute(LIVE_READ, {"now": now, "watched": watched})
    values = slice(4, 4 + len(VALUE_COLUMNS))
    sums: dict[PairMonth, Counter[str]] = defaultdict(Counter)
    for row in rows:
        snap.pairs.add((row.origin_code, row.dest_code))
        snap.states[row.state] += row.n
        if row.level is not None:
            snap.open_levels[Level(row.level)] += row.n
        _add_continuity(sums, row, row.n)
        if any(value is not None for value in row[values]):  # rare: n is almost always 1
            for _ in range(row.n):
                _add_hub_row(snap.live[HUB], row)
    for key, counts in sums.items():  # the roll-ups' counters are copied before adding
        snap.continuity[key] = Counter(snap.rolled.continuity.get(key))
        snap.continuity[key].update(counts)


_ROLLED: OrderedDict[tuple[str, tuple[str, ...]], tuple[str, RolledUp]] = OrderedDict()
_ROLLED_KEPT = 256  # sets of départements per process (a supervisor watches one)
_ROLLED_LOCK = threading.Lock()
READS = 3  # attempts at reading roll-ups and unfolded rows with no fold committed in between


def _version(session: Session) -> str | None:
    """The roll-ups' version; None before the first fold of a database made without migrations."""
    return session.scalar(VERSION_READ)


def _new_version(session: Session) -> None:
    """Give the roll-ups a new version, in the transaction of the fold that changes them."""
    row = session.get(RollupVersion, 1)
    if row is None:
        session.add(RollupVersion(id=1, version=uuid.uuid4().hex))
    else:
        row.version = uuid.uuid4().hex


def _read_rolled(session: Session, watched: list[str]) -> RolledUp:
    """Read the roll-ups of the départements watched (sketches decoded once per process)."""
    rolled = RolledUp()
    params = {"watched": watched}
    rollups = session.scalars(select(MetricRollup).where(_watching(MetricRollup)), params)
    for rollup in rollups:
        key = (rollup.origin_code, rollup.dest_code, rollup.month, rollup.measure)
        if rollup.measure.startswith(STATE_MEASURE):
            rolled.states[rollup.measure.removeprefix(STATE_MEASURE)] += rollup.count
            rolled.pairs.add(key[:2])
        else:
            rolled.groups[rollup.source][key] = _distribution(rollup, cached_sketch)
    summed = session.scalars(select(ContinuityRollup).where(_watching(ContinuityRollup)), params)
    for row in summed:
        month = (row.origin_code, row.dest_code, row.month)
        counts = rolled.continuity.setdefault(month, Counter())
        counts["transferts"] += row.transfers
        counts.update({o: getattr(row, o) for o in OUTCOMES})
    return rolled


def _rolled(session: Session, watched: list[str], version: str | None) -> RolledUp:
    """The roll-ups as this process last read them at `version`, else read now and kept."""
    key = (str(session.connection().engine.url), tuple(watched))
    with _ROLLED_LOCK:
        kept = _ROLLED.get(key)
    if version is not None and kept is not None and kept[0] == version:
        return kept[1]
    rolled = _read_rolled(session, watched)
    if version is not None:
        with _ROLLED_LOCK:
            _ROLLED[key] = (version, rolled)
            _ROLLED.move_to_end(key)
            while len(_ROLLED) > _ROLLED_KEPT:
                _ROLLED.popitem(last=False)
    return rolled


def snapshot(
    session: Session, departements: Sequence[str], now: datetime, target_days: int
) -> Snapshot:
    """Read the roll-ups (unless this process holds them at their version) and unfolded rows.

    Each read is its own statement (READ COMMITTED): if the version is not the same after them,
    a fold committed in between, its transfers in neither the roll-ups read nor the rows, so they
    are read again (a few times at most: the one-off fold of a large database commits on and on).
    """
    if session.get_bind().dialect.name == "postgresql":
        # Compiling the grouped read of 100,000 open transfers (JIT) took longer than running it.
        session.execute(text("SET LOCAL jit = off"))
    watched = list(departements)
    version = _version(session)
    for _ in range(READS):
        rolled = _rolled(session, watched, version)
        snap = Snapshot(
            rolled=rolled,
            states=Counter(rolled.states),
            pairs=set(rolled.pairs),
            continuity=dict(rolled.continuity),
        )
        _add_live(snap, session, watched, now)
        for row in session.connection().execute(PAST_READ, {"watched": watched}):
            _add_past_row(snap.live[PAST], row, target_days)
        after = _version(session)
        if after == version:
            break
        version = after
    return snap
