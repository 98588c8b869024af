"""Classes, append-only labels, external examples, class versions, users.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "classes",
        sa.Column("class_id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.user_id"), nullable=False),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("collections.collection_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("space", sa.String(100), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("owner_id", "name"),
    )
    op.create_table(
        "labels",
        sa.Column("label_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "class_id",
            sa.Integer(),
            sa.ForeignKey("classes.class_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.user_id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_labels_class_item", "labels", ["class_id", "item_id"])
    op.create_table(
        "class_examples",
        sa.Column("example_id", sa.Integer(), primary_key=True),
        sa.Column(
            "class_id",
            sa.Integer(),
            sa.ForeignKey("classes.class_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "class_versions",
        sa.Column(
            "class_id",
            sa.Integer(),
            sa.ForeignKey("classes.class_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("n_pos", sa.Integer(), nullable=False),
        sa.Column("n_neg", sa.Integer(), nullable=False),
        sa.Column("n_weak", sa.Integer(), nullable=False),
        sa.Column("cv_score", sa.Float(), nullable=True),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.Column("bias", sa.Float(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("class_versions", "class_examples", "labels", "classes", "users"):
        op.drop_table(table)
