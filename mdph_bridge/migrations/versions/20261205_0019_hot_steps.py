"""no index reads the state: a step that changes no indexed column is a HOT update

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-05 07:00:00

Every step writes `state` and `state_changed_at`. Two indexes read `state`
(`ix_transfers_state_changed`, and `ix_transfers_open_due` by its condition), so every new version
of a row wrote an entry into each of the table's indexes. Without them the claim, `downloaded`,
`acknowledged` and `completed` change no indexed column and PostgreSQL writes them as heap-only
(HOT) versions, on the same page, with no index entry. The open transfers are found by the
transfers not folded into the roll-ups yet (only a finished one is ever folded), the finished ones
whose packages retention deletes by the transfers that hold packages; statistics on `state` and
`rolled_up` together tell the planner that the open ones are the unfolded ones. A fillfactor of
90 leaves room on each new page for these versions (existing pages are not rewritten).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None

OPEN = "state IN ('acknowledged', 'downloaded', 'failed', 'ready', 'received', 'rejected', 'validating')"
UNFOLDED = 'NOT rolled_up'
HELD = 'package_key IS NOT NULL OR medical_package_key IS NOT NULL'
STATISTICS = 'st_transfers_state_rolled_up'
NEW = {
    'ix_transfers_unfolded_due': (['due_at', 'id'], UNFOLDED),
    'ix_transfers_packages_held': (['id'], HELD),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == 'postgresql'


def upgrade() -> None:
    # The new indexes first, outside the migration's transaction, as 0013 builds its own.
    with op.get_context().autocommit_block():
        if _postgresql():
            # The build waits for every older transaction: not under the 10 s lock timeout.
            previous = op.get_bind().exec_driver_sql('SHOW lock_timeout').scalar()
            op.execute('SET lock_timeout = 0')
            for name in NEW:  # an invalid index left by an interrupted build
                op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {name}')
        for name, (columns, where) in NEW.items():
            op.create_index(
                name, 'transfers', columns, postgresql_where=sa.text(where),
                sqlite_where=sa.text(where), postgresql_concurrently=True,
            )
        if _postgresql():
            op.execute(f"SET lock_timeout = '{previous}'")
    op.drop_index('ix_transfers_open_due', table_name='transfers')
    op.drop_index('ix_transfers_state_changed', table_name='transfers')
    if _postgresql():
        op.execute('ALTER TABLE transfers SET (fillfactor = 90)')
        # Every open transfer is not folded: estimated apart, the two conditions would make the
        # planner expect a hundredth of the open transfers and sort them instead of reading the
        # most overdue in order (see docs/PERFORMANCE.md).
        op.execute(f'CREATE STATISTICS {STATISTICS} (mcv) ON state, rolled_up FROM transfers')
        op.execute('ANALYZE transfers')


def downgrade() -> None:
    if _postgresql():
        op.execute(f'DROP STATISTICS {STATISTICS}')
        op.execute('ALTER TABLE transfers RESET (fillfactor)')
    op.create_index('ix_transfers_state_changed', 'transfers', ['state', 'state_changed_at'])
    op.create_index(
        'ix_transfers_open_due', 'transfers', ['due_at', 'id'],
        postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN),
    )
    for name in NEW:
        op.drop_index(name, table_name='transfers')
