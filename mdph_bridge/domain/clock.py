"""The fifteen-day clock: deadlines, age, and the time spent waiting for the sender.

Pure: the current instant and the public holidays are always passed in, so tests control time.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from mdph_bridge.domain.states import FINISHED, State

PARIS = ZoneInfo("Europe/Paris")
WORKING = "ouvres"
CALENDAR = "calendaires"


class Side(StrEnum):
    """Who must act for a transfer to move on; the values are stable API codes."""

    ORIGIN = "origine"
    DESTINATION = "destination"
    HUB = "plateforme"


class Level(StrEnum):
    """Where a transfer stands against its deadlines."""

    ON_TIME = "dans_les_delais"
    AT_RISK = "a_risque"
    LATE = "en_retard"


LEVEL_LABELS: dict[Level, str] = {
    Level.ON_TIME: "Dans les délais",
    Level.AT_RISK: "À risque",
    Level.LATE: "En retard",
}

# The clock stops when the receiving MDPH has integrated the file, when the sender cancels, and
# when the receiver returns it (refused jurisdiction: no step of this transfer can complete it, the
# sender must address the right MDPH). These transfers are closed: no alert, not in the open list.
STOPPED: frozenset[State] = FINISHED

SIDE_TO_ACT: dict[State, Side | None] = {
    State.RECEIVED: Side.HUB,
    State.VALIDATING: Side.HUB,
    State.FAILED: Side.HUB,
    State.REJECTED: Side.ORIGIN,
    State.RETURNED: Side.ORIGIN,
    State.READY: Side.DESTINATION,
    State.DOWNLOADED: Side.DESTINATION,
    State.ACKNOWLEDGED: Side.DESTINATION,
    State.COMPLETED: None,
    State.CANCELLED: None,
}

# The steps a supervisor sees, each from the first time a milestone was reached to the next.
STEPS: tuple[tuple[str, State | None, State], ...] = (
    ("soumis_pret", None, State.READY),
    ("pret_telecharge", State.READY, State.DOWNLOADED),
    ("telecharge_accuse", State.DOWNLOADED, State.ACKNOWLEDGED),
    ("accuse_termine", State.ACKNOWLEDGED, State.COMPLETED),
)
STEP_LABELS: dict[str, str] = {
    "soumis_pret": "Soumis → prêt (plateforme, hors attente de l'expéditeur)",
    "pret_telecharge": "Prêt → téléchargé (MDPH d'accueil)",
    "telecharge_accuse": "Téléchargé → réception confirmée (MDPH d'accueil)",
    "accuse_termine": "Réception confirmée → intégré (MDPH d'accueil)",
    "attente_expediteur": "En attente de correction par l'expéditeur",
}


@dataclass(frozen=True)
class Policy:
    """How long a transfer may take: the target, the at-risk day, and which days count."""

    days: int = 15
    warning_days: int = 10
    working_days: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.warning_days <= self.days:
            raise ValueError(
                f"Délai incohérent : l'alerte ({self.warning_days} j) doit tomber entre le "
                f"premier jour et l'échéance ({self.days} j)."
            )


@dataclass(frozen=True)
class ClockRules:
    """The default policy and the policies agreed for particular (origin, destination) pairs."""

    default: Policy = field(default_factory=Policy)
    pairs: Mapping[tuple[str, str], Policy] = field(default_factory=dict)

    def for_pair(self, origin: str, dest: str) -> Policy:
        """Return the policy of a département pair."""
        return self.pairs.get((origin, dest), self.default)

    @classmethod
    def parse(cls, text: str, default: Policy) -> ClockRules:
        """Read pair policies such as `59-62=15, 62-59=20/14:ouvres` (days[/alert][:kind])."""
        pairs: dict[tuple[str, str], Policy] = {}
        for raw in filter(None, (part.strip() for part in text.split(","))):
            try:
                pair, _, rest = raw.partition("=")
                origin, dest = (code.strip() for code in pair.split("-"))
                figures, _, kind = rest.partition(":")
                days, _, warning = figures.partition("/")
                kind = kind.strip() or (WORKING if default.working_days else CALENDAR)
                if kind not in (WORKING, CALENDAR) or not origin or not dest:
                    raise ValueError(raw)  # noqa: TRY301 - reported below with the expected form
                policy = Policy(
                    days=int(days),
                    warning_days=int(warning) if warning else min(default.warning_days, int(days)),
                    working_days=kind == WORKING,
                )
            except ValueError as exc:
                raise ValueError(
                    f"Délai par paire illisible : {raw!r} ; attendu par exemple "
                    f"« 59-62=15 » ou « 62-59=20/14:ouvres »."
                ) from exc
            pairs[(origin, dest)] = policy
        return cls(default, pairs)


@dataclass(frozen=True)
class Deadlines:
    """When a transfer becomes at risk, and when it is late."""

    warn_at: datetime
    due_at: datetime


def add_days(start: datetime, days: int, working: bool, holidays: Container[date]) -> datetime:
    """Add calendar days, or working days (Monday to Friday, no public holiday), in Paris time."""
    local = start.astimezone(PARIS)
    if not working:
        day = local.date() + timedelta(days=days)
    else:
        day, counted = local.date(), 0
        while counted < days:
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in holidays:
                counted += 1
    return datetime.combine(day, local.time(), tzinfo=PARIS).astimezone(UTC)


def deadlines(submitted_at: datetime, policy: Policy, holidays: Container[date]) -> Deadlines:
    """Compute the at-risk and due instants of a transfer submitted at `submitted_at`."""
    return Deadlines(
        warn_at=add_days(submitted_at, policy.warning_days, policy.working_days, holidays),
        due_at=add_days(submitted_at, policy.days, policy.working_days, holidays),
    )


def level_at(deadline: Deadlines, at: datetime) -> Level:
    """Say where a transfer stands at `at` against its deadlines."""
    return level_between(deadline.warn_at, deadline.due_at, at)


def level_between(warn_at: datetime, due_at: datetime, at: datetime) -> Level:
    """`level_at` from the two instants themselves, for a page of rows (no `Deadlines` each)."""
    if at >= due_at:
        return Level.LATE
    if at >= warn_at:
        return Level.AT_RISK
    return Level.ON_TIME


@dataclass(frozen=True)
class Reading:
    """The clock of one transfer at one instant."""

    elapsed: timedelta  # submission to completion (or to now): pauses included, never hidden
    waiting_for_sender: timedelta  # time in `rejected`, until the sender sent a correction
    returned: timedelta  # time since the receiver returned the file to the sender, up to now
    level: Level  # at the clock's stop, or now if it still runs
    stopped_at: datetime | None
    side: Side | None
    steps: dict[str, timedelta | None]


def read(history: Sequence[tuple[datetime, State]], deadline: Deadlines, now: datetime) -> Reading:
    """Read the clock from the history [(instant, state entered)], which starts at submission."""
    if not history:
        raise ValueError("a transfer's history starts with its submission")
    submitted_at, state = history[0]
    paused: dict[State, timedelta] = {State.REJECTED: timedelta(), State.RETURNED: timedelta()}
    first: dict[State, datetime] = {}
    stopped_at = None
    since = submitted_at
    for at, entered in history[1:]:
        if state in paused:
            paused[state] += at - since
        first.setdefault(entered, at)
        state, since = entered, at
    if state in STOPPED:
        stopped_at = since
    end = stopped_at or now
    if state == State.REJECTED:
        paused[state] += end - since
    if state == State.RETURNED:
        paused[state] += now - since
    steps: dict[str, timedelta | None] = {}
    for name, start_state, end_state in STEPS:
        start = submitted_at if start_state is None else first.get(start_state)
        stop = first.get(end_state)
        steps[name] = stop - start if start is not None and stop is not None else None
    if steps["soumis_pret"] is not None:
        steps["soumis_pret"] -= paused[State.REJECTED]
    steps["attente_expediteur"] = paused[State.REJECTED]
    return Reading(
        elapsed=end - submitted_at,
        waiting_for_sender=paused[State.REJECTED],
        returned=paused[State.RETURNED],
        level=level_at(deadline, end),
        stopped_at=stopped_at,
        side=SIDE_TO_ACT[state],
        steps=steps,
    )


def days(span: timedelta) -> float:
    """Express a duration in days, rounded to the hundredth, as supervisors read it."""
    return round(span.total_seconds() / 86400, 2)
