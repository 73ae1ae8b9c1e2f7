"""audit log, token expiry and last use, package retention

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mdph_bridge.models.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
# PostgreSQL refuses to change or delete audit entries; only the retention purge may delete, and it
# says so with a transaction-local setting (services.audit.purge). The hash chain detects the rest.
APPEND_ONLY = """
CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('mdph.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_entries is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();
"""


def upgrade() -> None:
    op.create_table('audit_chain',
    sa.Column('id', BIGINT, autoincrement=False, nullable=False),
    sa.Column('last_seq', BIGINT, nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('anchor_seq', BIGINT, nullable=False),
    sa.Column('anchor_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain'))
    )
    op.create_table('audit_entries',
    sa.Column('seq', BIGINT, autoincrement=False, nullable=False),
    sa.Column('at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('departement', sa.String(length=3), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('object_type', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entries'))
    )
    op.create_index(op.f('ix_audit_entries_at'), 'audit_entries', ['at'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(APPEND_ONLY)
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.add_column(sa.Column('expires_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('transfers') as batch_op:
        batch_op.add_column(sa.Column('packages_deleted_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('undownloaded_alert_at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transfers') as batch_op:
        batch_op.drop_column('undownloaded_alert_at')
        batch_op.drop_column('packages_deleted_at')
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('expires_at')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER audit_entries_append_only ON audit_entries')
        op.execute('DROP FUNCTION audit_entries_append_only()')
    op.drop_index(op.f('ix_audit_entries_at'), table_name='audit_entries')
    op.drop_table('audit_entries')
    op.drop_table('audit_chain')
