"""the unique (dest_code, inbound_seq) index holds the given positions only

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 04:30:00

A position is given at `ready`; the submission and the claim wrote an entry with an empty one
into this index at every new version of the row. Every query of the index asks for given
positions (`inbound_seq > n`, its greatest value), so a partial index serves them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

NAME = 'uq_transfers_dest_code_inbound_seq'
GIVEN = sa.text('inbound_seq IS NOT NULL')
OUTCOMES = ('maintenu', 'maintenu_changement_payeur', 'a_instruire', 'non_transferable', 'echu')


def _generated(outcome: str) -> sa.Column[int]:
    """A count as 0012 made it on SQLite (virtual: SQLite adds no stored column to a table)."""
    computed = sa.Computed(
        f"CAST(harmonisation -> 'resultats' ->> '{outcome}' AS INTEGER)", persisted=False
    )
    return sa.Column(f'rights_{outcome}', sa.Integer(), computed)


@contextmanager
def _rebuilt() -> Iterator[BatchOperations]:
    """The table rebuilt on SQLite (altered on PostgreSQL), its generated counts set aside.

    SQLite's rebuild copies every column, and refuses values for generated ones: they are
    dropped first and added again after, computed from the summary as before.
    """
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        for outcome in OUTCOMES:
            op.drop_column('transfers', f'rights_{outcome}')
    with op.batch_alter_table('transfers') as batch:
        yield batch
    if sqlite:
        for outcome in OUTCOMES:
            op.add_column('transfers', _generated(outcome))


def upgrade() -> None:
    with _rebuilt() as batch:
        batch.drop_constraint(NAME, type_='unique')
    # Alembic's `sqlite_where` is ignored outside SQLite, `postgresql_where` outside PostgreSQL.
    op.create_index(
        NAME, 'transfers', ['dest_code', 'inbound_seq'],
        unique=True, postgresql_where=GIVEN, sqlite_where=GIVEN,
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name='transfers')
    with _rebuilt() as batch:
        batch.create_unique_constraint(NAME, ['dest_code', 'inbound_seq'])
