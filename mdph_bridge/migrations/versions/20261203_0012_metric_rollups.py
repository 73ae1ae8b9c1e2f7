"""monthly roll-ups of the supervisors' figures

Revision ID: 0012
Revises: 0003
Create Date: 2026-12-03 00:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'metric_rollups',
        sa.Column('source', sa.String(length=12), nullable=False),
        sa.Column('origin_code', sa.String(length=3), nullable=False),
        sa.Column('dest_code', sa.String(length=3), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('measure', sa.String(length=32), nullable=False),
        sa.Column('count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('total', sa.Float(), nullable=False),
        sa.Column('within', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('maximum', sa.Float(), nullable=True),
        sa.Column('histogram', sa.JSON(), nullable=False),
        sa.Column('sketch', sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint(
            'source', 'origin_code', 'dest_code', 'month', 'measure', name=op.f('pk_metric_rollups')
        ),
    )
    for table in ('transfers', 'historical_transfers'):
        op.add_column(
            table, sa.Column('rolled_up', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        'ix_transfers_not_rolled_up', 'transfers', ['origin_code', 'dest_code'],
        postgresql_where=sa.text('NOT rolled_up'), sqlite_where=sa.text('NOT rolled_up'),
    )
    op.create_index(
        'ix_historical_transfers_not_rolled_up', 'historical_transfers', ['origin_code'],
        postgresql_where=sa.text('NOT rolled_up'), sqlite_where=sa.text('NOT rolled_up'),
    )


def downgrade() -> None:
    op.drop_index('ix_historical_transfers_not_rolled_up', table_name='historical_transfers')
    op.drop_index('ix_transfers_not_rolled_up', table_name='transfers')
    for table in ('transfers', 'historical_transfers'):
        op.drop_column(table, 'rolled_up')
    op.drop_table('metric_rollups')
