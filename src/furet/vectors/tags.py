"""Tags of mass enrichments: Parquet part files beside a space's segments, and one state file.

``home/collections/<id>/tags/<space>/`` holds

- ``parts/<name>.parquet``: tag rows ``item_id`` int64, ``class_id`` int64, ``version`` int32,
  ``score`` float32, ``seg`` int32 (the segment the scored vector lives in, an index into the
  list kept in the file's metadata); one row group per class, best score first. A part holds
  what one block of one enrichment pass kept, for every class of that pass;
- ``state.json``: the **taggings**, one per class: the class version and rule (``precision``,
  ``threshold`` or ``top``), the ``floor`` (every item scoring at least that has a row), the
  decision ``threshold`` (a tag is ``score >= threshold``), which rows of which segments it has
  scored (``covered``), and its parts;
- ``.lock``: one writer (one enrichment pass) per space at a time.

A part is written to a temporary name, synced and renamed into place, then the state that
lists it is written the same way: that rename is a block's commit point. A part that a crash
left unlisted is rewritten under the same name by the next run, so nothing is counted twice.
A row is live while its segment is and its item is not tombstoned there: a re-embedded item's
old row gives way to the new segment's, a deleted item's disappears.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from furet.vectors.segments import SegmentStore

STATE = "state.json"
PARTS = "parts"
#: Key of a part's Parquet metadata listing the segments its ``seg`` column points into.
SEGMENTS_KEY = b"furet.segments"

SCHEMA = pa.schema(
    [
        ("item_id", pa.int64()),
        ("class_id", pa.int64()),
        ("version", pa.int32()),
        ("score", pa.float32()),
        ("seg", pa.int32()),
    ]
)


def _fsync_replace(tmp: Path, path: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def add_range(ranges: list[list[int]], lo: int, hi: int) -> list[list[int]]:
    """``ranges`` (sorted, disjoint ``[lo, hi)``) with ``[lo, hi)`` added, merged."""
    out: list[list[int]] = []
    for a, b in sorted([*ranges, [lo, hi]]):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def in_ranges(ranges: list[list[int]], rows: np.ndarray) -> np.ndarray:
    """``(n,) bool``: which of ``rows`` lie in one of ``ranges``."""
    out = np.zeros(len(rows), bool)
    for lo, hi in ranges:
        out |= (rows >= lo) & (rows < hi)
    return out


@dataclass
class Tagging:
    """What one class's tags of one space are: rows of ``version`` kept from ``floor`` up,
    ``score >= threshold`` tagged. A new version or rule starts a new tagging (a new ``key``);
    new items extend the current one."""

    class_id: int
    key: str
    version: int
    #: ``precision`` (``value`` the target), ``threshold`` (``value`` itself) or ``top``.
    rule: str
    value: float
    floor: float
    threshold: float | None = None
    #: The calibration curve's fields (``domain.calibration.Curve``), when there is one.
    curve: list[float] | None = None
    #: segment name -> file rows ``[lo, hi)`` scored.
    covered: dict[str, list[list[int]]] = field(default_factory=dict)
    parts: list[str] = field(default_factory=list)
    #: After each pass: ``tags``, ``expected_positives``, ``precision`` (estimated) and its
    #: ``precision_sd``, ``rows``.
    estimate: dict[str, float | int | None] = field(default_factory=dict)
    #: The segment store's generation when the tags were last settled: another one means
    #: items were added or changed since (the tags are not up to date).
    generation: list[int] = field(default_factory=list)
    job_id: str = ""
    updated_at: str = ""

    def same_rule(self, version: int, rule: str, value: float) -> bool:
        return (self.version, self.rule, float(self.value)) == (version, rule, float(value))


@dataclass
class TagState:
    taggings: dict[int, Tagging] = field(default_factory=dict)

    def to_json(self) -> str:
        # Not dataclasses.asdict: its deep copy of thousands of covered ranges cost more
        # than the block it commits.
        return json.dumps({"taggings": {str(k): vars(t) for k, t in self.taggings.items()}})

    @classmethod
    def from_json(cls, text: str) -> TagState:
        raw = json.loads(text)
        return cls({int(k): Tagging(**t) for k, t in raw.get("taggings", {}).items()})


@dataclass(frozen=True)
class ClassRows:
    """The rows of one class kept in one block: ``(n,)`` item ids, scores, segment indices."""

    class_id: int
    version: int
    item_ids: np.ndarray
    scores: np.ndarray
    seg: np.ndarray


@dataclass(frozen=True)
class TagRows:
    """The live rows of one tagging, best score first (ties by item id)."""

    item_ids: np.ndarray  # (n,) int64
    scores: np.ndarray  # (n,) float32

    def __len__(self) -> int:
        return len(self.item_ids)

    def above(self, threshold: float) -> int:
        """How many rows score at least ``threshold``."""
        return int(np.searchsorted(-self.scores, -np.float32(threshold), side="right"))

    def score_of(self, item_id: int) -> float | None:
        """The item's score, None when it has no row."""
        order = self._by_id
        at = int(np.searchsorted(self.item_ids[order], item_id))
        if at < len(order) and int(self.item_ids[order[at]]) == item_id:
            return float(self.scores[order[at]])
        return None

    @functools.cached_property
    def _by_id(self) -> np.ndarray:
        return np.argsort(self.item_ids, kind="stable")


