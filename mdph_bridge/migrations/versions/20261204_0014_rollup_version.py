"""the version of the metrics roll-ups, changed by every fold that adds to them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 13:00:00

Each process keeps the figures it read from the roll-ups until a fold changes them: a call reads
this one row and merges the roll-ups again only when its value is not the one they were read at.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'rollup_versions',
        sa.Column('id', sa.SmallInteger(), primary_key=True),
        sa.Column('version', sa.String(32), nullable=False),
    )
    op.bulk_insert(table, [{'id': 1, 'version': uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table('rollup_versions')
