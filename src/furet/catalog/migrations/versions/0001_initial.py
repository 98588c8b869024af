"""Initial catalog: collections, files, items, embeddings, counters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "collections",
        sa.Column("collection_id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "files",
        sa.Column("file_id", sa.Integer(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("collections.collection_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("collection_id", "path"),
    )
    op.create_table(
        "items",
        sa.Column("item_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("collections.collection_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "file_id",
            sa.Integer(),
            sa.ForeignKey("files.file_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("video_time", sa.Float(), nullable=True),
        sa.Column("shot", sa.Integer(), nullable=True),
        sa.Column("shot_start", sa.Float(), nullable=True),
        sa.Column("shot_end", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_items_collection", "items", ["collection_id"])
    op.create_index("ix_items_file", "items", ["file_id"])
    op.create_table(
        "embeddings",
        sa.Column(
            "item_id",
            sa.BigInteger(),
            sa.ForeignKey("items.item_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("space", sa.String(100), primary_key=True),
        sa.Column("segment", sa.String(100), nullable=False),
    )
    op.create_index("ix_embeddings_segment", "embeddings", ["segment"])


def downgrade() -> None:
    for table in ("embeddings", "items", "files", "collections", "counters"):
        op.drop_table(table)
