"""Unit tests of the transfer state machine: labels, final states and allowed transitions."""

from __future__ import annotations

import itertools

import pytest

from mdph_bridge.domain.states import (
    AT_DESTINATION,
    CANCELLABLE,
    DOWNLOADABLE,
    FINISHED,
    LABELS,
    NEEDS_STAGING,
    OPEN,
    TRANSITIONS,
    WAITING_FOR_SENDER,
    State,
    can_move,
    on_the_way,
)

pytestmark = pytest.mark.unit
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)

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


def _reaches_ready(state: State, seen: frozenset[State] = frozenset()) -> bool:
    if state in seen or state == State.REJECTED:  # a rejected payload is replaced, not reused
        return False
    return any(
        target == State.READY or _reaches_ready(target, seen | {state})
        for target in TRANSITIONS[state]
    )


def test_staging_is_kept_exactly_while_the_payload_can_still_be_packaged() -> None:
    """The orphan sweeper keeps the sealed payload of these states and shreds the others'."""
    can_still_be_packaged = {s for s in State if s != State.READY and _reaches_ready(s)}
    assert can_still_be_packaged == NEEDS_STAGING


def test_a_rejected_transfer_can_only_be_corrected_or_cancelled() -> None:
    assert TRANSITIONS[State.REJECTED] == {State.RECEIVED, State.CANCELLED}


def test_the_named_sets_of_states_follow_from_the_transitions() -> None:
    assert {
        State.COMPLETED,
        State.RETURNED,
        State.CANCELLED,
    } == FINISHED
    assert frozenset(State) - FINISHED == OPEN
    assert {State.RECEIVED, State.READY, State.REJECTED, State.FAILED} == CANCELLABLE
    assert {State.READY, State.DOWNLOADED, State.ACKNOWLEDGED} == AT_DESTINATION
    assert {State.READY, State.DOWNLOADED, State.ACKNOWLEDGED, State.COMPLETED} == DOWNLOADABLE
    assert {State.REJECTED, State.FAILED} == WAITING_FOR_SENDER
    assert on_the_way(State.ACKNOWLEDGED, State.COMPLETED) == {
        State.ACKNOWLEDGED,
        State.COMPLETED,
    }
