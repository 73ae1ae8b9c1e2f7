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

# The states in which the sealed payload must be kept: the transfer may still be packaged.
# States nothing follows: the transfer is over (integrated, returned or cancelled).
FINISHED: frozenset[State] = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
NEEDS_STAGING: frozenset[State] = frozenset({State.RECEIVED, State.VALIDATING, State.FAILED})


def can_move(source: State, target: State) -> bool:
    """Tell whether a transfer in `source` may move to `target`."""
    return target in TRANSITIONS[source]
