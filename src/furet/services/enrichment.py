"""Mass enrichment: apply class versions to every item of a collection and store their tags.

``submit`` checks the request and writes a ``queued`` job (``services.enrichment_jobs``);
``run`` does the work, in the caller's thread (the CLI) or in a background thread (``start``,
the server). Per embedding space of the job's classes, one pass over the vectors: blocks of
rows read straight from the segment files, one matrix product per block for all the classes
(``vectors.multiscore``), the rows kept written as one Parquet part and committed
(``vectors.tags``). Then each class's threshold is settled on its rows (``domain.calibration``).

A class's tags are a **tagging** of one version under one rule. Running the same enrichment
again scores only what its tagging has not: the rows a killed run did not commit (resumption)
and the items added since (incremental). A new version, or another rule, starts a new tagging
of that class alone: the other classes of the job score only their missing rows.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from furet.catalog.classes import ClassVersion
from furet.catalog.schema import ClassRow
from furet.domain.calibration import (
    FLOOR_PROBABILITY,
    MIN_PER_CLASS,
    Curve,
    cut_at,
    cut_for_precision,
    fit_curve,
    out_of_fold_scores,
    top_threshold,
)
from furet.errors import FuretError, InvalidInputError, NotFoundError
from furet.services.enrichment_jobs import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    ClassJob,
    Job,
    JobStore,
    finite,
    new_job_id,
    now,
    process_start,
)
from furet.vectors.multiscore import keep_above
from furet.vectors.quantized import Int8Index
from furet.vectors.segments import SegmentStore, VectorMatrix
from furet.vectors.stream import (
    LiveSegment,
    Piece,
    live_segments,
    mean_vector,
    read_rows,
    vectors_of,
)
from furet.vectors.tags import ClassRows, Tagging, TagState, TagStore, add_range, in_ranges

if TYPE_CHECKING:
    from furet.library import Collection, Furet
    from furet.services.learning import Learning
    from furet.services.tag_queries import Tags

log = logging.getLogger(__name__)

PRECISION, THRESHOLD, TOP = "precision", "threshold", "top"
#: The precision asked for when no rule is given.
DEFAULT_PRECISION = 0.9
#: Classes one job may apply at once.
MAX_CLASSES = 100

#: ``progress(done, total)``: rows scored so far and in all.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Rule:
    """Which items a tagging tags: ``precision`` (the calibrated threshold reaching that
    estimated precision), ``threshold`` (score at least that logit) or ``top`` (the N best)."""

    kind: str = PRECISION
    value: float = DEFAULT_PRECISION

    @classmethod
    def of(
        cls,
        *,
        precision: float | None = None,
        threshold: float | None = None,
        top: int | None = None,
    ) -> Rule:
        given = [
            (k, v) for k, v in ((PRECISION, precision), (THRESHOLD, threshold)) if v is not None
        ]
        if top is not None:
            given.append((TOP, top))
        if len(given) > 1:
            raise InvalidInputError("give one of --precision, --threshold and --top, not several")
        rule = cls(*given[0]) if given else cls()
        rule.check()
        return rule

    def check(self) -> None:
        if self.kind == PRECISION and not 0.0 < self.value < 1.0:
            raise InvalidInputError(f"the precision must be between 0 and 1, got {self.value}")
        if self.kind == THRESHOLD and not math.isfinite(self.value):
            raise InvalidInputError("the threshold must be a finite number (a logit)")
        if self.kind == TOP and (self.value < 1 or self.value != int(self.value)):
            raise InvalidInputError(f"--top must be a positive integer, got {self.value}")
        if self.kind not in (PRECISION, THRESHOLD, TOP):
            raise InvalidInputError(f"unknown rule {self.kind!r}")


def tag_store(col: Collection, space: str) -> TagStore:
    """The tags of ``col`` in ``space``: ``home/collections/<id>/tags/<space>/``."""
    return TagStore(col.layout.root / "tags" / space)


#: One background runner per process: jobs of a server run one after another.
_runner: ThreadPoolExecutor | None = None
_runner_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="furet-enrich")
        return _runner


class Enrichment:
    """Enrichment jobs of one user, who needs the ``read`` right on every class applied."""

    def __init__(self, home: Furet, learning: Learning):
        self.home = home
        self.learning = learning
        self.jobs = JobStore(home.settings.home / "enrichments")

    @property
    def tags(self) -> Tags:
        """Queries and exports of the tags this user may read."""
        from furet.services.tag_queries import Tags  # it builds on this module

        return Tags(self)

    # -- classes -----------------------------------------------------------------------------

    def readable(self, ref: str | int | ClassRow) -> ClassRow:
        """A class the user may read: an id, one of their class names, or ``OWNER/NAME``."""
        if isinstance(ref, ClassRow):
            return self.learning.get_by_id(ref.class_id, need="read")
        if isinstance(ref, int):
            return self.learning.get_by_id(ref, need="read")
        try:
            return self.learning.get(ref)
        except NotFoundError:
            owner, slash, name = ref.partition("/")
            if not (slash and owner and name):
                raise
        store = self.learning.sharing.store
        try:
            row = self.learning.classes.get_class(store.user_id(owner), name)
            return self.learning.get_by_id(row.class_id, need="read")
        except NotFoundError:
            raise NotFoundError(
                f"no class {ref!r} that you may see; list them with: furet class list"
            ) from None

    def _version(self, cls: ClassRow, version: int | None) -> ClassVersion:
        versions = self.learning.classes.versions(cls.class_id, with_weights=True)
        if not versions:
            raise InvalidInputError(
                f"class {cls.name!r} has no model yet: run a round first "
                f"(furet class round {cls.name})"
            )
        if version is None:
            return versions[-1]
        for v in versions:
            if v.version == version:
                return v
        raise NotFoundError(
            f"class {cls.name!r} has no version {version} (versions 1 to {versions[-1].version})"
        )

    def curve(self, cls: ClassRow, spaces: dict[tuple[int, str], _Space] | None = None) -> Curve:
        """The class's calibration curve, from its marks (spot checks included) scored out of
        fold in its own collection. InvalidInputError (saying what to do) when it has too
        few marks or they do not separate. ``spaces``: segments already read, by
        (collection id, space)."""
        labels = self.learning.classes.current_labels(cls.class_id)
        pos_ids = [i for i, v in labels.items() if v > 0]
        neg_ids = [i for i, v in labels.items() if v < 0]
        few = InvalidInputError(
            f"class {cls.name!r} has {len(pos_ids)} positive and {len(neg_ids)} negative marks; "
            f"a calibrated threshold needs at least {MIN_PER_CLASS} of each: mark more items "
            "in rounds (Classify Random Images pages serve it best), or give a threshold "
            "(--threshold T) or a number of tags (--top N)"
        )
        if min(len(pos_ids), len(neg_ids)) < MIN_PER_CLASS:
            raise few
        spaces = {} if spaces is None else spaces
        key = (cls.collection_id, cls.space)
        if key not in spaces:
            store = self.home.collection_by_id(cls.collection_id).store(cls.space)
            spaces[key] = _Space(store, live_segments(store))
        space = spaces[key]
        pos = _vectors(space.store, space.segments, pos_ids)
        neg = _vectors(space.store, space.segments, neg_ids)
        if min(len(pos), len(neg)) < MIN_PER_CLASS:  # marked items deleted since
            raise few
        _, examples = self.learning.classes.examples(cls.class_id, space.store.dim)
        oof_pos, oof_neg = out_of_fold_scores(pos, neg, background=space.mean(), extra_pos=examples)
        truth = np.arange(len(pos) + len(neg)) < len(pos)
        try:
            return fit_curve(np.concatenate([oof_pos, oof_neg]), truth)
        except InvalidInputError as exc:
            raise InvalidInputError(f"class {cls.name!r}: {exc}") from None

    # -- jobs --------------------------------------------------------------------------------

    def submit(
        self,
        classes: Sequence[str | int | ClassRow],
        *,
        collection: str | None = None,
        rule: Rule | None = None,
        version: int | None = None,
    ) -> Job:
        """Check a request and write its job, ``queued``: the classes (read right, a trained
        version, a space the collection has) and what calibrating them needs."""
        rule = rule or Rule()
        rule.check()
        if not classes:
            raise InvalidInputError("give at least one class to enrich with")
        if len(classes) > MAX_CLASSES:
            raise InvalidInputError(f"at most {MAX_CLASSES} classes at once")
        rows: dict[int, ClassRow] = {}
        for ref in classes:
            row = self.readable(ref)
            rows.setdefault(row.class_id, row)
        if version is not None and len(rows) > 1:
            raise InvalidInputError("--version applies to one class: give one --class with it")
        if collection is None:
            homes = {r.collection_id for r in rows.values()}
            if len(homes) > 1:
                raise InvalidInputError(
                    "the classes belong to different collections: name the one to enrich "
                    "(--collection)"
                )
            col = self.home.collection_by_id(homes.pop())
        else:
            col = self.home.collection(collection)
        spaces = col.spaces()
        owners = self.learning.sharing.store
        read: dict[tuple[int, str], _Space] = {}
        class_jobs = []
        for row in rows.values():
            if row.space not in spaces:
                raise InvalidInputError(
                    f"class {row.name!r} lives in space {row.space!r}, which collection "
                    f"{col.name!r} lacks: furet embed --collection {col.name} --model {row.space}"
                )
            v = self._version(row, version)
            curve: Curve | None
            if rule.kind == PRECISION:
                curve = self.curve(row, read)
                floor = min(0.0, curve.score_at(FLOOR_PROBABILITY))
            else:
                try:
                    curve = self.curve(row, read)  # for the estimate only
                except InvalidInputError:
                    curve = None
                floor = min(0.0, rule.value) if rule.kind == THRESHOLD else -math.inf
            class_jobs.append(
                ClassJob(
                    class_id=row.class_id,
                    name=row.name,
                    owner=owners.user_name(row.owner_id),
                    space=row.space,
                    version=v.version,
                    rule=rule.kind,
                    value=float(rule.value),
                    floor=floor,
                    curve=None if curve is None else curve.as_list(),
                )
            )
        user = owners.user_name(self.learning.user_id)
        job = Job(
            new_job_id(), self.learning.user_id, user, col.name, col.collection_id, class_jobs
        )
        self.jobs.save(job)
        return job

    def job(self, job_id: str) -> Job:
        """The job, if it is this user's (anyone else's is 'not found')."""
        job = self.jobs.load(job_id)
        if job.user_id != self.learning.user_id:
            raise NotFoundError(f"no enrichment {job_id!r}")
        return job

    def my_jobs(self, limit: int = 100) -> list[Job]:
        return self.jobs.jobs(self.learning.user_id, limit)

    def cancel(self, job_id: str) -> Job:
        """Ask the job to stop after its current block (what it committed stays)."""
        job = self.job(job_id)
        if job.state in (QUEUED, RUNNING):
            self.jobs.request_cancel(job_id)
        return job

    def resume(self, job_id: str) -> Job:
        """A new job doing what an ended one (interrupted, failed, cancelled) did not: the same
        classes, versions and rules, so only what their tags lack is scored."""
        old = self.job(job_id)
        if old.state in (QUEUED, RUNNING):
            raise InvalidInputError(f"enrichment {job_id} is still {old.state}")
        classes = []
        for c in old.classes:
            row = self.readable(c.class_id)  # the right may have been withdrawn since
            self._version(row, c.version)
            classes.append(ClassJob(**{**vars(c), "scored": 0, "warning": None}))
        job = Job(
            new_job_id(),
            self.learning.user_id,
            old.user,
            old.collection,
            old.collection_id,
            classes,
        )
        self.jobs.save(job)
        return job

    def start(self, job: Job) -> Job:
        """Run ``job`` in this process's background runner (jobs run one after another)."""
        _background().submit(self._run_logged, job.job_id)
        return job

    def _run_logged(self, job_id: str) -> None:
        try:
            self.run(job_id)
        except Exception:  # recorded in the job file by run(); a background thread says it here
            log.exception("enrichment %s failed", job_id)

    def run(self, job_id: str, progress: Progress | None = None) -> Job:
        """Run the job here; returns it ended (``done``, ``cancelled`` or ``failed``: a
        FuretError is recorded in the job and raised again, as is anything unexpected)."""
        job = self.jobs.load(job_id)
        job.state, job.host, job.pid = QUEUED, socket.gethostname(), os.getpid()
        job.proc_start = process_start(job.pid)
        self.jobs.save(job)
        try:
            col = self.home.collection_by_id(job.collection_id)
            groups: dict[str, list[ClassJob]] = {}
            for c in job.classes:
                groups.setdefault(c.space, []).append(c)
            for space, group in groups.items():
                if not _Pass(self, job, col, space, group, progress).run():
                    job.state, job.finished_at = CANCELLED, now()
                    self.jobs.save(job)
                    return job
        except BaseException as exc:
            job.state, job.finished_at = FAILED, now()
            job.error = str(exc) if isinstance(exc, FuretError) else f"unexpected error: {exc!r}"
            if isinstance(exc, KeyboardInterrupt):
                job.state, job.error = CANCELLED, "interrupted"
            self.jobs.save(job)
            raise
        job.state, job.finished_at = DONE, now()
        self.jobs.save(job)
        return job


