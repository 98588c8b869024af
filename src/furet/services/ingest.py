"""Ingestion: walk -> decode (worker threads) -> embed (batched) -> segment + catalog commit.

Idempotent per chunk: a chunk's vectors are written as one segment, then its files and items are
committed in one transaction (the commit point). A crash between the two leaves an orphan
segment that :func:`reconcile` drops on the next run, so a killed ingestion resumes with no
duplicate and no lost item.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from furet.catalog.repository import Catalog, FileOutcome, FileState, NewItem
from furet.embedders.base import Embedder
from furet.errors import FuretError, InvalidInputError
from furet.media.images import IMAGE_EXTENSIONS, decode_image, make_thumbnail
from furet.media.video import VIDEO_EXTENSIONS, extract_keyframes
from furet.services.layout import CollectionLayout, write_atomic
from furet.vectors.segments import SegmentStore

ProgressFn = Callable[[int, int], None]


@dataclass
class Unit:
    """One future item: network input, thumbnail and what the catalog records."""

    pixels: np.ndarray  # (3, S, S) float32
    thumbnail: bytes
    item: NewItem


@dataclass
class Decoded:
    path: str
    size: int
    mtime_ns: int
    units: list[Unit] = field(default_factory=list)
    error: str | None = None


@dataclass
class IngestReport:
    collection: str
    model: str
    scanned: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    items_added: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: ``(space, reason)`` of each extra space that could not be brought up to date.
    space_errors: list[tuple[str, str]] = field(default_factory=list)
    #: ``(space, reason)`` of each space left without a k-NN graph (see ``services.knn_graph``).
    graph_notes: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.items_added / self.seconds if self.seconds > 0 else 0.0


def media_extensions() -> frozenset[str]:
    return IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


@dataclass
class Scan:
    """What a walk found: media files, and the folders it could not list (path -> reason)."""

    files: list[Path]
    unreadable: dict[str, str] = field(default_factory=dict)


def check_roots(paths: Iterable[Path]) -> list[Path]:
    """``paths`` made absolute; one that does not exist raises ``InvalidInputError``."""
    roots = []
    for root in paths:
        root = root.expanduser().resolve()
        if not root.exists():
            raise InvalidInputError(f"{root} does not exist")
        roots.append(root)
    return roots


def scan(paths: Iterable[Path]) -> Scan:
    """Media files under ``paths`` (recursive, sorted, hidden entries skipped), and the folders
    that could not be listed: they are reported, never skipped in silence."""
    exts = media_extensions()
    found: set[Path] = set()
    unreadable: dict[str, str] = {}

    def on_error(exc: OSError) -> None:
        where = str(exc.filename) if exc.filename is not None else "?"
        unreadable[where] = f"unreadable directory ({exc.strerror or exc})"

    for root in check_roots(paths):
        if root.is_file():
            found.add(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith(".") and Path(name).suffix.lower() in exts:
                    found.add(Path(dirpath) / name)
    return Scan(sorted(found), dict(sorted(unreadable.items())))


def walk(paths: Iterable[Path]) -> list[Path]:
    """Media files under ``paths`` (recursive, sorted, hidden entries skipped)."""
    return scan(paths).files


def _under(path: str, prefixes: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or inside one of them (absolute paths)."""
    return any(path == pre or path.startswith(pre.rstrip(os.sep) + os.sep) for pre in prefixes)


def reconcile(catalog: Catalog, collection_id: int, model: str, store: SegmentStore) -> None:
    """Make the segments agree with the catalog after a crash (the catalog is the truth)."""
    store.clean_temporary()
    members = catalog.segment_members(collection_id, model)
    for seg in store.segments():
        keep = members.get(seg.name)
        if keep is None:
            store.drop(seg.name)  # written, never committed
            continue
        stale = seg.item_ids[seg.live & ~np.isin(seg.item_ids, keep)]
        if len(stale):
            store.tombstone(seg.name, stale)


