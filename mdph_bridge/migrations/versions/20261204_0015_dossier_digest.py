"""the digest binding a staged dossier to its validation

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 18:00:00

The SHA-256 of the dossier bytes validated at submission or correction and staged: the worker
that reads back the same bytes skips the schema's validation. Transfers staged before this have
none and are validated in full, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


# Not in batch mode: SQLite adds and drops a plain column in place (3.35+), whereas a batch would
# copy the table, which it cannot do with the generated columns of 0012.


def upgrade() -> None:
    op.add_column('transfers', sa.Column('dossier_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('transfers', 'dossier_sha256')
