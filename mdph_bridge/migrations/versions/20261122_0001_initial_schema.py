"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 05:04:00.221208
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mdph_bridge.models.base


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('departements',
    sa.Column('code', sa.String(length=3), nullable=False),
    sa.Column('nom', sa.String(length=100), nullable=False),
    sa.Column('created_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('inbound_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_departements'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('departement_code', sa.String(length=3), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['departement_code'], ['departements.code'], name=op.f('fk_api_tokens_departement_code_departements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_index(op.f('ix_api_tokens_departement_code'), 'api_tokens', ['departement_code'], unique=False)
    op.create_table('departement_keys',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('departement_code', sa.String(length=3), nullable=False),
    sa.Column('usage', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.String(length=200), nullable=False),
    sa.Column('valid_from', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['departement_code'], ['departements.code'], name=op.f('fk_departement_keys_departement_code_departements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departement_keys')),
    sa.UniqueConstraint('public_key', name=op.f('uq_departement_keys_public_key'))
    )
    op.create_index(op.f('ix_departement_keys_departement_code'), 'departement_keys', ['departement_code'], unique=False)
    op.create_table('transfers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('origin_code', sa.String(length=3), nullable=False),
    sa.Column('dest_code', sa.String(length=3), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('numero_dossier_origine', sa.String(length=40), nullable=False),
    sa.Column('motif', sa.String(length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('request_digest', sa.String(length=64), nullable=True),
    sa.Column('submitted_by', sa.Uuid(), nullable=True),
    sa.Column('submitted_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state_changed_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('lease_until', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('woken_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staging_key_id', sa.String(length=64), nullable=False),
    sa.Column('inbound_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('ready_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('package_key', sa.String(length=200), nullable=True),
    sa.Column('package_size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('package_sha256', sa.String(length=64), nullable=True),
    sa.Column('package_key_ids', sa.JSON(), nullable=True),
    sa.Column('medical_package_key', sa.String(length=200), nullable=True),
    sa.Column('medical_package_size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('medical_package_sha256', sa.String(length=64), nullable=True),
    sa.Column('medical_package_key_ids', sa.JSON(), nullable=True),
    sa.Column('manifest', sa.JSON(), nullable=True),
    sa.Column('receipt', sa.JSON(), nullable=True),
    sa.Column('numero_dossier_destination', sa.String(length=40), nullable=True),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('return_reason', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['dest_code'], ['departements.code'], name=op.f('fk_transfers_dest_code_departements')),
    sa.ForeignKeyConstraint(['origin_code'], ['departements.code'], name=op.f('fk_transfers_origin_code_departements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers')),
    sa.UniqueConstraint('dest_code', 'inbound_seq', name=op.f('uq_transfers_dest_code_inbound_seq')),
    sa.UniqueConstraint('origin_code', 'idempotency_key', name=op.f('uq_transfers_origin_code_idempotency_key'))
    )
    op.create_index('ix_transfers_state_changed', 'transfers', ['state', 'state_changed_at'], unique=False)
    op.create_table('transfer_documents',
    sa.Column('transfer_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type_piece', sa.String(length=32), nullable=False),
    sa.Column('medical', sa.Boolean(), nullable=False),
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('mime', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_transfer_documents_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('transfer_id', 'position', name=op.f('pk_transfer_documents'))
    )
    op.create_table('transfer_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('transfer_id', sa.Uuid(), nullable=False),
    sa.Column('at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_transfer_events_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_events'))
    )
    op.create_index(op.f('ix_transfer_events_transfer_id'), 'transfer_events', ['transfer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_transfer_events_transfer_id'), table_name='transfer_events')
    op.drop_table('transfer_events')
    op.drop_table('transfer_documents')
    op.drop_index('ix_transfers_state_changed', table_name='transfers')
    op.drop_table('transfers')
    op.drop_index(op.f('ix_departement_keys_departement_code'), table_name='departement_keys')
    op.drop_table('departement_keys')
    op.drop_index(op.f('ix_api_tokens_departement_code'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_table('departements')
