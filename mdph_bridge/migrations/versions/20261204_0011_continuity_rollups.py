"""continuity of rights folded into roll-ups

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 03:20:00

The transfers already folded (`rolled_up`) are counted here once, so the roll-ups plus the
transfers not folded yet hold every mapping summary, as the exact reference does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OUTCOMES = ('maintenu', 'maintenu_changement_payeur', 'a_instruire', 'non_transferable', 'echu')


def _backfill() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        month = "to_char(submitted_at AT TIME ZONE 'Europe/Paris', 'YYYY-MM')"
        count = "(harmonisation -> 'resultats' ->> '{}')::bigint"
    else:
        month = "strftime('%Y-%m', submitted_at)"
        count = "CAST(json_extract(harmonisation, '$.resultats.{}') AS INTEGER)"
    sums = ', '.join(f'coalesce(sum({count.format(o)}), 0)' for o in OUTCOMES)
    mapped = f'count({count.format(OUTCOMES[0])})'
    op.execute(
        f"INSERT INTO continuity_rollups (origin_code, dest_code, month, transfers, "
        f"{', '.join(OUTCOMES)}) "
        f"SELECT origin_code, dest_code, {month}, {mapped}, {sums} FROM transfers "
        f"WHERE rolled_up GROUP BY origin_code, dest_code, {month} HAVING {mapped} > 0"
    )


def upgrade() -> None:
    counter = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'continuity_rollups',
        sa.Column('origin_code', sa.String(length=3), nullable=False),
        sa.Column('dest_code', sa.String(length=3), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('transfers', counter, nullable=False),
        *(sa.Column(outcome, counter, nullable=False) for outcome in OUTCOMES),
        sa.PrimaryKeyConstraint(
            'origin_code', 'dest_code', 'month', name=op.f('pk_continuity_rollups')
        ),
    )
    _backfill()


def downgrade() -> None:
    op.drop_table('continuity_rollups')
