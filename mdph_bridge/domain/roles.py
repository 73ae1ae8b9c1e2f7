"""Who may do what: the roles of API tokens and agents' accounts; the values are stable codes."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token or an account is for."""

    CASEWORKER = "caseworker"  # the sending MDPH: submits, follows, corrects, cancels
    RECEIVER = "receiver"  # the receiving MDPH: downloads, acknowledges, completes, returns
    DOCTOR = "doctor"  # a receiver who may also open the medical package
    SUPERVISOR = "supervisor"  # delay figures of the département, no personal data
    ADMIN = "admin"  # the hub's operators


ROLES: tuple[str, ...] = tuple(role.value for role in Role)
# The roles of the receiving side: both may receive; only a doctor opens the medical package.
RECEIVING = (Role.RECEIVER, Role.DOCTOR)
