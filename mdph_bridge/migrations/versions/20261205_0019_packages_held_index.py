"""the transfers holding packages, by state and last step: retention's batches

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 10:00:00

Retention deletes the packages of transfers finished more than the retention period ago, oldest
first, a batch at a time. `ix_transfers_state_changed` holds every finished transfer, and nearly
all of them are past that period with their packages long gone: PostgreSQL read the whole table
at every batch instead (286 ms on 1,000,000 transfers). The same columns, indexed only for the
transfers that still hold packages (from `ready` until retention), give the few that are due;
SQLite picks it too, without statistics.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

NAME = 'ix_transfers_packages_held'
HELD = sa.text('package_key IS NOT NULL OR medical_package_key IS NOT NULL')


def upgrade() -> None:
    # Outside the migration's transaction (CONCURRENTLY: no write waits for it), as 0013 builds
    # its index: if the build fails, the next upgrade simply builds it again.
    with op.get_context().autocommit_block():
        postgresql = op.get_bind().dialect.name == 'postgresql'
        if postgresql:
            # The build waits for every older transaction: the 10 s lock timeout the migrations
            # run with (env.py) would fail it on a busy hub. Waiting here blocks no one.
            previous = op.get_bind().exec_driver_sql('SHOW lock_timeout').scalar()
            op.execute('SET lock_timeout = 0')
            # An invalid index left by an interrupted build.
            op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {NAME}')
        op.create_index(
            NAME, 'transfers', ['state', 'state_changed_at'],
            postgresql_where=HELD, sqlite_where=HELD, postgresql_concurrently=True,
        )
        if postgresql:
            op.execute(f"SET lock_timeout = '{previous}'")


def downgrade() -> None:
    op.drop_index(NAME, table_name='transfers')
