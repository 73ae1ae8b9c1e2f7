"""the sealed staged dossier kept in the transfer's row

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 06:30:00

A submission sealed its dossier JSON into a file of its own (`staging/<id>.dossier`), which the
worker opened, read and deleted: three file operations per transfer, each costly in kernel CPU.
The sealed bytes (a few KiB of ciphertext, the same seal as the file's) now ride in the row, from
the submission until the transfer no longer needs its staging. A transfer staged before this has
none and is read from its file, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


# Not in batch mode: SQLite adds and drops a plain column in place (3.35+), whereas a batch would
# copy the table, which it cannot do with the generated columns of 0012.


def upgrade() -> None:
    op.add_column('transfers', sa.Column('sealed_dossier', sa.LargeBinary(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        # Ciphertext does not compress: not tried. Past ~2 KiB the value lives out of line, so
        # the claim's and `ready`'s new row versions carry a pointer to it, not its bytes.
        op.execute('ALTER TABLE transfers ALTER COLUMN sealed_dossier SET STORAGE EXTERNAL')


def downgrade() -> None:
    """Refused while a transfer's dossier is only in its row: dropping the column would lose it."""
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        # No submission may commit a dossier between the count and the drop.
        op.execute('LOCK TABLE transfers IN SHARE MODE')
    held = bind.execute(
        sa.text('SELECT count(*) FROM transfers WHERE sealed_dossier IS NOT NULL')
    ).scalar_one()
    if held:
        raise RuntimeError(
            f"{held} transfert(s) gardent leur dossier scellé dans la base : laissez les workers "
            "les traiter (relancez ou annulez ceux en échec) avant de revenir en arrière."
        )
    op.drop_column('transfers', 'sealed_dossier')
