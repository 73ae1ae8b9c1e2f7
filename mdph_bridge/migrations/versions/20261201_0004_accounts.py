"""accounts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 17:51:09.449234
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mdph_bridge.models.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('failed_attempts', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('locked_until', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disabled_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sessions_valid_after', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_sign_in_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('login', name=op.f('uq_accounts_login'))
    )
    op.create_table('account_departements',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('departement_code', sa.String(length=3), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_departements_account_id_accounts')),
    sa.ForeignKeyConstraint(['departement_code'], ['departements.code'], name=op.f('fk_account_departements_departement_code_departements')),
    sa.PrimaryKeyConstraint('account_id', 'departement_code', name=op.f('pk_account_departements'))
    )


def downgrade() -> None:
    op.drop_table('account_departements')
    op.drop_table('accounts')