class Ingestor:
    """Runs one ingestion of files into one collection's space."""

    def __init__(
        self,
        catalog: Catalog,
        layout: CollectionLayout,
        collection_id: int,
        embedder: Embedder,
        *,
        max_pixels: int,
        batch_size: int = 32,
        workers: int = 2,
        thumbnail_size: int = 256,
        segment_items: int = 256,
        frame_interval: float = 2.0,
    ):
        self.catalog = catalog
        self.layout = layout
        self.collection_id = collection_id
        self.embedder = embedder
        self.model = embedder.spec.name
        self.store = SegmentStore(layout.space(self.model), embedder.spec.dim)
        self.max_pixels = max_pixels
        self.batch_size = batch_size
        self.workers = max(1, workers)
        self.thumbnail_size = thumbnail_size
        self.segment_items = max(1, segment_items)
        self.frame_interval = frame_interval

    # -- decoding (worker threads) -----------------------------------------------------------

    def _decode(self, path: Path) -> Decoded:
        try:
            st = path.stat()
        except OSError as exc:
            return Decoded(str(path), 0, 0, error=f"unreadable ({exc.strerror})")
        out = Decoded(str(path), st.st_size, st.st_mtime_ns)
        try:
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                out.units = self._decode_video(path)
            else:
                out.units = self._decode_image(path)
        except FuretError as exc:
            out.error = str(exc)
        except Exception as exc:  # one bad file must never abort the run
            out.error = f"{type(exc).__name__}: {exc}"
        return out

    def _decode_image(self, path: Path) -> list[Unit]:
        side = round(self.embedder.spec.input_size * 256 / 224)
        decoded = decode_image(path, self.max_pixels, max(side, self.thumbnail_size))
        pixels = self.embedder.preprocess(decoded.image)
        thumb = make_thumbnail(decoded.image, self.thumbnail_size)
        return [Unit(pixels, thumb, NewItem(0, "image", decoded.width, decoded.height))]

    def _decode_video(self, path: Path) -> list[Unit]:
        side = round(self.embedder.spec.input_size * 256 / 224)
        # One decoder thread: embedding runs beside it on the other core.
        keyframes = extract_keyframes(
            path, self.frame_interval, max_side=max(2 * side, self.thumbnail_size), threads=1
        )
        units = []
        for k in keyframes:
            item = NewItem(
                0,
                "keyframe",
                k.image.width,
                k.image.height,
                round(k.time, 3),
                k.shot,
                round(k.shot_start, 3),
                round(k.shot_end, 3),
            )
            units.append(
                Unit(
                    self.embedder.preprocess(k.image),
                    make_thumbnail(k.image, self.thumbnail_size),
                    item,
                )
            )
        return units

    def _decoded_stream(self, files: list[Path]) -> Iterator[Decoded]:
        """Decode ahead of the consumer, in order, with a bounded window."""
        ahead = max(2 * self.batch_size, 8)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="furet-decode") as pool:
            window: deque[Future[Decoded]] = deque()
            it = iter(files)
            for path in it:
                window.append(pool.submit(self._decode, path))
                if len(window) >= ahead:
                    break
            while window:
                result = window.popleft().result()
                nxt = next(it, None)
                if nxt is not None:
                    window.append(pool.submit(self._decode, nxt))
                yield result

    # -- the run -----------------------------------------------------------------------------

    def run(
        self,
        paths: list[Path],
        *,
        prune: bool = False,
        report: IngestReport,
        progress: ProgressFn | None = None,
    ) -> IngestReport:
        t0 = time.perf_counter()
        with self.layout.writer_lock():
            reconcile(self.catalog, self.collection_id, self.model, self.store)
            found = scan(paths)
            files = found.files
            states = self.catalog.file_states(self.collection_id)
            report.scanned = len(files)
            todo: list[Path] = []
            for f in files:
                size, mtime_ns = _stat(f)
                old = states.get(str(f))
                if old and old.size == size and old.mtime_ns == mtime_ns:
                    report.unchanged += 1
                else:
                    todo.append(f)
            self._record_unreadable(paths, found.unreadable, states, report)
            if prune:
                self._prune(paths, files, found.unreadable, states, report)
            self._ingest(todo, states, report, progress)
        report.seconds = time.perf_counter() - t0
        return report

    def _record_unreadable(
        self,
        roots: list[Path],
        unreadable: dict[str, str],
        states: dict[str, FileState],
        report: IngestReport,
    ) -> None:
        """An error row per folder that could not be listed, as for an unreadable file; the
        row of a folder listed again this time goes away."""
        prefixes = [str(r.expanduser().resolve()) for r in roots]
        healed = [
            p
            for p, st in states.items()
            if st.status == "error"
            and not st.item_ids
            and p not in unreadable
            and _under(p, prefixes)
            and os.path.isdir(p)
        ]
        self.catalog.remove_files(self.collection_id, self.model, healed)
        for p in healed:
            del states[p]
        if unreadable:
            outcomes = [FileOutcome(p, 0, 0, (), reason) for p, reason in unreadable.items()]
            self.catalog.commit_files(self.collection_id, self.model, None, outcomes)
            report.failed.extend(unreadable.items())

    def _prune(
        self,
        roots: list[Path],
        files: list[Path],
        unreadable: dict[str, str],
        states: dict[str, FileState],
        report: IngestReport,
    ) -> None:
        present = {str(f) for f in files}
        prefixes = [str(r.expanduser().resolve()) for r in roots]
        # What lies in a folder that could not be listed is not known to be gone.
        gone = [
            p
            for p in states
            if p not in present
            and p not in unreadable
            and _under(p, prefixes)
            and not _under(p, unreadable)
        ]
        for seg_item in self.catalog.remove_files(self.collection_id, self.model, gone):
            self.store.tombstone(seg_item[1], [seg_item[0]])
        report.removed = len(gone)

    def _ingest(
        self,
        todo: list[Path],
        states: dict[str, FileState],
        report: IngestReport,
        progress: ProgressFn | None,
    ) -> None:
        chunk: list[Decoded] = []
        vectors: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        n_units = 0

        def embed_pending() -> None:
            if pending:
                vectors.append(self.embedder.embed_batch(np.stack(pending)))
                pending.clear()

        for done, decoded in enumerate(self._decoded_stream(todo), 1):
            chunk.append(decoded)
            for unit in decoded.units:
                pending.append(unit.pixels)
                unit.pixels = np.empty(0, np.float32)  # free the input early
                if len(pending) >= self.batch_size:
                    embed_pending()
            n_units += len(decoded.units)
            if n_units >= self.segment_items:
                embed_pending()
                self._commit(chunk, np.concatenate(vectors), states, report)
                chunk, vectors, n_units = [], [], 0
            if progress:
                progress(done, len(todo))
        embed_pending()
        if chunk:
            dim = self.embedder.spec.dim
            mat = np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)
            self._commit(chunk, mat, states, report)

    def _commit(
        self,
        chunk: list[Decoded],
        vectors: np.ndarray,
        states: dict[str, FileState],
        report: IngestReport,
    ) -> None:
        # Reuse the id of a changed single-image file so that its labels stay valid.
        ids: list[int] = []
        fresh_needed = 0
        for d in chunk:
            old = states.get(d.path)
            if old and len(old.item_ids) == 1 and len(d.units) == 1:
                continue
            fresh_needed += len(d.units)
        fresh = iter(self.catalog.allocate_ids(fresh_needed).tolist())
        outcomes: list[FileOutcome] = []
        for d in chunk:
            old = states.get(d.path)
            reuse = old is not None and len(old.item_ids) == 1 and len(d.units) == 1
            items = []
            for unit in d.units:
                item_id = old.item_ids[0] if reuse and old else next(fresh)
                ids.append(item_id)
                write_atomic(self.layout.thumbnail(item_id), unit.thumbnail)
                items.append(_with_id(unit.item, item_id))
            outcomes.append(FileOutcome(d.path, d.size, d.mtime_ns, tuple(items), d.error))
            if d.error:
                report.failed.append((d.path, d.error))
            elif old is None:
                report.added += 1
            else:
                report.updated += 1
            report.items_added += len(d.units)
        segment = self.store.write(np.asarray(ids, np.int64), vectors) if ids else None
        replaced = self.catalog.commit_files(self.collection_id, self.model, segment, outcomes)
        for item_id, seg in replaced:
            self.store.tombstone(seg, [item_id])


def _stat(path: Path) -> tuple[int, int]:
    """(size, mtime_ns); (0, 0) for a file that cannot be stat'ed (it is reported at decode)."""
    try:
        st = path.stat()
    except OSError:
        return 0, 0
    return st.st_size, st.st_mtime_ns


def _with_id(item: NewItem, item_id: int) -> NewItem:
    return NewItem(
        item_id,
        item.kind,
        item.width,
        item.height,
        item.video_time,
        item.shot,
        item.shot_start,
        item.shot_end,
    )
