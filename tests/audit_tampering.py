"""What an attacker with write access to the database does to the audit log, on either backend.

Each case leaves a log that is consistent in itself (the chain recomputed, the head moved, the
stored checkpoints removed) unless said otherwise: only a checkpoint kept outside catches it.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from mdph_bridge.domain.checkpoints import link
from mdph_bridge.models import AuditChain, AuditEntry
from mdph_bridge.services.audit import FIELDS, leaf_hash


def _sql(session: Session, *statements: str) -> None:
    if session.get_bind().dialect.name == "postgresql":  # as the owner: triggers off
        session.execute(text("SET LOCAL session_replication_role = replica"))
    for statement in statements:
        session.execute(text(statement))


def _rechain(session: Session) -> None:
    """Recompute every hash from the anchor and move the head: the chain verifies again."""
    chain = session.get(AuditChain, 1, populate_existing=True)
    head = chain.anchor_hash
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    for entry in rows:
        fields = {name: getattr(entry, name) for name in FIELDS}
        prev, head = head, link(head, leaf_hash(fields))
        session.execute(
            text("UPDATE audit_entries SET prev_hash = :p, hash = :h WHERE seq = :s"),
            {"p": prev, "h": head, "s": entry.seq},
        )
    last = rows[-1].seq if rows else chain.anchor_seq
    session.execute(
        text("UPDATE audit_chain SET last_seq = :s, last_hash = :h WHERE id = 1"),
        {"s": last, "h": head},
    )
    session.execute(text("DELETE FROM audit_checkpoints"))


def _renumber_after(session: Session, seq: int) -> None:
    later = session.scalars(select(AuditEntry.seq).where(AuditEntry.seq > seq)).all()
    for n in sorted(later):
        session.execute(text(f"UPDATE audit_entries SET seq = {n - 1} WHERE seq = {n}"))  # noqa: S608


CASES = ("tail_cut", "middle_deletion", "edit", "reorder", "young_purge", "rollback")


def tamper(session: Session, case: str) -> None:
    """Do `case` to a sealed log of 10 entries (all younger than the retention period)."""
    session.rollback()
    if case == "tail_cut":
        _sql(session, "DELETE FROM audit_entries WHERE seq > 7")
        _rechain(session)
    elif case == "middle_deletion":
        _sql(session, "DELETE FROM audit_entries WHERE seq = 4")
        _renumber_after(session, 4)
        _rechain(session)
    elif case == "edit":
        _sql(session, "UPDATE audit_entries SET outcome = '500' WHERE seq = 5")
        _rechain(session)
    elif case == "reorder":
        _sql(
            session,
            "UPDATE audit_entries SET seq = -3 WHERE seq = 3",
            "UPDATE audit_entries SET seq = 3 WHERE seq = 6",
            "UPDATE audit_entries SET seq = 6 WHERE seq = -3",
        )
        _rechain(session)
    elif case == "young_purge":  # what the purge does, but to young entries and unsigned
        head = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == 3))
        _sql(
            session,
            "DELETE FROM audit_entries WHERE seq <= 3",
            f"UPDATE audit_chain SET anchor_seq = 3, anchor_hash = '{head}' WHERE id = 1",  # noqa: S608
            "DELETE FROM audit_checkpoints",
        )
    elif case == "rollback":  # a backup of when the log had 6 entries, restored
        head = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == 6))
        _sql(
            session,
            "DELETE FROM audit_entries WHERE seq > 6",
            f"UPDATE audit_chain SET last_seq = 6, last_hash = '{head}' WHERE id = 1",  # noqa: S608
            "DELETE FROM audit_checkpoints WHERE size > 6",
        )
    else:
        raise ValueError(case)
    session.commit()
