"""the Idempotency-Keys' unique index holds the given keys only; no index on `warn_at`

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 12:00:00

Every version of a transfer's row (three in its first minute: submission, claim, `ready`) wrote
an entry into each index of the table. The unique (origin_code, idempotency_key) constraint held
one for every transfer, though most have no key and NULLs never conflict: every lookup asks for
a key (`idempotency_key = …`), so a unique index of the keyed transfers serves them all and
refuses the same duplicates. `ix_transfers_warn_at` served no query: the alerts and the metrics'
list read the open transfers by `ix_transfers_open_due`, and nearly every transfer of a real hub
(every finished one) is past its `warn_at`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

CONSTRAINT = 'uq_transfers_origin_code_idempotency_key'
NAME = 'uq_transfers_origin_code_idempotency_key_given'
GIVEN = sa.text('idempotency_key IS NOT NULL')
WARN = 'ix_transfers_warn_at'
OUTCOMES = ('maintenu', 'maintenu_changement_payeur', 'a_instruire', 'non_transferable', 'echu')


def _generated(outcome: str) -> sa.Column[int]:
    """A count as 0012 made it on SQLite (virtual: SQLite adds no stored column to a table)."""
    computed = sa.Computed(
        f"CAST(harmonisation -> 'resultats' ->> '{outcome}' AS INTEGER)", persisted=False
    )
    return sa.Column(f'rights_{outcome}', sa.Integer(), computed)


@contextmanager
def _rebuilt() -> Iterator[BatchOperations]:
    """The table rebuilt on SQLite (altered on PostgreSQL), its generated counts set aside, as
    0017 does: SQLite's rebuild copies every column and refuses values for generated ones."""
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        for outcome in OUTCOMES:
            op.drop_column('transfers', f'rights_{outcome}')
    with op.batch_alter_table('transfers') as batch:
        yield batch
    if sqlite:
        for outcome in OUTCOMES:
            op.add_column('transfers', _generated(outcome))


@contextmanager
def _built_beside_the_hub() -> Iterator[None]:
    """Outside the migration's transaction, with no lock timeout: a concurrent build waits for
    every older transaction, which the 10 s the migrations otherwise run with (env.py) would fail
    on a busy hub. Waiting there blocks no one."""
    with op.get_context().autocommit_block():
        previous = op.get_bind().exec_driver_sql('SHOW lock_timeout').scalar()
        op.execute('SET lock_timeout = 0')
        yield
        op.execute(f"SET lock_timeout = '{previous}'")


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.drop_index(WARN, table_name='transfers')
        with _rebuilt() as batch:
            batch.drop_constraint(CONSTRAINT, type_='unique')
        op.create_index(
            NAME, 'transfers', ['origin_code', 'idempotency_key'], unique=True, sqlite_where=GIVEN
        )
        return
    # The new index first, outside the migration's transaction (CONCURRENTLY: no write waits for
    # it), as 0013 and 0019 build theirs; the old constraint goes once it is built, so that a key
    # is never unguarded. If the build fails, the next upgrade simply builds it again.
    with _built_beside_the_hub():
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {NAME}')  # an interrupted build's
        op.create_index(
            NAME, 'transfers', ['origin_code', 'idempotency_key'],
            unique=True, postgresql_where=GIVEN, postgresql_concurrently=True,
        )
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {WARN}')
    op.drop_constraint(CONSTRAINT, 'transfers', type_='unique')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.drop_index(NAME, table_name='transfers')
        with _rebuilt() as batch:
            batch.create_unique_constraint(CONSTRAINT, ['origin_code', 'idempotency_key'])
        op.create_index(WARN, 'transfers', ['warn_at'])
        return
    # Built beside the hub too: `ADD CONSTRAINT … UNIQUE` alone would build its index while
    # holding every reader and writer of the table off. The constraint then takes the built index
    # (a brief lock), and the partial one goes.
    with _built_beside_the_hub():
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {CONSTRAINT}')  # an interrupted build's
        op.create_index(
            CONSTRAINT, 'transfers', ['origin_code', 'idempotency_key'],
            unique=True, postgresql_concurrently=True,
        )
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {WARN}')
        op.create_index(WARN, 'transfers', ['warn_at'], postgresql_concurrently=True)
    op.execute(f'ALTER TABLE transfers ADD CONSTRAINT {CONSTRAINT} UNIQUE USING INDEX {CONSTRAINT}')
    op.drop_index(NAME, table_name='transfers')
