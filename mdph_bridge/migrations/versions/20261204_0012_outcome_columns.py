"""rights by outcome of a transfer's mapping summary as generated integer columns

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 04:35:00

The database computes them from the summary, so the metrics add up the transfers not folded yet
without parsing any JSON, and no writer has to keep them in step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OUTCOMES = ('maintenu', 'maintenu_changement_payeur', 'a_instruire', 'non_transferable', 'echu')


def _expression(outcome: str) -> str:
    return f"CAST(harmonisation -> 'resultats' ->> '{outcome}' AS INTEGER)"


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':  # one rewrite of the table, not five
        op.execute('ALTER TABLE transfers ' + ', '.join(
            f'ADD COLUMN rights_{o} bigint GENERATED ALWAYS AS ({_expression(o)}) STORED'
            for o in OUTCOMES
        ))
        return
    for outcome in OUTCOMES:  # SQLite adds generated columns to a table only as virtual ones
        op.add_column('transfers', sa.Column(
            f'rights_{outcome}', sa.Integer(), sa.Computed(_expression(outcome), persisted=False)
        ))


def downgrade() -> None:
    with op.batch_alter_table('transfers') as batch:
        for outcome in OUTCOMES:
            batch.drop_column(f'rights_{outcome}')
