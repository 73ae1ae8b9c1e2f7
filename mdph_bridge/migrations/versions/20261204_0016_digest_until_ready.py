"""the dossier's digest kept only while the worker may need it

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 20:10:00

A transfer keeps the SHA-256 of its validated dossier only while it waits for, or is in, a
processing attempt (received, validating, failed and requeued by an administrator): from `ready`,
`rejected` or `cancelled` on, the hub clears it, so a stored digest cannot confirm a guess of a
dossier's bytes. This clears it on the rows that went past those states under 0015.
"""

from __future__ import annotations

from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE transfers SET dossier_sha256 = NULL"
        " WHERE dossier_sha256 IS NOT NULL AND state NOT IN ('received', 'validating', 'failed')"
    )


def downgrade() -> None:
    """Nothing to restore: a cleared digest makes the worker validate in full, as before 0015."""
