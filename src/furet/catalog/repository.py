"""Catalog operations on collections, files, items and embeddings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from furet.catalog.database import engine_of
from furet.catalog.hot import HotStatement, hot_rows
from furet.catalog.schema import (
    ClassRow,
    CollectionRow,
    Counter,
    EmbeddingRow,
    FileRow,
    ItemRow,
    utcnow,
)
from furet.errors import AlreadyExistsError, NotFoundError


@dataclass(frozen=True)
class FileState:
    file_id: int
    size: int
    mtime_ns: int
    status: str
    item_ids: tuple[int, ...]


@dataclass(frozen=True)
class NewItem:
    """An item to insert: the unit of one file that got a vector."""

    item_id: int
    kind: str = "image"
    width: int | None = None
    height: int | None = None
    video_time: float | None = None
    shot: int | None = None
    shot_start: float | None = None
    shot_end: float | None = None


@dataclass(frozen=True)
class FileOutcome:
    """What ingestion learned about one file: its items, or why it failed."""

    path: str
    size: int
    mtime_ns: int
    items: tuple[NewItem, ...] = ()
    error: str | None = None
    url: str | None = None
    caption: str | None = None
    #: Known from imported embeddings (``furet import``), not from a file furet decoded.
    imported: bool = False


@dataclass(frozen=True)
class ItemInfo:
    item_id: int
    path: str
    kind: str
    width: int | None
    height: int | None
    video_time: float | None
    shot: int | None
    shot_start: float | None
    shot_end: float | None
    url: str | None = None
    caption: str | None = None


# Constant SQL (compiled once): every round and search page asks for its items' paths.
_ITEM_INFOS = HotStatement(
    "SELECT i.item_id, f.path, i.kind, i.width, i.height, i.video_time, i.shot, i.shot_start, "
    "i.shot_end, f.url, f.caption FROM items i JOIN files f ON f.file_id = i.file_id "
    "WHERE i.item_id IN :ids",
    expanding=("ids",),
)


class Catalog:
    """Small data in SQL; every method is one short transaction."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    # -- collections -------------------------------------------------------------------------

    def create_collection(self, name: str, model: str) -> CollectionRow:
        with self.sessions.begin() as s:
            if s.scalar(select(CollectionRow).where(CollectionRow.name == name)) is not None:
                raise AlreadyExistsError(f"collection {name!r} already exists")
            row = CollectionRow(name=name, model=model, created_at=utcnow())
            s.add(row)
            s.flush()
            return row

    def drop_empty_collection(self, collection_id: int) -> bool:
        """Delete a collection that holds no file and no class (a first ingest that failed);
        returns whether it was deleted."""
        with self.sessions.begin() as s:
            for used in (
                select(FileRow.file_id).where(FileRow.collection_id == collection_id),
                select(ClassRow.class_id).where(ClassRow.collection_id == collection_id),
            ):
                if s.scalar(used.limit(1)) is not None:
                    return False
            row = s.get(CollectionRow, collection_id)
            if row is None:
                return False
            s.delete(row)
            return True

    def find_collection(self, name: str) -> CollectionRow | None:
        with self.sessions() as s:
            return s.scalar(select(CollectionRow).where(CollectionRow.name == name))

    def get_collection(self, name: str) -> CollectionRow:
        row = self.find_collection(name)
        if row is None:
            known = ", ".join(c.name for c in self.list_collections()) or "none yet"
            raise NotFoundError(
                f"no collection named {name!r} (known: {known}); "
                f"create it with: furet ingest PATH --collection {name}"
            )
        return row

    def list_collections(self) -> list[CollectionRow]:
        with self.sessions() as s:
            return list(s.scalars(select(CollectionRow).order_by(CollectionRow.name)))

    # -- ids ---------------------------------------------------------------------------------

    def allocate_ids(self, n: int) -> np.ndarray:
        """``n`` fresh item ids ``(n,) int64``; ids burnt by a crash are never reused."""
        if n <= 0:
            return np.zeros(0, np.int64)
        with self.sessions.begin() as s:
            row = s.get(Counter, "item_id", with_for_update=True)
            if row is None:
                row = Counter(name="item_id", value=0)
                s.add(row)
            start = row.value + 1
            row.value += n
        return np.arange(start, start + n, dtype=np.int64)

    # -- files and ingestion -----------------------------------------------------------------

    def file_states(self, collection_id: int) -> dict[str, FileState]:
        with self.sessions() as s:
            items: dict[int, list[int]] = defaultdict(list)
            for file_id, item_id in s.execute(
                select(ItemRow.file_id, ItemRow.item_id)
                .where(ItemRow.collection_id == collection_id)
                .order_by(ItemRow.item_id)
            ):
                items[file_id].append(item_id)
            return {
                f.path: FileState(f.file_id, f.size, f.mtime_ns, f.status, tuple(items[f.file_id]))
                for f in s.scalars(select(FileRow).where(FileRow.collection_id == collection_id))
            }

    def commit_files(
        self, collection_id: int, space: str, segment: str | None, outcomes: Sequence[FileOutcome]
    ) -> list[tuple[int, str]]:
        """Record ``outcomes`` in one transaction: the commit point of an ingestion chunk.

        Items of a file that were replaced are deleted; returns their ``(item_id, segment)``
        pairs in ``space`` so that the caller can tombstone the old vectors. Set-based (a few
        statements per chunk, not per file): this runs on the ingestion's critical path.
        """
        now = utcnow()
        paths = [o.path for o in outcomes]
        with self.sessions.begin() as s:
            files = {
                f.path: f
                for f in s.scalars(
                    select(FileRow).where(
                        FileRow.collection_id == collection_id, FileRow.path.in_(paths)
                    )
                )
            }
            for out in outcomes:
                f = files.get(out.path)
                if f is None:
                    f = files[out.path] = FileRow(collection_id=collection_id, path=out.path)
                    s.add(f)
                f.size, f.mtime_ns = out.size, out.mtime_ns
                f.status = "error" if out.error else "imported" if out.imported else "ok"
                f.error = out.error
                f.url, f.caption = out.url, out.caption
                f.updated_at = now
            s.flush()  # assigns the new file ids
            file_ids = [f.file_id for f in files.values()]
            old = s.execute(
                select(ItemRow.item_id, EmbeddingRow.segment)
                .join(
                    EmbeddingRow,
                    (EmbeddingRow.item_id == ItemRow.item_id) & (EmbeddingRow.space == space),
                    isouter=True,
                )
                .where(ItemRow.file_id.in_(file_ids))
            ).all()
            keep = {it.item_id for out in outcomes for it in out.items}
            replaced = [(int(i), str(seg)) for i, seg in old if seg is not None]
            gone = [i for i, _ in old if i not in keep]
            if gone:
                s.execute(delete(EmbeddingRow).where(EmbeddingRow.item_id.in_(gone)))
                s.execute(delete(ItemRow).where(ItemRow.item_id.in_(gone)))
            reused = [i for i, _ in old if i in keep]
            if reused:
                # A re-embedded item's vectors in every space are stale now.
                s.execute(delete(EmbeddingRow).where(EmbeddingRow.item_id.in_(reused)))
                s.execute(delete(ItemRow).where(ItemRow.item_id.in_(reused)))
            rows = [
                {
                    "item_id": it.item_id,
                    "collection_id": collection_id,
                    "file_id": files[out.path].file_id,
                    "kind": it.kind,
                    "width": it.width,
                    "height": it.height,
                    "video_time": it.video_time,
                    "shot": it.shot,
                    "shot_start": it.shot_start,
                    "shot_end": it.shot_end,
                    "created_at": now,
                }
                for out in outcomes
                for it in out.items
            ]
            if rows:
                s.execute(insert(ItemRow), rows)
                s.execute(
                    insert(EmbeddingRow),
                    [{"item_id": r["item_id"], "space": space, "segment": segment} for r in rows],
                )
        return replaced

    def remove_files(
        self, collection_id: int, space: str, paths: Iterable[str]
    ) -> list[tuple[int, str]]:
        """Forget ``paths`` (``--prune``); returns the ``(item_id, segment)`` pairs to tombstone."""
        paths = list(paths)
        if not paths:
            return []
        with self.sessions.begin() as s:
            file_ids = list(
                s.scalars(
                    select(FileRow.file_id).where(
                        FileRow.collection_id == collection_id, FileRow.path.in_(paths)
                    )
                )
            )
            gone = s.execute(
                select(EmbeddingRow.item_id, EmbeddingRow.segment)
                .join(ItemRow, ItemRow.item_id == EmbeddingRow.item_id)
                .where(ItemRow.file_id.in_(file_ids), EmbeddingRow.space == space)
            ).all()
            ids = select(ItemRow.item_id).where(ItemRow.file_id.in_(file_ids))
            s.execute(delete(EmbeddingRow).where(EmbeddingRow.item_id.in_(ids)))
            s.execute(delete(ItemRow).where(ItemRow.file_id.in_(file_ids)))
            s.execute(delete(FileRow).where(FileRow.file_id.in_(file_ids)))
        return [(int(i), str(seg)) for i, seg in gone]

    def segment_members(self, collection_id: int, space: str) -> dict[str, np.ndarray]:
        """``segment name -> (m,) int64`` item ids whose live vector it holds."""
        members: dict[str, list[int]] = defaultdict(list)
        with self.sessions() as s:
            for item_id, seg in s.execute(
                select(EmbeddingRow.item_id, EmbeddingRow.segment)
                .join(ItemRow, ItemRow.item_id == EmbeddingRow.item_id)
                .where(ItemRow.collection_id == collection_id, EmbeddingRow.space == space)
            ):
                members[seg].append(item_id)
        return {k: np.asarray(v, np.int64) for k, v in members.items()}

    def errors(self, collection_id: int) -> list[tuple[str, str]]:
        with self.sessions() as s:
            rows = s.execute(
                select(FileRow.path, FileRow.error)
                .where(FileRow.collection_id == collection_id, FileRow.status == "error")
                .order_by(FileRow.path)
            )
            return [(p, e or "") for p, e in rows]

    def counts(self, collection_id: int) -> tuple[int, int, int]:
        """(items, files ok, files in error)."""
        with self.sessions() as s:
            items = s.scalar(
                select(func.count())
                .select_from(ItemRow)
                .where(ItemRow.collection_id == collection_id)
            )
            ok = s.scalar(
                select(func.count())
                .select_from(FileRow)
                .where(
                    FileRow.collection_id == collection_id,
                    FileRow.status.in_(("ok", "imported")),
                )
            )
            bad = s.scalar(
                select(func.count())
                .select_from(FileRow)
                .where(FileRow.collection_id == collection_id, FileRow.status == "error")
            )
            return int(items or 0), int(ok or 0), int(bad or 0)

    def item_infos(self, item_ids: Iterable[int]) -> dict[int, ItemInfo]:
        ids = [int(i) for i in item_ids]
        out: dict[int, ItemInfo] = {}
        with engine_of(self.sessions).connect() as c:
            for start in range(0, len(ids), 500):
                for row in hot_rows(c, _ITEM_INFOS, {"ids": ids[start : start + 500]}):
                    out[row[0]] = ItemInfo(*row)
        return out

    def items_without_space(self, collection_id: int, space: str) -> list[ItemInfo]:
        """Items of the collection that have no vector in ``space`` yet, by path and time."""
        with self.sessions() as s:
            ids = list(
                s.scalars(
                    select(ItemRow.item_id)
                    .join(
                        EmbeddingRow,
                        (EmbeddingRow.item_id == ItemRow.item_id) & (EmbeddingRow.space == space),
                        isouter=True,
                    )
                    .where(ItemRow.collection_id == collection_id, EmbeddingRow.item_id.is_(None))
                )
            )
        infos = self.item_infos(ids)
        return sorted(infos.values(), key=lambda i: (i.path, i.video_time or 0.0))

    def commit_embeddings(self, space: str, segment: str, item_ids: Iterable[int]) -> None:
        """Record that ``segment`` holds the ``space`` vectors of ``item_ids`` (commit point)."""
        with self.sessions.begin() as s:
            for item_id in item_ids:
                row = s.get(EmbeddingRow, (int(item_id), space))
                if row is None:
                    s.add(EmbeddingRow(item_id=int(item_id), space=space, segment=segment))
                else:
                    row.segment = segment

    def siblings(self, item_id: int) -> list[ItemInfo]:
        """Every item of the file that ``item_id`` comes from (the keyframes of its video)."""
        with self.sessions() as s:
            file_id = s.scalar(select(ItemRow.file_id).where(ItemRow.item_id == item_id))
            if file_id is None:
                return []
            ids = list(s.scalars(select(ItemRow.item_id).where(ItemRow.file_id == file_id)))
        return list(self.item_infos(ids).values())

    def item_collection(self, item_id: int) -> int | None:
        with self.sessions() as s:
            return s.scalar(select(ItemRow.collection_id).where(ItemRow.item_id == item_id))

    def is_imported(self, item_id: int) -> bool:
        """Whether the item came from imported embeddings (it may have no thumbnail)."""
        with self.sessions() as s:
            status = s.scalar(
                select(FileRow.status)
                .join(ItemRow, ItemRow.file_id == FileRow.file_id)
                .where(ItemRow.item_id == item_id)
            )
        return status == "imported"

    def item_by_path(self, collection_id: int, path: str) -> list[int]:
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(ItemRow.item_id)
                    .join(FileRow, FileRow.file_id == ItemRow.file_id)
                    .where(FileRow.collection_id == collection_id, FileRow.path == path)
                    .order_by(ItemRow.item_id)
                )
            )
