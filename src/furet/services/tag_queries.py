"""Reading the tags of mass enrichments: a class's tagged items (paged, best first), counts per
class of a collection, the classes of one item, exports (CSV, JSON Lines, Parquet).

Only classes the user may read are shown. A tag is ``score >= threshold`` of the class's
tagging (``vectors.tags``); ``min_score`` (down to the tagging's ``floor``, the lowest score
it keeps) shows more or fewer. Each class's live rows are read once per change of its tags or
of its collection, and kept per process (a page is then a slice).
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from furet.catalog.repository import ItemInfo
from furet.catalog.schema import ClassRow
from furet.domain.calibration import Curve
from furet.domain.temporal import Segment
from furet.errors import InvalidInputError, NotFoundError
from furet.services.enrichment import Enrichment, tag_store
from furet.services.enrichment_jobs import finite
from furet.services.keyframes import fired_segments, segment_of
from furet.vectors.tags import Tagging, TagRows, TagStore

if TYPE_CHECKING:
    from furet.library import Collection

FORMATS = ("csv", "jsonl", "parquet")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
#: Classes whose rows a process keeps at once.
CACHED_CLASSES = 64
#: Rows whose item infos are read at once by an export.
_CHUNK = 5000

_cache: OrderedDict[tuple[str, int], tuple[object, TagRows]] = OrderedDict()
_cache_lock = threading.Lock()


def _sigmoid(x: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * x))


@dataclass(frozen=True)
class TagSummary:
    """One class's tags in one collection."""

    cls: ClassRow
    owner: str
    collection: str
    tagging: Tagging
    up_to_date: bool

    @property
    def threshold(self) -> float:
        t = self.tagging.threshold
        return math.inf if t is None else t

    def as_json(self) -> dict[str, object]:
        t = self.tagging
        est = t.estimate
        return {
            "class_id": self.cls.class_id,
            "name": self.cls.name,
            "owner": self.owner,
            "collection": self.collection,
            "space": self.cls.space,
            "version": t.version,
            "rule": {t.rule: t.value},
            "threshold": finite(t.threshold),
            "floor": finite(t.floor),
            "tags": est.get("tags", 0),
            "rows": est.get("rows", 0),
            "estimated_precision": est.get("precision"),
            "precision_sd": est.get("precision_sd"),
            "expected_positives": est.get("expected_positives"),
            "enrichment_id": t.job_id,
            "updated_at": t.updated_at,
            "up_to_date": self.up_to_date,
        }


@dataclass(frozen=True)
class Tag:
    """One item with its score for a class."""

    item_id: int
    score: float
    decision: bool
    info: ItemInfo | None
    confidence: float | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "item_id": self.item_id,
            "score": round(self.score, 6),
            "probability": round(_sigmoid(self.score), 6),
            "decision": self.decision,
            "confidence": None if self.confidence is None else round(self.confidence, 6),
        }
        if self.info is not None:
            out.update(path=self.info.path, kind=self.info.kind)
            if self.info.kind == "keyframe":
                out.update(video=self.info.path, time=self.info.video_time, shot=self.info.shot)
        return out


@dataclass
class TagPage:
    summary: TagSummary
    min_score: float
    total: int
    offset: int
    limit: int
    items: list[Tag] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            **self.summary.as_json(),
            "min_score": finite(self.min_score),
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "items": [t.as_json() for t in self.items],
        }


@dataclass(frozen=True)
class ExportRow:
    summary: TagSummary
    tag: Tag
    segment: Segment | None