def _vectors(store: SegmentStore, segments: list[LiveSegment], item_ids: list[int]) -> np.ndarray:
    """``(m, dim) float32`` live vectors of ``item_ids`` (those without one left out)."""
    return vectors_of(store, segments, item_ids)[1].astype(np.float32)


#: Blocks of fewer rows take the half-precision pass even where the int8 codes are built: the
#: int8 pass computes a whole chunk (2**18 rows) of codes at once.
INT8_MIN_ROWS = 16_384


@dataclass
class _Int8:
    """A server's int8 index over the space's matrix (built when it started, see
    ``Collection.built_index``), and where each segment's live rows sit in that matrix."""

    index: Int8Index
    matrix: VectorMatrix
    #: segment -> (its live file rows, the matrix row of the first).
    starts: dict[str, tuple[np.ndarray, int]]
    #: The last chunk's first pass: consecutive blocks mostly fall in one chunk.
    _chunk: tuple[int, np.ndarray] | None = None

    @classmethod
    def of(cls, col: Collection, space: str, segments: list[LiveSegment]) -> _Int8 | None:
        built = col.built_index(space)
        if built is None:
            return None
        m, index = built
        if not isinstance(index, Int8Index):
            return None
        starts: dict[str, tuple[np.ndarray, int]] = {}
        ids, at = [], 0
        for seg in segments:
            live = np.flatnonzero(seg.live)
            starts[seg.name] = (live, at)
            ids.append(seg.item_ids[live])
            at += len(live)
        # The matrix holds the live rows in segment order; if it is another one (rows of an
        # interrupted ingestion left out, say), the files are read instead.
        if at != len(m) or not np.array_equal(np.concatenate(ids), m.item_ids):
            return None
        return cls(index, m, starts)

    def rows(self, name: str, file_rows: np.ndarray) -> np.ndarray:
        """Matrix rows of live ``file_rows`` of segment ``name``."""
        live, start = self.starts[name]
        return start + np.searchsorted(live, file_rows)

    def first_pass(self, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), k)`` int8 first-pass scores (no biases) of sorted matrix ``rows``."""
        bounds = self.index.chunks
        out = np.empty((len(rows), len(weights)), np.float32)
        which = np.searchsorted([lo for lo, _ in bounds], rows, side="right") - 1
        for c in np.unique(which):
            if self._chunk is None or self._chunk[0] != c:
                self._chunk = (int(c), self.index.first_pass(weights, int(c)))
            mine = which == c
            out[mine] = self._chunk[1][:, rows[mine] - bounds[c][0]].T
        return out


@dataclass
class _Space:
    """A space's segments, read once per request, and its mean vector when asked."""

    store: SegmentStore
    segments: list[LiveSegment]
    _mean: np.ndarray | None = None

    def mean(self) -> np.ndarray:
        if self._mean is None:
            self._mean = mean_vector(self.store, self.segments)
        return self._mean


