"""Imported embeddings: a file may be known by a URL and a caption (clip-retrieval metadata).

Revision ID: 0006
Revises: 0005

Plain nullable ``ADD COLUMN``s (never a batch copy of ``files``: on SQLite that would cascade to
the items).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("url", "caption")


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("files")}
    for column in COLUMNS:
        if column not in present:
            op.add_column("files", sa.Column(column, sa.Text(), nullable=True))


def downgrade() -> None:
    for column in COLUMNS:
        op.execute(f"ALTER TABLE files DROP COLUMN {column}")