EMPTY = TagRows(np.zeros(0, np.int64), np.zeros(0, np.float32))


class TagStore:
    """The tags of one embedding space of one collection (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = root
        self.parts = root / PARTS
        self._state: tuple[tuple[int, int, int], str] | None = None

    # -- state -------------------------------------------------------------------------------

    def stamp(self) -> tuple[int, int, int]:
        """Changes whenever the state is written (a new inode each time); (0, 0, 0) if none."""
        try:
            st = (self.root / STATE).stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def state(self) -> TagState:
        """The current state (a fresh copy: callers may change it and :meth:`save` it)."""
        key = self.stamp()
        if self._state is None or self._state[0] != key:
            try:
                text = (self.root / STATE).read_text()
            except FileNotFoundError:
                text = "{}"
            self._state = (key, text)
        return TagState.from_json(self._state[1])

    def save(self, state: TagState) -> None:
        """Write the state atomically (the commit point of what it lists)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{STATE}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(state.to_json())
        _fsync_replace(tmp, self.root / STATE)

    @contextmanager
    def writer(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the space's writer lock; ``on_wait`` is called first if another holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock (and so does a crash)

    # -- parts -------------------------------------------------------------------------------

    def write_part(self, name: str, segments: list[str], rows: list[ClassRows]) -> None:
        """Write part ``name`` atomically: one row group per class, best score first."""
        self.parts.mkdir(parents=True, exist_ok=True)
        schema = SCHEMA.with_metadata({SEGMENTS_KEY: json.dumps(segments).encode()})
        tmp = self.parts / f".{name}.{uuid.uuid4().hex}.tmp"
        with pq.ParquetWriter(tmp, schema) as writer:
            for r in rows:
                order = np.lexsort((r.item_ids, -r.scores))
                n = len(order)
                writer.write_table(
                    pa.table(
                        {
                            "item_id": pa.array(r.item_ids[order], pa.int64()),
                            "class_id": pa.array(np.full(n, r.class_id), pa.int64()),
                            "version": pa.array(np.full(n, r.version), pa.int32()),
                            "score": pa.array(r.scores[order], pa.float32()),
                            "seg": pa.array(r.seg[order], pa.int32()),
                        },
                        schema=schema,
                    )
                )
        _fsync_replace(tmp, self.parts / f"{name}.parquet")

    def _read_part(self, name: str, class_id: int) -> tuple[list[str], pa.Table]:
        """The segments a part's rows point into, and its rows of one class (the row groups
        whose ``class_id`` statistics hold it: one per class)."""
        part = pq.ParquetFile(self.parts / f"{name}.parquet")
        meta = part.schema_arrow.metadata or {}
        column = part.schema_arrow.get_field_index("class_id")
        groups = []
        for g in range(part.metadata.num_row_groups):
            stats = part.metadata.row_group(g).column(column).statistics
            if stats is None or not stats.has_min_max or stats.min <= class_id <= stats.max:
                groups.append(g)
        table = part.read_row_groups(
            groups, columns=["item_id", "class_id", "score", "seg"], use_threads=False
        )
        table = table.filter(pa.compute.equal(table.column("class_id"), class_id))
        return json.loads(meta.get(SEGMENTS_KEY, b"[]")), table

    def rows(self, tagging: Tagging, segments: SegmentStore) -> TagRows:
        """The tagging's live rows (see the module docstring), best first; an item scored in
        more than one part keeps its latest row."""
        names = set(segments.names())
        tombs: dict[str, np.ndarray] = {}
        ids: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for name in tagging.parts:
            segs, table = self._read_part(name, tagging.class_id)
            if table.num_rows == 0:
                continue
            item = table.column("item_id").to_numpy()
            seg = table.column("seg").to_numpy()
            live = np.ones(len(item), bool)
            for k, seg_name in enumerate(segs):
                here = seg == k
                if seg_name not in names:
                    live &= ~here
                    continue
                if seg_name not in tombs:
                    path = segments.root / seg_name / "tombstones.npy"
                    tombs[seg_name] = np.load(path) if path.exists() else np.zeros(0, np.int64)
                if len(tombs[seg_name]):
                    live &= ~(here & np.isin(item, tombs[seg_name]))
            ids.append(item[live])
            scores.append(table.column("score").to_numpy()[live])
        if not ids:
            return EMPTY
        item_ids = np.concatenate(ids)
        score = np.concatenate(scores)
        # The latest row of an item wins: unique over the reversed order keeps the last one.
        _, last = np.unique(item_ids[::-1], return_index=True)
        keep = len(item_ids) - 1 - last
        item_ids, score = item_ids[keep], score[keep]
        order = np.lexsort((item_ids, -score))
        return TagRows(item_ids[order], score[order])

    def collect_garbage(self, state: TagState) -> None:
        """Remove the parts no tagging lists (and temporary files of interrupted writes).
        Only the writer calls it, after its state is saved."""
        if not self.parts.exists():
            return
        listed = {f"{p}.parquet" for t in state.taggings.values() for p in t.parts}
        for path in self.parts.iterdir():
            if path.name not in listed:
                path.unlink(missing_ok=True)
