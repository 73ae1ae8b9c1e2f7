"""how many milestones of an open transfer the metrics roll-ups already hold; open ones by deadline

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 09:00:00

The fold adds the steps an open transfer has done to the roll-ups as soon as they are done (a step
never changes once its milestone is set), so the metrics read only the steps done since the last
fold instead of every step of every open transfer. A constant default: no rewrite of the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


OPEN = "state IN ('acknowledged', 'downloaded', 'failed', 'ready', 'received', 'rejected', 'validating')"


def upgrade() -> None:
    # The index first, outside the migration's transaction (CONCURRENTLY: no write waits for it).
    # If its build fails, nothing else is committed and the next upgrade simply builds it again.
    with op.get_context().autocommit_block():
        if op.get_bind().dialect.name == "postgresql":
            # The build waits for every older transaction: the 10 s lock timeout the migrations
            # run with (env.py) would fail it on a busy hub. Waiting here blocks no one.
            previous = op.get_bind().exec_driver_sql("SHOW lock_timeout").scalar()
            op.execute("SET lock_timeout = 0")
            # An invalid index left by an interrupted build.
            op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_transfers_open_due")
        op.create_index(
            'ix_transfers_open_due', 'transfers', ['due_at', 'id'],
            postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN),
            postgresql_concurrently=True,
        )
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"SET lock_timeout = '{previous}'")
    op.add_column('transfers', sa.Column(
        'steps_rolled_up', sa.SmallInteger(), nullable=False, server_default='0'
    ))


def downgrade() -> None:
    op.drop_index('ix_transfers_open_due', table_name='transfers')
    # Not a batch: SQLite drops the column in place (3.35+); a batch would copy the table, whose
    # generated outcome columns (0012) it cannot reflect.
    op.drop_column('transfers', 'steps_rolled_up')
