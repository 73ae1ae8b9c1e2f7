"""Unit tests of the transfer state machine: labels, final states and allowed transitions."""

from __future__ import annotations

import itertools

import pytest

from mdph_bridge.domain.states import (
    FINAL,
    IN_PROGRESS,
    INBOUND_VISIBLE,
    LABELS,
    TRANSITIONS,
    State,
    can_move,
)

pytestmark = pytest.mark.unit

HAPPY_PATH = [
    State.RECEIVED,
    State.VALIDATING,
    State.READY,
    State.DOWNLOADED,
    State.ACKNOWLEDGED,
    State.COMPLETED,
]
# Letters used only by French text (accents, cedilla, French apostrophe words).
FRENCH_HINTS = ("é", "è", "ê", "à", "ç", "ù", "Reçu", "Annulé", "MDPH")


def test_state_values_are_the_stable_lowercase_api_codes() -> None:
    assert {s.value for s in State} == {
        "received",
        "validating",
        "ready",
        "downloaded",
        "acknowledged",
        "completed",
        "rejected",
        "returned",
        "cancelled",
        "failed",
    }


@pytest.mark.parametrize("state", list(State))
def test_every_state_has_a_non_empty_french_label(state: State) -> None:
    label = LABELS[state]
    assert label.strip() == label
    assert label
    assert label != state.value
    assert label[0].isupper()


def test_labels_cover_exactly_the_states_and_read_as_french() -> None:
    assert set(LABELS) == set(State)
    assert all(any(hint in label for hint in FRENCH_HINTS) for label in LABELS.values())
    assert len(set(LABELS.values())) == len(LABELS), "two states share a label"


def test_transition_table_covers_every_state_and_only_names_states() -> None:
    assert set(TRANSITIONS) == set(State)
    assert all(targets <= set(State) for targets in TRANSITIONS.values())


def test_final_states_are_completed_returned_and_cancelled() -> None:
    assert {State.COMPLETED, State.RETURNED, State.CANCELLED} == FINAL


@pytest.mark.parametrize(
    ("source", "target"), [(s, t) for s in sorted(FINAL) for t in State], ids=str
)
def test_final_state_has_no_exit(source: State, target: State) -> None:
    assert TRANSITIONS[source] == frozenset()
    assert not can_move(source, target)


@pytest.mark.parametrize(("source", "target"), list(itertools.pairwise(HAPPY_PATH)), ids=str)
def test_happy_path_step_is_allowed(source: State, target: State) -> None:
    assert can_move(source, target)


def test_happy_path_ends_in_a_final_state() -> None:
    assert HAPPY_PATH[-1] in FINAL
    assert all(state not in FINAL for state in HAPPY_PATH[:-1])


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (State.RECEIVED, State.READY),
        (State.RECEIVED, State.COMPLETED),
        (State.VALIDATING, State.DOWNLOADED),
        (State.READY, State.ACKNOWLEDGED),
        (State.READY, State.COMPLETED),
        (State.DOWNLOADED, State.COMPLETED),
        (State.DOWNLOADED, State.READY),
        (State.ACKNOWLEDGED, State.READY),
        (State.REJECTED, State.READY),
        (State.REJECTED, State.COMPLETED),
        (State.FAILED, State.READY),
        (State.COMPLETED, State.RECEIVED),
        (State.COMPLETED, State.RETURNED),
        (State.RETURNED, State.READY),
        (State.CANCELLED, State.RECEIVED),
    ],
    ids=str,
)
def test_forbidden_jump_is_refused(source: State, target: State) -> None:
    assert not can_move(source, target)


@pytest.mark.parametrize("state", [State.READY, State.DOWNLOADED, State.ACKNOWLEDGED], ids=str)
def test_receiver_may_return_a_transfer_it_can_see(state: State) -> None:
    assert can_move(state, State.RETURNED)


@pytest.mark.parametrize("state", [s for s in State if s not in FINAL], ids=str)
def test_every_non_final_state_can_still_end(state: State) -> None:
    """No dead end: following transitions from any live state reaches a final state."""
    seen, todo = set(), [state]
    while todo:
        current = todo.pop()
        seen.add(current)
        todo.extend(TRANSITIONS[current] - seen)
    assert seen & FINAL


def test_inbound_visible_is_every_state_after_the_package_exists() -> None:
    """The receiving MDPH sees a transfer once its package exists, including returned ones."""
    assert (
        frozenset(
            {State.READY, State.DOWNLOADED, State.ACKNOWLEDGED, State.COMPLETED, State.RETURNED}
        )
        == INBOUND_VISIBLE
    )
    assert State.RECEIVED not in INBOUND_VISIBLE
    assert State.VALIDATING not in INBOUND_VISIBLE
    assert State.REJECTED not in INBOUND_VISIBLE


def test_inbound_visible_states_are_reachable_only_through_ready() -> None:
    """Nothing enters the visible set except by the ready step (the package is built then)."""
    for source, targets in TRANSITIONS.items():
        if source in INBOUND_VISIBLE:
            continue
        assert targets & INBOUND_VISIBLE <= {State.READY}, source


def test_in_progress_is_what_the_sweeper_re_enqueues() -> None:
    assert frozenset({State.RECEIVED, State.VALIDATING}) == IN_PROGRESS
    assert not IN_PROGRESS & FINAL
    assert not IN_PROGRESS & INBOUND_VISIBLE