@dataclass
class _Block:
    pieces: list[Piece]
    rows: int  # rows some class needs


class _Pass:
    """One pass of a job over one space: plan, score and commit blocks, settle thresholds."""

    def __init__(
        self,
        enrichment: Enrichment,
        job: Job,
        col: Collection,
        space: str,
        group: list[ClassJob],
        progress: Progress | None,
    ):
        self.e = enrichment
        self.job = job
        self.col = col
        self.space = space
        self.group = group
        self.progress = progress
        self.store = col.store(space)
        self.tags = tag_store(col, space)
        self.block_rows = enrichment.home.settings.enrich_block_rows
        self._buffer: np.ndarray | None = None
        self.int8: _Int8 | None = None

    def _waiting(self) -> None:
        self.job.state = QUEUED
        self.e.jobs.save(self.job)

    def run(self) -> bool:
        """False when the job was cancelled midway."""
        classes = self.e.learning.classes
        versions = {}
        for c in self.group:
            v = next(
                (
                    v
                    for v in classes.versions(c.class_id, with_weights=True)
                    if v.version == c.version
                ),
                None,
            )
            if v is None:
                raise NotFoundError(f"class {c.name!r} or its version {c.version} was deleted")
            versions[c.class_id] = v
        with self.tags.writer(on_wait=self._waiting):
            self.job.state = RUNNING
            self.job.started_at = self.job.started_at or now()
            state = self._taggings(self.tags.state())
            segments = live_segments(self.store)
            self.int8 = _Int8.of(self.col, self.space, segments)
            self.job.scan = "int8" if self.int8 is not None else "half"
            blocks = self._plan(state, segments)
            self.job.total = (self.job.total or 0) + sum(b.rows for b in blocks)
            self.e.jobs.save(self.job)
            if self.progress:
                self.progress(self.job.done, self.job.total)
            weights = np.stack([versions[c.class_id].weights for c in self.group])
            biases = np.array([versions[c.class_id].bias for c in self.group], np.float32)
            tops = {c.class_id: self._top_scores(state.taggings[c.class_id]) for c in self.group}
            by_name = {s.name: s for s in segments}
            for index, block in enumerate(blocks):
                if self.e.jobs.cancel_requested(self.job.job_id):
                    self._settle(state)
                    return False
                self._block(state, index, block, by_name, weights, biases, tops)
                self.job.done += block.rows
                self.e.jobs.save(self.job)
                if self.progress:
                    self.progress(self.job.done, self.job.total)
            self._settle(state)
        return True

    def _taggings(self, state: TagState) -> TagState:
        """``state`` with a tagging per class of the group (the current one when it applies the
        same version and rule, else a new one), committed before any block."""
        classes = self.e.learning.classes
        for class_id in [k for k in state.taggings if not classes.class_exists(k)]:
            del state.taggings[class_id]  # deleted classes' tags go
        for c in self.group:
            t = state.taggings.get(c.class_id)
            if t is None or not t.same_rule(c.version, c.rule, c.value):
                state.taggings[c.class_id] = Tagging(
                    c.class_id,
                    self.job.job_id,
                    c.version,
                    c.rule,
                    c.value,
                    c.floor,
                    curve=c.curve,
                    job_id=self.job.job_id,
                    updated_at=now(),
                )
        self.tags.save(state)
        self.tags.collect_garbage(state)
        return state

    def _plan(self, state: TagState, segments: list[LiveSegment]) -> list[_Block]:
        """Blocks of about ``block_rows`` rows that some class of the group has not scored."""
        blocks: list[_Block] = []
        current = _Block([], 0)
        for seg in segments:
            for lo in range(0, seg.n_rows, self.block_rows):
                hi = min(lo + self.block_rows, seg.n_rows)
                rows = np.arange(lo, hi)
                need = self._need(state, seg, rows)
                n = int(need.any(axis=1).sum())
                if n == 0:
                    continue
                if current.rows and current.rows + n > self.block_rows:
                    blocks.append(current)
                    current = _Block([], 0)
                current.pieces.append(Piece(seg.name, lo, hi))
                current.rows += n
        if current.rows:
            blocks.append(current)
        return blocks

    def _need(self, state: TagState, seg: LiveSegment, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), k) bool``: which live file rows each class has yet to score."""
        need = np.empty((len(rows), len(self.group)), bool)
        live = seg.live[rows]
        for j, c in enumerate(self.group):
            covered = state.taggings[c.class_id].covered.get(seg.name, [])
            need[:, j] = live & ~in_ranges(covered, rows)
        return need

    def _top_scores(self, t: Tagging) -> np.ndarray:
        if t.rule != TOP:
            return np.zeros(0, np.float32)
        return self.tags.rows(t, self.store).scores[: int(t.value)]

    def _block(
        self,
        state: TagState,
        index: int,
        block: _Block,
        by_name: dict[str, LiveSegment],
        weights: np.ndarray,
        biases: np.ndarray,
        tops: dict[int, np.ndarray],
    ) -> None:
        names = sorted({p.name for p in block.pieces})
        seg_index = {n: i for i, n in enumerate(names)}
        # One buffer for every block: a fresh one would fault its pages in at every block.
        if self._buffer is None or len(self._buffer) < block.rows:
            self._buffer = np.empty((block.rows, self.store.dim), np.float16)
        x = self._buffer[: block.rows]
        item_ids = np.empty(block.rows, np.int64)
        seg_of = np.empty(block.rows, np.int32)
        need_all = np.empty((block.rows, len(self.group)), bool)
        matrix_rows = np.empty(block.rows, np.int64)
        at = 0
        for piece in block.pieces:
            seg = by_name[piece.name]
            file_rows = np.arange(piece.lo, piece.hi)
            need = self._need(state, seg, file_rows)
            wanted = need.any(axis=1)
            n = int(wanted.sum())
            if n == 0:
                continue
            if self.int8 is None:
                read_rows(self.store, piece.name, file_rows[wanted], out=x[at : at + n])
            else:
                matrix_rows[at : at + n] = self.int8.rows(piece.name, file_rows[wanted])
            item_ids[at : at + n] = seg.item_ids[file_rows[wanted]]
            seg_of[at : at + n] = seg_index[piece.name]
            need_all[at : at + n] = need[wanted]
            at += n
        assert at == block.rows  # the plan's count: nobody else writes this tagging
        floors = np.array(
            [self._floor(state.taggings[c.class_id], tops[c.class_id]) for c in self.group]
        )
        approx = None
        if self.int8 is not None and block.rows:
            lo, hi = int(matrix_rows[0]), int(matrix_rows[-1]) + 1
            if hi - lo == block.rows:  # no hole: the matrix's own rows, not a copy
                x = self.int8.matrix.vectors[lo:hi]
            else:
                np.take(self.int8.matrix.vectors, matrix_rows, axis=0, out=x)
            if block.rows >= INT8_MIN_ROWS:
                approx = self.int8.first_pass(weights, matrix_rows)
        parts: list[ClassRows] = []
        if block.rows:
            kept = keep_above(x, weights, biases, floors, need_all, approx=approx)
            for j, c in enumerate(self.group):
                c.scored += int(need_all[:, j].sum())
                k = kept[j]
                if len(k.rows):
                    parts.append(
                        ClassRows(c.class_id, c.version, item_ids[k.rows], k.scores, seg_of[k.rows])
                    )
                if c.rule == TOP:
                    tops[c.class_id] = _best(tops[c.class_id], k.scores, int(c.value))
        name = f"{self.job.job_id}-{index:06d}"
        if parts:
            self.tags.write_part(name, names, parts)
        with_rows = {p.class_id for p in parts}
        for c in self.group:
            t = state.taggings[c.class_id]
            for piece in block.pieces:
                t.covered[piece.name] = add_range(t.covered.get(piece.name, []), piece.lo, piece.hi)
            if c.class_id in with_rows and name not in t.parts:
                t.parts.append(name)
            if c.rule == TOP:
                t.floor = self._floor(t, tops[c.class_id])
        self.tags.save(state)  # the block's commit point

    @staticmethod
    def _floor(t: Tagging, top: np.ndarray) -> float:
        if t.rule == TOP and len(top) >= int(t.value):
            return max(t.floor, float(top[int(t.value) - 1]))
        return t.floor

    def _settle(self, state: TagState) -> None:
        """Each class's threshold and estimate on its live rows, saved with the state."""
        classes = self.e.learning.classes
        for c in self.group:
            t = state.taggings[c.class_id]
            rows = self.tags.rows(t, self.store)
            labels = classes.current_labels(c.class_id)
            marks = np.array([labels.get(int(i), 0) for i in rows.item_ids], np.int8)
            curve = Curve(*t.curve) if t.curve else None
            c.warning = None
            if t.rule == PRECISION:
                assert curve is not None
                cut = cut_for_precision(rows.scores, marks, curve, t.value, t.floor)
                if cut is None:
                    threshold = math.inf
                    c.warning = (
                        f"no threshold reaches the estimated precision {t.value}: no tag; mark "
                        "more items, lower --precision, or give --threshold"
                    )
                else:
                    threshold = cut.threshold
            elif t.rule == THRESHOLD:
                threshold = t.value
            else:
                threshold = top_threshold(rows.scores, int(t.value))
            est = cut_at(rows.scores, marks, curve, threshold)
            t.threshold = threshold
            t.estimate = {
                "tags": est.tags,
                "expected_positives": finite(est.expected_positives),
                "precision": finite(est.precision),
                "precision_sd": finite(est.precision_sd),
                "rows": len(rows),
            }
            t.generation = list(self.store.generation())
            t.job_id, t.updated_at = self.job.job_id, now()
            c.threshold, c.tags, c.rows = threshold, est.tags, len(rows)
            c.precision = finite(est.precision)
            c.precision_sd = finite(est.precision_sd)
            c.expected_positives = finite(est.expected_positives)
            c.floor = t.floor
        self.tags.save(state)
        self.tags.collect_garbage(state)


def _best(top: np.ndarray, new: np.ndarray, n: int) -> np.ndarray:
    both = np.concatenate([top, new])
    if len(both) > n:
        both = -np.partition(-both, n - 1)[:n]
    return np.sort(both)[::-1]
