"""version of the receiving client last seen with each token

Revision ID: 0008
Revises: 0012
Create Date: 2026-12-03 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.add_column(sa.Column('client_version', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.drop_column('client_version')
