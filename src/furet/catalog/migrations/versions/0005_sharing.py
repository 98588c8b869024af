"""Sharing: grants of classes to groups, a public right, fork origins, who made each version.

Revision ID: 0005
Revises: 0004

``classes`` is altered with plain ``ADD COLUMN`` (never a batch copy): on SQLite a batch
migration drops and recreates the table, and with foreign keys on, dropping ``classes`` would
cascade to every label, example and version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _add_reference(table: str, column: str, target: str, ondelete: str | None) -> None:
    """A nullable integer column referring to ``target`` (``table(column)``)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        if column in {c["name"] for c in sa.inspect(bind).get_columns(table)}:
            return  # left by a downgrade (see there)
        # SQLite accepts a REFERENCES clause in ADD COLUMN when the default is NULL.
        on = f" ON DELETE {ondelete}" if ondelete else ""
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES {target}{on}")
        return
    op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
    ref_table, ref_column = target.rstrip(")").split("(")
    op.create_foreign_key(
        f"fk_{table}_{column}", table, ref_table, [column], [ref_column], ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "class_shares",
        sa.Column(
            "class_id",
            sa.Integer(),
            sa.ForeignKey("classes.class_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "group_id",
            sa.Integer(),
            sa.ForeignKey("groups.group_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("access", sa.String(8), nullable=False),  # read | edit
        sa.Column(
            "granted_by",
            sa.Integer(),
            sa.ForeignKey("users.user_id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_class_shares_group", "class_shares", ["group_id"])
    op.add_column("classes", sa.Column("public_right", sa.String(8), nullable=True))
    _add_reference("classes", "origin_class_id", "classes(class_id)", "SET NULL")
    op.add_column("classes", sa.Column("origin", sa.Text(), nullable=True))
    _add_reference("class_versions", "created_by", "users(user_id)", None)


def downgrade() -> None:
    op.drop_index("ix_class_shares_group", "class_shares")
    op.drop_table("class_shares")
    # SQLite (>= 3.35) drops a plain column in place (no table copy, hence no cascade) but not
    # one with a REFERENCES clause: those two stay, unused by older code, and an upgrade
    # again finds them.
    columns = [("classes", "origin"), ("classes", "public_right")]
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_classes_origin_class_id", "classes", type_="foreignkey")
        op.drop_constraint("fk_class_versions_created_by", "class_versions", type_="foreignkey")
        columns += [("classes", "origin_class_id"), ("class_versions", "created_by")]
    for table, column in columns:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
