"""harmonisation summary on transfers

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('transfers', sa.Column('harmonisation', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('transfers', 'harmonisation')
