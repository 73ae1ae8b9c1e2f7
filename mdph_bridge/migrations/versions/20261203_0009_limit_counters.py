"""limit counters shared by the web workers when there is no Redis

Revision ID: 0009
Revises: 0019
Create Date: 2026-12-03 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'limit_counters',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_limit_counters')),
    )


def downgrade() -> None:
    op.drop_table('limit_counters')
