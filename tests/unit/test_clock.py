"""Unit tests of the fifteen-day clock, with time given by the test (no sleeping, no real clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mdph_bridge.config import clock_rules, load_config
from mdph_bridge.domain.clock import (
    PARIS,
    ClockRules,
    Deadlines,
    Level,
    Policy,
    Side,
    add_days,
    deadlines,
    level_at,
    read,
)
from mdph_bridge.domain.states import State
from mdph_bridge.services.clock import french_holidays, transfer_deadlines

pytestmark = pytest.mark.unit
NO_HOLIDAYS: frozenset[date] = frozenset()


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def test_due_date_is_fifteen_calendar_days_after_submission_by_default() -> None:
    submitted = paris(2026, 3, 2, 9, 30)
    deadline = deadlines(submitted, Policy(), NO_HOLIDAYS)
    assert deadline.due_at == paris(2026, 3, 17, 9, 30)
    assert deadline.warn_at == paris(2026, 3, 12, 9, 30)


def test_calendar_days_keep_the_paris_wall_clock_time_across_the_dst_change() -> None:
    # 29 March 2026: clocks go forward in France; 15 days later is still 09:30 in Paris.
    submitted = paris(2026, 3, 20, 9, 30)
    due = add_days(submitted, 15, working=False, holidays=NO_HOLIDAYS)
    assert due.tzinfo == UTC
    assert due.astimezone(PARIS) == paris(2026, 4, 4, 9, 30)
    assert due - submitted == timedelta(days=15) - timedelta(hours=1)


def test_working_days_skip_weekends_and_french_public_holidays() -> None:
    # Submitted on Thursday 30 April 2026; 1 May (Fri), 8 May (Fri), 14 May (Ascension Thu)
    # and 25 May (Whit Monday) are public holidays, and weekends do not count.
    submitted = paris(2026, 4, 30, 14, 0)
    due = add_days(submitted, 15, working=True, holidays=french_holidays())
    assert due.astimezone(PARIS) == paris(2026, 5, 27, 14, 0)
    without_holidays = add_days(submitted, 15, working=True, holidays=NO_HOLIDAYS)
    assert without_holidays.astimezone(PARIS) == paris(2026, 5, 21, 14, 0)


def test_working_days_from_a_saturday_start_counting_on_monday() -> None:
    due = add_days(paris(2026, 6, 6, 10, 0), 1, working=True, holidays=NO_HOLIDAYS)
    assert due.astimezone(PARIS) == paris(2026, 6, 8, 10, 0)


def test_levels_change_at_the_warning_day_and_at_the_due_date() -> None:
    deadline = Deadlines(warn_at=paris(2026, 1, 11), due_at=paris(2026, 1, 16))
    assert level_at(deadline, paris(2026, 1, 10, 23, 59)) == Level.ON_TIME
    assert level_at(deadline, paris(2026, 1, 11)) == Level.AT_RISK
    assert level_at(deadline, paris(2026, 1, 16)) == Level.LATE


def test_rules_per_pair_with_their_own_days_and_kind() -> None:
    rules = ClockRules.parse("59-62=15, 62-59=20/14:ouvres, 80-62=12", Policy(15, 10))
    assert rules.for_pair("59", "62") == Policy(15, 10, working_days=False)
    assert rules.for_pair("62", "59") == Policy(20, 14, working_days=True)
    assert rules.for_pair("80", "62") == Policy(12, 10)
    assert rules.for_pair("59", "80") == Policy(15, 10)
    submitted = paris(2026, 4, 30, 14, 0)
    assert (
        transfer_deadlines(rules, "62", "59", submitted).due_at
        > transfer_deadlines(rules, "59", "62", submitted).due_at
    )


@pytest.mark.parametrize("text", ["59-62", "59=15", "59-62=quinze", "59-62=15:feries", "59-62=5/9"])
def test_unreadable_pair_rules_are_refused_in_french(text: str) -> None:
    with pytest.raises(ValueError, match="attendu par exemple"):
        ClockRules.parse(text, Policy())


def test_settings_build_the_rules_and_refuse_a_bad_kind() -> None:
    config = load_config(
        {"MDPH_BRIDGE_SLA_DAY_KIND": "ouvres", "MDPH_BRIDGE_SLA_PAIRS": "59-62=10/7:calendaires"}
    )
    rules = clock_rules(config)
    assert rules.default == Policy(15, 10, working_days=True)
    assert rules.for_pair("59", "62") == Policy(10, 7, working_days=False)
    with pytest.raises(RuntimeError, match="SLA_DAY_KIND"):
        clock_rules(load_config({"MDPH_BRIDGE_SLA_DAY_KIND": "jours"}))
    with pytest.raises(RuntimeError, match="Délai incohérent"):
        clock_rules(load_config({"MDPH_BRIDGE_WARNING_DAYS": "20"}))


T0 = paris(2026, 2, 2, 9, 0)
DEADLINE = deadlines(T0, Policy(), NO_HOLIDAYS)


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def test_a_completed_transfer_stops_the_clock_and_reports_each_step() -> None:
    history = [
        (at(0), State.RECEIVED),
        (at(0.1), State.VALIDATING),
        (at(0.2), State.READY),
        (at(2), State.DOWNLOADED),
        (at(3), State.ACKNOWLEDGED),
        (at(8), State.COMPLETED),
    ]
    reading = read(history, DEADLINE, now=at(40))
    assert reading.elapsed == timedelta(days=8)
    assert reading.stopped_at == at(8)
    assert reading.level == Level.ON_TIME
    assert reading.side is None
    assert reading.steps == {
        "soumis_pret": timedelta(days=0.2),
        "pret_telecharge": timedelta(days=1.8),
        "telecharge_accuse": timedelta(days=1),
        "accuse_termine": timedelta(days=5),
        "attente_expediteur": timedelta(),
    }


def test_time_waiting_for_the_sender_is_its_own_figure_and_still_counts_in_the_age() -> None:
    history = [
        (at(0), State.RECEIVED),
        (at(0.5), State.VALIDATING),
        (at(1), State.REJECTED),
        (at(4), State.RECEIVED),  # corrected after three days
        (at(4.5), State.VALIDATING),
        (at(5), State.REJECTED),
        (at(7), State.RECEIVED),  # corrected after two more days
        (at(7.5), State.VALIDATING),
        (at(8), State.READY),
    ]
    reading = read(history, DEADLINE, now=at(11))
    assert reading.waiting_for_sender == timedelta(days=5)
    assert reading.steps["attente_expediteur"] == timedelta(days=5)
    assert reading.steps["soumis_pret"] == timedelta(days=3)  # 8 days minus the 5 waited
    assert reading.elapsed == timedelta(days=11)
    assert reading.level == Level.AT_RISK
    assert reading.side == Side.DESTINATION


def test_an_open_rejection_keeps_counting_and_the_sender_must_act() -> None:
    history = [(at(0), State.RECEIVED), (at(1), State.VALIDATING), (at(2), State.REJECTED)]
    reading = read(history, DEADLINE, now=at(16))
    assert reading.waiting_for_sender == timedelta(days=14)
    assert reading.level == Level.LATE
    assert reading.side == Side.ORIGIN
    assert reading.stopped_at is None


def test_time_in_returned_is_reported_apart_from_the_wait_for_a_correction() -> None:
    history = [
        (at(0), State.RECEIVED),
        (at(0.1), State.VALIDATING),
        (at(0.2), State.READY),
        (at(3), State.RETURNED),
    ]
    reading = read(history, DEADLINE, now=at(16))
    assert reading.returned == timedelta(days=13)
    assert reading.waiting_for_sender == timedelta()
    assert reading.side == Side.ORIGIN
    assert reading.stopped_at == at(3)  # closed: no step of this transfer can complete it
    assert reading.elapsed == timedelta(days=3)
    assert reading.level == Level.ON_TIME
    assert reading.steps["pret_telecharge"] is None


def test_the_level_is_frozen_when_the_clock_stops() -> None:
    history = [(at(0), State.RECEIVED), (at(1), State.READY), (at(5), State.CANCELLED)]
    assert read(history, DEADLINE, now=at(30)).level == Level.ON_TIME
    history = [
        (at(0), State.RECEIVED),
        (at(1), State.READY),
        (at(2), State.DOWNLOADED),
        (at(3), State.ACKNOWLEDGED),
        (at(16), State.COMPLETED),
    ]
    assert read(history, DEADLINE, now=at(100)).level == Level.LATE
