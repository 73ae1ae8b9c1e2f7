"""The states of a transfer and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where a transfer stands; the values are stable API codes."""

    RECEIVED = "received"
    VALIDATING = "validating"
    READY = "ready"
    DOWNLOADED = "downloaded"
    ACKNOWLEDGED = "acknowledged"
    COMPLETED = "completed"
    REJECTED = "rejected"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    FAILED = "failed"


LABELS: dict[State, str] = {
    State.RECEIVED: "Reçu, en attente de traitement",
    State.VALIDATING: "En cours de vérification",
    State.READY: "Prêt à être téléchargé par la MDPH d'accueil",
    State.DOWNLOADED: "Téléchargé par la MDPH d'accueil",
    State.ACKNOWLEDGED: "Réception confirmée par la MDPH d'accueil",
    State.COMPLETED: "Intégré par la MDPH d'accueil",
    State.REJECTED: "Refusé : à corriger par la MDPH d'origine",
    State.RETURNED: "Renvoyé par la MDPH d'accueil",
    State.CANCELLED: "Annulé",
    State.FAILED: "En échec : intervention nécessaire",
}

TRANSITIONS: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset({State.VALIDATING, State.FAILED, State.CANCELLED}),
    State.VALIDATING: frozenset(
        {State.VALIDATING, State.RECEIVED, State.READY, State.REJECTED, State.FAILED}
    ),
    State.READY: frozenset({State.DOWNLOADED, State.RETURNED, State.CANCELLED}),
    State.DOWNLOADED: frozenset({State.ACKNOWLEDGED, State.RETURNED}),
    State.ACKNOWLEDGED: frozenset({State.COMPLETED, State.RETURNED}),
    State.REJECTED: frozenset({State.RECEIVED, State.CANCELLED}),
    State.FAILED: frozenset({State.RECEIVED, State.CANCELLED}),
    State.COMPLETED: frozenset(),
    State.RETURNED: frozenset(),
    State.CANCELLED: frozenset(),
}


def can_move(source: State, target: State) -> bool:
    """Tell whether a transfer in `source` may move to `target`."""
    return target in TRANSITIONS[source]


def sources_of(target: State) -> frozenset[State]:
    """The states a transfer may move to `target` from."""
    return frozenset(state for state, nexts in TRANSITIONS.items() if target in nexts)


def reachable(start: State) -> frozenset[State]:
    """The states a transfer in `start` may reach, in one move or more."""
    seen: set[State] = set()
    todo = [start]
    while todo:
        for following in TRANSITIONS[todo.pop()] - seen:
            seen.add(following)
            todo.append(following)
    return frozenset(seen)


def on_the_way(start: State, end: State) -> frozenset[State]:
    """The states a transfer may pass through from `start` to `end`, both included."""
    return frozenset(
        state for state in reachable(start) | {start} if state == end or end in reachable(state)
    )


# States nothing follows: the transfer is over (integrated, returned or cancelled).
FINISHED: frozenset[State] = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
OPEN: frozenset[State] = frozenset(State) - FINISHED
CANCELLABLE: frozenset[State] = sources_of(State.CANCELLED)
# With the receiving MDPH, which may still send it back: ready, downloaded, acknowledged.
AT_DESTINATION: frozenset[State] = sources_of(State.RETURNED)
# Packaged for the destination and not given up: its package may be downloaded.
DOWNLOADABLE: frozenset[State] = on_the_way(State.READY, State.COMPLETED)
# Stopped until the sender sends again or cancels: rejected, failed.
WAITING_FOR_SENDER: frozenset[State] = frozenset(
    state
    for state, nexts in TRANSITIONS.items()
    if nexts and nexts <= {State.RECEIVED, State.CANCELLED}
)
# The states in which the sealed payload must be kept: the transfer may still be packaged.
NEEDS_STAGING: frozenset[State] = frozenset({State.RECEIVED, State.VALIDATING, State.FAILED})