class Tags:
    """The tags a user may read."""

    def __init__(self, enrichment: Enrichment):
        self.e = enrichment
        self.home = enrichment.home
        self.learning = enrichment.learning

    # -- one class ---------------------------------------------------------------------------

    def _tagging(self, cls: ClassRow, col: Collection) -> tuple[TagStore, Tagging]:
        tags = tag_store(col, cls.space)
        t = tags.state().taggings.get(cls.class_id)
        if t is None or (t.threshold is None and not t.parts):
            raise NotFoundError(
                f"class {cls.name!r} has no tags in collection {col.name!r} yet: "
                f"furet enrich --collection {col.name} --class {cls.name}"
            )
        return tags, t

    def rows(self, cls: ClassRow, col: Collection) -> tuple[TagSummary, TagRows]:
        """The class's summary and live rows in ``col`` (cached while neither changes)."""
        tags, t = self._tagging(cls, col)
        store = col.store(cls.space)
        stamp = (tags.stamp(), store.generation())
        key = (str(tags.root), cls.class_id)
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None and hit[0] == stamp:
                _cache.move_to_end(key)
                rows = hit[1]
            else:
                rows = None
        if rows is None:
            try:
                rows = tags.rows(t, store)
            except FileNotFoundError:  # a part collected after the state we read: read again
                tags, t = self._tagging(cls, col)
                rows = tags.rows(t, store)
            with _cache_lock:
                _cache[key] = (stamp, rows)
                while len(_cache) > CACHED_CLASSES:
                    _cache.popitem(last=False)
        up_to_date = list(store.generation()) == t.generation
        owner = self.learning.sharing.store.user_name(cls.owner_id)
        return TagSummary(cls, owner, col.name, t, up_to_date), rows

    def _collection(self, cls: ClassRow, collection: str | None) -> Collection:
        if collection is None:
            return self.home.collection_by_id(cls.collection_id)
        return self.home.collection(collection)

    def summary(self, ref: str | int | ClassRow, collection: str | None = None) -> TagSummary:
        cls = self.e.readable(ref)
        return self.rows(cls, self._collection(cls, collection))[0]

    def page(
        self,
        ref: str | int | ClassRow,
        *,
        collection: str | None = None,
        min_score: float | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> TagPage:
        """The class's tags best first: items scoring at least ``min_score`` (default: the
        threshold; below the tagging's floor nothing is kept)."""
        if offset < 0 or not 1 <= limit <= 1000:
            raise InvalidInputError("offset must be >= 0 and limit between 1 and 1000")
        if min_score is not None and not math.isfinite(min_score):
            raise InvalidInputError("min_score must be a finite number")
        cls = self.e.readable(ref)
        summary, rows = self.rows(cls, self._collection(cls, collection))
        cut = summary.threshold if min_score is None else min_score
        total = rows.above(cut)
        ids = rows.item_ids[offset : min(offset + limit, total)]
        scores = rows.scores[offset : min(offset + limit, total)]
        infos = self.home.catalog.item_infos(ids.tolist())
        curve = _curve(summary.tagging)
        items = [
            Tag(
                int(i),
                float(s),
                bool(s >= summary.threshold),
                infos.get(int(i)),
                None if curve is None else float(curve.probability(np.array([s]))[0]),
            )
            for i, s in zip(ids, scores, strict=True)
        ]
        return TagPage(summary, cut, total, offset, limit, items)

    def segments(self, ref: str | int | ClassRow, collection: str | None = None) -> list[Segment]:
        """Time-coded video segments where the class's tags fire (merged keyframes)."""
        cls = self.e.readable(ref)
        summary, rows = self.rows(cls, self._collection(cls, collection))
        n = rows.above(summary.threshold)
        scores = dict(zip(rows.item_ids[:n].tolist(), rows.scores[:n].tolist(), strict=True))
        infos = self.home.catalog.item_infos(scores)
        return fired_segments(self.home.catalog, scores, summary.threshold, infos)

    # -- many classes ------------------------------------------------------------------------

    def _readable_taggings(self, col: Collection) -> Iterator[TagSummary]:
        visible = {v.class_id: v for v in self.learning.sharing.visible()}
        for space in col.spaces():
            for class_id in sorted(tag_store(col, space).state().taggings):
                shown = visible.get(class_id)
                if shown is None or shown.row.space != space:
                    continue
                try:
                    yield self.rows(shown.row, col)[0]
                except NotFoundError:
                    continue

    def counts(self, collection: str) -> list[TagSummary]:
        """Every readable class with tags in ``collection``: its tag count and estimate."""
        return list(self._readable_taggings(self.home.collection(collection)))

    def of_item(self, item_id: int, *, all_rows: bool = False) -> list[dict[str, object]]:
        """The readable classes that tag the item (``all_rows``: also those that keep a row
        for it below their threshold), best score first."""
        collection_id = self.home.catalog.item_collection(item_id)
        if collection_id is None:
            raise NotFoundError(f"no item {item_id}")
        col = self.home.collection_by_id(collection_id)
        out = []
        for summary in self._readable_taggings(col):
            _, rows = self.rows(summary.cls, col)
            s = rows.score_of(item_id)
            if s is None or (s < summary.threshold and not all_rows):
                continue
            curve = _curve(summary.tagging)
            out.append(
                {
                    **summary.as_json(),
                    "item_id": item_id,
                    "score": round(s, 6),
                    "probability": round(_sigmoid(s), 6),
                    "decision": s >= summary.threshold,
                    "confidence": None
                    if curve is None
                    else round(float(curve.probability(np.array([s]))[0]), 6),
                }
            )
        out.sort(key=lambda t: -float(t["score"]))  # type: ignore[arg-type]
        return out

    # -- export ------------------------------------------------------------------------------

    def export_rows(
        self, refs: Sequence[str | int | ClassRow], collection: str | None, all_rows: bool
    ) -> Iterator[ExportRow]:
        """The tags of ``refs`` (``all_rows``: every row kept, decided or not), each keyframe
        with the time-coded segment it belongs to."""
        for ref in refs:
            cls = self.e.readable(ref)
            summary, rows = self.rows(cls, self._collection(cls, collection))
            n = len(rows) if all_rows else rows.above(summary.threshold)
            curve = _curve(summary.tagging)
            chance = None if curve is None else curve.probability(rows.scores[:n])
            within = segment_of(self._fired(rows, n, summary.threshold))
            for start in range(0, n, _CHUNK):
                stop = min(start + _CHUNK, n)
                ids = rows.item_ids[start:stop].tolist()
                scores = rows.scores[start:stop].tolist()
                infos = self.home.catalog.item_infos(ids)
                for k, (i, s) in enumerate(zip(ids, scores, strict=True)):
                    c = None if chance is None else float(chance[start + k])
                    tag = Tag(i, s, s >= summary.threshold, infos.get(i), c)
                    yield ExportRow(summary, tag, within.get(i))

    def _fired(self, rows: TagRows, n: int, threshold: float) -> list[Segment]:
        """The segments of the tagged keyframes among the first ``n`` rows."""
        fired: dict[int, float] = {}
        infos: dict[int, ItemInfo] = {}
        decided = min(n, rows.above(threshold))
        for start in range(0, decided, _CHUNK):
            stop = min(start + _CHUNK, decided)
            ids = rows.item_ids[start:stop].tolist()
            chunk = self.home.catalog.item_infos(ids)
            for i, s in zip(ids, rows.scores[start:stop].tolist(), strict=True):
                if i in chunk and chunk[i].kind == "keyframe":
                    fired[i], infos[i] = s, chunk[i]
        return fired_segments(self.home.catalog, fired, threshold, infos)

    def export_job(self, job_id: str, fmt: str, out: IO[bytes], all_rows: bool = False) -> int:
        """Export the current tags of the classes of one of the user's jobs; returns rows."""
        job = self.e.job(job_id)
        refs: list[str | int | ClassRow] = [c.class_id for c in job.classes]
        return self.export(refs, job.collection, fmt, out, all_rows)

    def export(
        self,
        refs: Sequence[str | int | ClassRow],
        collection: str | None,
        fmt: str,
        out: IO[bytes],
        all_rows: bool = False,
    ) -> int:
        """Write the tags of ``refs`` to ``out`` as ``fmt`` (csv, jsonl, parquet)."""
        if fmt not in FORMATS:
            raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        records = (_record(r) for r in self.export_rows(refs, collection, all_rows))
        if fmt == "parquet":
            return _write_parquet(records, out)
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        n = 0
        if fmt == "csv":
            writer = csv.DictWriter(text, fieldnames=[f.name for f in EXPORT_SCHEMA])
            writer.writeheader()
            for rec in records:
                writer.writerow(rec)
                n += 1
        else:
            for rec in records:
                text.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
        text.flush()
        text.detach()  # leave ``out`` open for the caller
        return n


def _curve(t: Tagging) -> Curve | None:
    return Curve(*t.curve) if t.curve else None


EXPORT_SCHEMA = pa.schema(
    [
        ("item_id", pa.int64()),
        ("path", pa.string()),
        ("kind", pa.string()),
        ("class_id", pa.int64()),
        ("class", pa.string()),
        ("owner", pa.string()),
        ("collection", pa.string()),
        ("version", pa.int32()),
        ("score", pa.float32()),
        ("probability", pa.float32()),
        ("confidence", pa.float32()),
        ("decision", pa.bool_()),
        ("threshold", pa.float32()),
        ("video", pa.string()),
        ("time", pa.float64()),
        ("shot", pa.int32()),
        ("segment_start", pa.float64()),
        ("segment_end", pa.float64()),
    ]
)


def _record(row: ExportRow) -> dict[str, object]:
    tag, info, seg = row.tag, row.tag.info, row.segment
    keyframe = info is not None and info.kind == "keyframe"
    return {
        "item_id": tag.item_id,
        "path": None if info is None else info.path,
        "kind": None if info is None else info.kind,
        "class_id": row.summary.cls.class_id,
        "class": row.summary.cls.name,
        "owner": row.summary.owner,
        "collection": row.summary.collection,
        "version": row.summary.tagging.version,
        "score": round(tag.score, 6),
        "probability": round(_sigmoid(tag.score), 6),
        "confidence": None if tag.confidence is None else round(tag.confidence, 6),
        "decision": tag.decision,
        "threshold": _rounded(finite(row.summary.tagging.threshold)),
        "video": info.path if keyframe and info else None,
        "time": info.video_time if keyframe and info else None,
        "shot": info.shot if keyframe and info else None,
        "segment_start": None if seg is None else round(seg.start, 3),
        "segment_end": None if seg is None else round(seg.end, 3),
    }


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _write_parquet(records: Iterator[dict[str, object]], out: IO[bytes]) -> int:
    n = 0
    with pq.ParquetWriter(out, EXPORT_SCHEMA) as writer:
        batch: list[dict[str, object]] = []
        for rec in records:
            batch.append(rec)
            if len(batch) == 50_000:
                writer.write_table(pa.Table.from_pylist(batch, schema=EXPORT_SCHEMA))
                n += len(batch)
                batch = []
        if batch or n == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=EXPORT_SCHEMA))
            n += len(batch)
    return n
