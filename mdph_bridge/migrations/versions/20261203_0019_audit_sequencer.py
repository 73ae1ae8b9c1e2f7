"""audit v2: entries appended without a lock, sealed by one sequencer, signed checkpoints

Revision ID: 0019
Revises: 0008
Create Date: 2026-12-03 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mdph_bridge.models.base


revision = '0019'
down_revision = '0008'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
# PostgreSQL refuses any change to sealed entries and checkpoints. Only entries older than the
# legal minimum retention (92 days, CASF R146-46) may be deleted, whatever a session sets; the
# sequencer alone moves pending entries into the chain. Verification against signed checkpoints
# catches what a database owner does with the triggers disabled.
TRIGGERS = """
CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < now() - interval '92 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_entries is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_entries_guard BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_guard();
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END $$;
CREATE TRIGGER audit_pending_append_only BEFORE UPDATE ON audit_pending
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"""
OLD_TRIGGER = """
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


def _rehash() -> None:
    """Recompute the existing chain as head(n) = SHA-256(head(n-1) || leaf(n))."""
    from mdph_bridge.domain.checkpoints import GENESIS, link
    from mdph_bridge.services.audit import FIELDS, leaf_hash

    bind = op.get_bind()
    row = bind.execute(sa.text('SELECT anchor_hash FROM audit_chain WHERE id = 1')).first()
    head = row[0] if row else GENESIS
    entries = sa.table(
        'audit_entries',
        *(sa.column(name) for name in FIELDS if name != 'at'),
        sa.column('at', mdph_bridge.models.base.UTCDateTime()),
    )
    rows = bind.execute(sa.select(entries).order_by(entries.c.seq)).mappings()
    last = 0
    for entry in list(rows):
        prev, head = head, link(head, leaf_hash(dict(entry)))
        bind.execute(
            sa.text('UPDATE audit_entries SET prev_hash = :p, hash = :h WHERE seq = :s'),
            {'p': prev, 'h': head, 's': entry['seq']},
        )
        last = entry['seq']
    if row is None:
        bind.execute(sa.text(
            "INSERT INTO audit_chain (id, last_seq, last_hash, anchor_seq, anchor_hash) "
            "VALUES (1, :s, :h, 0, :g)"
        ), {'s': last, 'h': head, 'g': GENESIS})
    else:
        bind.execute(sa.text('UPDATE audit_chain SET last_seq = :s, last_hash = :h WHERE id = 1'),
                     {'s': last, 'h': head})


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    if postgresql:
        op.execute('DROP TRIGGER audit_entries_append_only ON audit_entries')
        op.execute('DROP FUNCTION audit_entries_append_only()')
    with op.batch_alter_table('audit_entries') as batch_op:
        batch_op.add_column(sa.Column('client', sa.String(length=32), nullable=True))
    op.create_table('audit_pending',
    sa.Column('id', BIGINT, autoincrement=True, nullable=False),
    sa.Column('at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=True),
    sa.Column('departement', sa.String(length=3), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('object_type', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('client', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_pending'))
    )
    op.create_table('audit_checkpoints',
    sa.Column('id', BIGINT, autoincrement=True, nullable=False),
    sa.Column('size', BIGINT, nullable=False),
    sa.Column('head', sa.String(length=64), nullable=False),
    sa.Column('at', mdph_bridge.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('anchor_size', BIGINT, nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints'))
    )
    _rehash()
    if postgresql:
        op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints')
        op.execute('DROP TRIGGER audit_pending_append_only ON audit_pending')
        op.execute('DROP FUNCTION audit_append_only()')
        op.execute('DROP TRIGGER audit_entries_guard ON audit_entries')
        op.execute('DROP FUNCTION audit_entries_guard()')
        op.execute(OLD_TRIGGER)
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_pending')
    with op.batch_alter_table('audit_entries') as batch_op:
        batch_op.drop_column('client')
