"""drafts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 23:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mdph_bridge.models.base


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('drafts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('departement_code', sa.String(length=3), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('created_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['accounts.id'], name=op.f('fk_drafts_created_by_accounts')),
    sa.ForeignKeyConstraint(['departement_code'], ['departements.code'], name=op.f('fk_drafts_departement_code_departements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drafts'))
    )
    op.create_index(op.f('ix_drafts_departement_code'), 'drafts', ['departement_code'], unique=False)
    op.create_index(op.f('ix_drafts_updated_at'), 'drafts', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_drafts_updated_at'), table_name='drafts')
    op.drop_index(op.f('ix_drafts_departement_code'), table_name='drafts')
    op.drop_table('drafts')
