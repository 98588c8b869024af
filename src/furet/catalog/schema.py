"""Catalog tables (small data: collections, files, items, embeddings, errors).

Big data (vectors) lives in segments on disk; the ``embeddings`` table says which segment holds
the live vector of an item in a space, and is the commit point of ingestion.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Counter(Base):
    """Monotonic id allocator (item ids are never reused, even after a crash)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CollectionRow(Base):
    __tablename__ = "collections"
    collection_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FileRow(Base):
    """One source file of a collection, with what incremental ingestion compares."""

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("collection_id", "path"),)
    file_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.collection_id", ondelete="CASCADE"), nullable=False
    )
    path: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: "ok", "error" (remembered so an unchanged bad file is not retried) or "imported" (its
    #: vector came from ``furet import``, not from decoding the file).
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Where an imported file lives when it is not a local file, and its caption (both optional).
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    caption: Mapped[str | None] = mapped_column(Text, nullable=True)


class ItemRow(Base):
    """An image, or a keyframe of a video (``video_time`` and ``shot`` set)."""

    __tablename__ = "items"
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.collection_id", ondelete="CASCADE"), nullable=False
    )
    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.file_id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="image")
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    video_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    shot: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shot_start: Mapped[float | None] = mapped_column(Float, nullable=True)
    shot_end: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_items_collection", ItemRow.collection_id)
Index("ix_items_file", ItemRow.file_id)


class EmbeddingRow(Base):
    """Where the live vector of an item in one embedding space is stored."""

    __tablename__ = "embeddings"
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.item_id", ondelete="CASCADE"), primary_key=True
    )
    space: Mapped[str] = mapped_column(String(100), primary_key=True)
    segment: Mapped[str] = mapped_column(String(100), nullable=False)


Index("ix_embeddings_segment", EmbeddingRow.segment)


class UserRow(Base):
    """A user; the CLI acts as the ``local`` user. Accounts and keys extend it (web layer)."""

    __tablename__ = "users"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Account columns (0003): a user without a password hash cannot log in (e.g. ``local``).
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="member")
    #: Requests per UTC day; None means the server's default.
    daily_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ClassRow(Base):
    """A visual class being taught: owned by a user, bound to a collection and a space."""

    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)
    class_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.user_id"), nullable=False)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.collection_id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    space: Mapped[str] = mapped_column(String(100), nullable=False)
    #: 'private', 'groups' or 'public', for display: follows ``public_right`` and the shares.
    visibility: Mapped[str] = mapped_column(String(16), nullable=False, default="private")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Sharing (0005). What every user may do with the class: None (nothing), 'read' or 'edit'.
    public_right: Mapped[str | None] = mapped_column(String(8), nullable=True, default=None)
    #: The class this one was forked from (None once that one is deleted) ...
    origin_class_id: Mapped[int | None] = mapped_column(
        ForeignKey("classes.class_id", ondelete="SET NULL"), nullable=True, default=None
    )
    #: ... and its "owner/name" at the time, which outlives it.
    origin: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)


class LabelRow(Base):
    """Append-only label history; the current label of (class, item) is its latest row.

    ``value``: +1 positive, -1 negative, 0 label removed. Never updated in place, so concurrent
    writers cannot overwrite each other and relabelling keeps the history.
    """

    __tablename__ = "labels"
    label_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    class_id: Mapped[int] = mapped_column(
        ForeignKey("classes.class_id", ondelete="CASCADE"), nullable=False
    )
    item_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    value: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_labels_class_item", LabelRow.class_id, LabelRow.item_id)


class ExampleRow(Base):
    """A positive example that is not an item (an uploaded image), kept as its vector."""

    __tablename__ = "class_examples"
    example_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[int] = mapped_column(
        ForeignKey("classes.class_id", ondelete="CASCADE"), nullable=False
    )
    source: Mapped[str] = mapped_column(Text, nullable=False)
    vector: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # float32 (dim,)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClassVersionRow(Base):
    """One trained model of a class (a round's linear model and how it was trained)."""

    __tablename__ = "class_versions"
    class_id: Mapped[int] = mapped_column(
        ForeignKey("classes.class_id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    n_pos: Mapped[int] = mapped_column(Integer, nullable=False)
    n_neg: Mapped[int] = mapped_column(Integer, nullable=False)
    n_weak: Mapped[int] = mapped_column(Integer, nullable=False)
    cv_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    weights: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # float32 (dim,)
    bias: Mapped[float] = mapped_column(Float, nullable=False)
    params: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    #: The user whose round trained it (None for versions made before 0005).
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.user_id"), nullable=True)


class GroupRow(Base):
    """A group of users (an institution); classes are shared with groups (``class_shares``)."""

    __tablename__ = "groups"
    group_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MembershipRow(Base):
    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.group_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )


class ClassShareRow(Base):
    """A class granted to a group: its members may ``read`` it or ``edit`` it (label, rounds)."""

    __tablename__ = "class_shares"
    class_id: Mapped[int] = mapped_column(
        ForeignKey("classes.class_id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.group_id", ondelete="CASCADE"), primary_key=True
    )
    access: Mapped[str] = mapped_column(String(8), nullable=False)  # read | edit
    granted_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.user_id", ondelete="SET NULL"), nullable=True
    )
    granted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


Index("ix_class_shares_group", ClassShareRow.group_id)


class ApiKeyRow(Base):
    """An API key: only the sha256 of its secret is stored; ``prefix`` tells keys apart."""

    __tablename__ = "api_keys"
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebSessionRow(Base):
    """A browser session: the signed cookie carries a random token, only its sha256 is stored.
    Logging out, a password change or disabling the account revokes it (``revoked_at``)."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)
    session_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoginThrottleRow(Base):
    """Failed logins per subject (``name:<user name>`` or ``addr:<client address>``)."""

    __tablename__ = "login_throttle"
    subject: Mapped[str] = mapped_column(String(140), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UsageRow(Base):
    """Requests counted per quota subject (``user:<id>``, every key and session of the account
    together) and UTC day."""

    __tablename__ = "usage"
    subject: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
