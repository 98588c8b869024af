"""The Python API, mirroring the CLI: ``furet.open(home).collection(name).search(...)``."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sqlalchemy import func, select

from furet.catalog.database import open_catalog, private_dir
from furet.catalog.repository import Catalog
from furet.catalog.schema import ClassRow, CollectionRow, UserRow
from furet.domain.classifier import GramCache
from furet.domain.propagation import KnnGraph
from furet.embedders import create_embedder, get_spec, list_embedders
from furet.embedders.base import Embedder
from furet.errors import FuretError, InvalidInputError, MediaError, NotFoundError
from furet.media.images import decode_bytes, decode_image
from furet.services import embeddings_io
from furet.services.embeddings_io import ImportReport
from furet.services.enrichment import Enrichment
from furet.services.ingest import Ingestor, IngestReport, ProgressFn, check_roots
from furet.services.knn_graph import GraphUpdate, load_graph, update_graph
from furet.services.layout import CollectionLayout
from furet.services.learning import Learning
from furet.services.search import SearchHit, query_vector, search_matrix
from furet.services.spaces import reembed
from furet.settings import Settings
from furet.vectors.base import TopK, VectorIndex
from furet.vectors.compressed import CompressedIndex
from furet.vectors.factory import create_index
from furet.vectors.faiss_knn import (
    FAISS_MAX_ITEMS,
    FAISS_MIN_ITEMS,
    KNN_FILE,
    FaissKnn,
    starts_with,
)
from furet.vectors.mapped import mapped_matrix, vector_bytes
from furet.vectors.reading import mean_rows
from furet.vectors.segments import SegmentStore, VectorMatrix, gather

#: Background rebuilds of stale compressed indexes, one at a time per process. Its thread is
#: joined when the interpreter exits (a daemon thread killed inside a native build aborts it).
_rebuild_runner: ThreadPoolExecutor | None = None
_rebuild_lock = threading.Lock()


def _rebuilds() -> ThreadPoolExecutor:
    global _rebuild_runner
    with _rebuild_lock:
        if _rebuild_runner is None:
            _rebuild_runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="furet-rebuild")
        return _rebuild_runner


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    model: str
    items: int
    files: int
    errors: int
    disk_bytes: int
    spaces: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


class Furet:
    """A data home: one catalog database and the vector segments of every collection."""

    def __init__(self, settings: Settings):
        self.settings = settings
        private_dir(settings.home)
        self.catalog = Catalog(open_catalog(settings.catalog_url()))
        self._collections: dict[int, Collection] = {}

    def embedder(self, model: str) -> Embedder:
        return create_embedder(model, self.settings.model_dir, self.settings.device)

    def collections(self) -> list[Collection]:
        return [self._cached(row) for row in self.catalog.list_collections()]

    def collection(self, name: str) -> Collection:
        return self._cached(self.catalog.get_collection(name))

    def collection_by_id(self, collection_id: int) -> Collection:
        # Collections are never renamed or deleted: one seen once stays valid.
        known = self._collections.get(collection_id)
        if known is not None:
            return known
        for row in self.catalog.list_collections():
            if row.collection_id == collection_id:
                return self._cached(row)
        raise NotFoundError(f"no collection {collection_id}")

    def _cached(self, row: CollectionRow) -> Collection:
        # One Collection object per collection keeps its vector matrix cached across calls.
        col = self._collections.get(row.collection_id)
        if col is None or col.row.name != row.name:
            col = self._collections[row.collection_id] = Collection(self, row)
        return col

    def learning(self, user: str = "local", *, user_id: int | None = None) -> Learning:
        """Classes, labels and rounds of ``user`` (or of the account ``user_id``)."""
        return Learning(self, user, user_id=user_id)

    def enrichment(self, user: str = "local", *, user_id: int | None = None) -> Enrichment:
        """Mass enrichment jobs of ``user`` (the classes they may read), and their tags
        (``.tags``)."""
        return Enrichment(self, self.learning(user, user_id=user_id))

    def class_owners(self, name: str | None = None) -> dict[str, int]:
        """User name -> how many classes (named ``name``, if given) that user owns; users
        without one are left out. Tells the CLI's ``local`` user where the browser's are."""
        q = (
            select(UserRow.name, func.count(ClassRow.class_id))
            .join(ClassRow, ClassRow.owner_id == UserRow.user_id)
            .group_by(UserRow.name)
            .order_by(UserRow.name)
        )
        if name is not None:
            q = q.where(ClassRow.name == name)
        with self.catalog.sessions() as s:
            return {str(user): int(n) for user, n in s.execute(q)}

    def create_collection(self, name: str, model: str | None = None) -> Collection:
        model = self._check_new_collection(name, model)
        return self._cached(self.catalog.create_collection(name, model))

    def _check_new_collection(self, name: str, model: str | None) -> str:
        if not name or "/" in name or name.strip() != name:
            raise InvalidInputError(f"invalid collection name {name!r}")
        model = model or self.settings.default_model
        get_spec(model)
        return model

    def ingest(
        self,
        name: str,
        paths: list[Path] | list[str],
        *,
        model: str | None = None,
        prune: bool = False,
        progress: ProgressFn | None = None,
    ) -> IngestReport:
        """Ingest ``paths`` into the collection ``name``, created on first use (``model``:
        its embedder). A first ingest that fails creates nothing: the paths, the model, its
        weights and the device are checked before the collection exists, and a run that
        fails before committing any file takes the new collection away again."""
        if self.catalog.find_collection(name) is not None:
            return self.ensure_collection(name, model).ingest(paths, prune=prune, progress=progress)
        model = self._check_new_collection(name, model)
        check_roots([Path(p) for p in paths])
        self.embedder(model)  # missing weights or a missing device fail here, not half-way
        col = self.create_collection(name, model)
        try:
            return col.ingest(paths, prune=prune, progress=progress)
        except BaseException:
            self._drop_if_empty(col)
            raise

    def import_embeddings(
        self,
        name: str,
        folder: Path,
        *,
        model: str | None = None,
        progress: ProgressFn | None = None,
    ) -> ImportReport:
        """Import embeddings in clip-retrieval's layout into the collection ``name`` (created
        with ``model`` on first use; an existing one must be of that model). A first import that
        fails creates nothing."""
        folder = Path(folder)
        if self.catalog.find_collection(name) is not None:
            return self.ensure_collection(name, model).import_embeddings(folder, progress)
        model = self._check_new_collection(name, model)
        embeddings_io.shards(folder)  # a wrong folder fails before the collection exists
        col = self.create_collection(name, model)
        try:
            return col.import_embeddings(folder, progress)
        except BaseException:
            self._drop_if_empty(col)
            raise

    def _drop_if_empty(self, col: Collection) -> None:
        try:
            dropped = self.catalog.drop_empty_collection(col.collection_id)
        except Exception:
            return  # the error that stopped the ingest is the one to report
        if dropped:
            self._collections.pop(col.collection_id, None)
            # SQLite may give the id to the next collection: it must find no stale segment.
            shutil.rmtree(col.layout.root, ignore_errors=True)

    def ensure_collection(self, name: str, model: str | None = None) -> Collection:
        row = self.catalog.find_collection(name)
        if row is None:
            return self.create_collection(name, model)
        if model and model != row.model:
            raise InvalidInputError(
                f"collection {name!r} is indexed with {row.model!r}, not {model!r}"
            )
        return self._cached(row)


class Collection:
    """One collection: ingest files into it, search it."""

    def __init__(self, home: Furet, row: CollectionRow):
        self.home = home
        self.row = row
        self.layout = CollectionLayout(home.settings.home, row.collection_id)
        # Per space: (segments key, live vectors, mean vector or None).
        self._cache: dict[str, tuple[tuple[int, int, int], VectorMatrix, np.ndarray | None]] = {}
        self._stores: dict[str, SegmentStore] = {}  # those whose dimension is known
        #: The classes' last Gram matrices (a round extends its class's previous one).
        self.gram_cache = GramCache()
        self._indexes: dict[str, VectorIndex] = {}
        self._index_ids: dict[str, np.ndarray] = {}  # per space: the item ids of its index
        #: Per space: (the matrix it serves, its k-NN index, the item ids it indexes, in order).
        self._knns: dict[str, tuple[VectorMatrix, FaissKnn, np.ndarray]] = {}
        self._knn_lock = threading.Lock()
        #: Per space: (the matrix it was loaded for, graph and adjacency or None).
        self._graphs: dict[str, tuple[VectorMatrix, tuple[KnnGraph, csr_matrix] | None]] = {}
        self._load_lock = threading.Lock()
        self._rebuilding: set[str] = set()  # spaces whose stale index is being rebuilt

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def model(self) -> str:
        return self.row.model

    @property
    def collection_id(self) -> int:
        return self.row.collection_id

    def spaces(self) -> list[str]:
        """Embedding spaces of the collection, its ingestion model first."""
        root = self.layout.root / "spaces"
        others = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []
        return [self.model] + [s for s in others if s != self.model]

    def _space(self, space: str | None) -> str:
        space = space or self.model
        if space != self.model and space not in self.spaces():
            raise NotFoundError(
                f"collection {self.name!r} has no {space!r} space; add it with: "
                f"furet embed --collection {self.name} --model {space}"
            )
        return space

    def store(self, model: str | None = None) -> SegmentStore:
        model = model or self.model
        cached = self._stores.get(model)
        if cached is not None:  # every round asks several times: no path work, no mkdir
            return cached
        store = SegmentStore(self.layout.space(model), get_spec(model).dim)
        names = store.names()
        if not names:
            return store
        # A model loaded from a folder may differ from its registered size: the header says.
        header = np.load(store.root / names[0] / "vectors.npy", mmap_mode="r")
        store.dim = int(header.shape[1])
        self._stores[model] = store
        return store

    def ingest(
        self,
        paths: list[Path] | list[str],
        *,
        prune: bool = False,
        progress: ProgressFn | None = None,
    ) -> IngestReport:
        """Index new and changed files under ``paths``; ``prune`` forgets removed ones."""
        s = self.home.settings
        ingestor = Ingestor(
            self.home.catalog,
            self.layout,
            self.collection_id,
            self.home.embedder(self.model),
            max_pixels=s.max_image_pixels,
            batch_size=s.batch_size,
            workers=s.decode_workers,
            thumbnail_size=s.thumbnail_size,
            segment_items=s.segment_items,
            frame_interval=s.frame_interval,
        )
        report = IngestReport(self.name, self.model)
        ingestor.run([Path(p) for p in paths], prune=prune, report=report, progress=progress)
        for space in self.spaces()[1:]:
            # New and changed items get a vector in every space. A space that cannot (its
            # weights are missing, say) fails alone: the others and the report still count.
            try:
                self.add_space(space)
            except FuretError as exc:
                report.space_errors.append((space, str(exc)))
        self._cache.clear()
        for space in self.spaces():
            if space not in dict(report.space_errors):
                up = self.update_graph(space)
                if up.skipped:
                    report.graph_notes.append((space, up.skipped))
        return report

    def import_embeddings(self, folder: Path, progress: ProgressFn | None = None) -> ImportReport:
        """Index embeddings made elsewhere (``services.embeddings_io``) into the ingestion
        model's space, without decoding an image; then the k-NN graph is brought up to date."""
        t0 = time.perf_counter()
        report = ImportReport(self.name, self.model)
        store = self.store()
        embeddings_io.import_embeddings(
            self.home.catalog,
            self.layout,
            self.collection_id,
            self.model,
            store,
            folder,
            report,
            progress,
        )
        self._cache.clear()
        up = self.update_graph()
        if up.skipped:
            report.warnings.append(f"no k-NN graph: {up.skipped}")
        report.seconds = time.perf_counter() - t0
        return report

    def export_embeddings(
        self, folder: Path, space: str | None = None, progress: ProgressFn | None = None
    ) -> int:
        """Write a space's vectors and paths in clip-retrieval's layout; returns the rows."""
        space = self._space(space)
        return embeddings_io.export_embeddings(
            self.home.catalog, self.matrix(space), space, Path(folder), progress
        )

    def update_graph(self, space: str | None = None) -> GraphUpdate:
        """Bring the space's k-NN graph up to date with its live vectors (incremental)."""
        space = self._space(space)
        m = self.matrix(space)
        limit = self.home.settings.graph_max_items
        up = update_graph(self.layout.space(space), m, max_items=limit)
        self._graphs.pop(space, None)
        return up

    def graph(self, space: str | None = None) -> tuple[KnnGraph, csr_matrix] | None:
        """The space's k-NN graph over the rows of ``matrix(space)`` and its adjacency, or
        None where it has none or it is stale (until the next ingestion updates it)."""
        space = self._space(space)
        m = self.matrix(space)  # a new matrix whenever the space's segments change
        cached = self._graphs.get(space)
        if cached is not None and cached[0] is m:
            return cached[1]
        with self._load_lock:
            g = load_graph(self.layout.space(space), m)
            value = None if g is None else (g, g.adjacency())
            self._graphs[space] = (m, value)
        return value

    def add_space(self, model: str, progress: ProgressFn | None = None) -> int:
        """Embed every item that has no vector in ``model``'s space yet (from the original
        files, no re-ingestion); returns how many were embedded. Resumable like ingestion.
        The embedder (its weights) is loaded only when some item needs a vector."""
        s = self.home.settings
        get_spec(model)
        done = reembed(
            self.home.catalog,
            self.layout,
            self.collection_id,
            model,
            lambda: self.home.embedder(model),
            max_pixels=s.max_image_pixels,
            batch_size=s.batch_size,
            segment_items=s.segment_items,
            progress=progress,
        )
        self._cache.pop(model, None)
        self.update_graph(model)
        return done

    def matrix(self, space: str | None = None) -> VectorMatrix:
        """Live vectors of a space (default: the ingestion model's), cached until it changes."""
        space = self._space(space)
        store = self.store(space)
        key = store.generation()
        cached = self._cache.get(space)
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._load_lock:  # concurrent requests after a change load the vectors once
            cached = self._cache.get(space)
            if cached is not None and cached[0] == key:
                return cached[1]
            # Rows written by a crashed run and not yet reconciled are not in the catalog.
            members = self.home.catalog.segment_members(self.collection_id, space)
            known = np.concatenate(list(members.values())) if members else np.zeros(0, np.int64)
            s = self.home.settings
            if s.matrix == "mapped" or (
                s.matrix == "auto" and vector_bytes(store) >= s.mapped_min_bytes
            ):
                m = mapped_matrix(store, known)
            else:
                m = gather(store, store.dim)
                keep = np.isin(m.item_ids, known)
                if not keep.all():
                    m = VectorMatrix(m.item_ids[keep], m.vectors[keep])
            cached = self._cache[space] = (key, m, None)
        return cached[1]

    def index(self, space: str | None = None) -> VectorIndex:
        """The scan over a space's live vectors, shared by concurrent rounds and searches."""
        space = self._space(space)
        m = self.matrix(space)
        with self._load_lock:  # one index per matrix, so that concurrent scans batch together
            cached = self._indexes.get(space)
            if cached is None or cached.vectors is not m.vectors:
                cached = self._indexes[space] = self._new_index(space, m, cached)
            return cached

    def _new_index(self, space: str, m: VectorMatrix, old: VectorIndex | None) -> VectorIndex:
        """A compressed index over a matrix that only grew is extended (its added rows
        encoded), and rebuilt in the background once drift makes it stale; others are built."""
        s = self.home.settings
        held = self._index_ids.get(space)
        self._index_ids[space] = m.item_ids
        if isinstance(old, CompressedIndex) and held is not None and starts_with(m.item_ids, held):
            grown = old.extended(m.vectors)
            if grown.stale and space not in self._rebuilding:
                self._rebuilding.add(space)
                _rebuilds().submit(self._rebuild, space, m)
            return grown
        return create_index(m.vectors, s.scan, s.scan_threads)

    def _rebuild(self, space: str, m: VectorMatrix) -> None:
        """Build a fresh index over ``m`` and serve it if ``m`` is still the space's matrix."""
        s = self.home.settings
        try:
            fresh = create_index(m.vectors, s.scan, s.scan_threads)
        finally:
            with self._load_lock:
                self._rebuilding.discard(space)
        with self._load_lock:
            current = self._indexes.get(space)
            if current is not None and current.vectors is m.vectors:
                self._indexes[space] = fresh

    def knn(self, space: str | None = None) -> TopK:
        """What search by example uses: a FAISS HNSW index from ``FAISS_MIN_ITEMS`` items to
        ``FAISS_MAX_ITEMS`` (``FURET_KNN``), built on first use and extended as rows are
        added, else the scan (exact on its head)."""
        space = self._space(space)
        m = self.matrix(space)
        mode = self.home.settings.knn
        sized = FAISS_MIN_ITEMS <= len(m) <= FAISS_MAX_ITEMS
        if mode == "exact" or (mode == "auto" and not sized) or not len(m):
            return self.index(space)
        with self._knn_lock:
            cached = self._knns.get(space)
            if cached is not None and cached[0] is m:
                return cached[1]
            grows = cached is not None and starts_with(m.item_ids, cached[2])
            path = self.layout.space(space) / KNN_FILE
            if cached is not None and grows:
                cached[1].extend(m.vectors)
                knn = cached[1]
            else:  # what a previous process saved, extended, or a new build
                knn = FaissKnn.load(path, m.vectors, m.item_ids) or FaissKnn(m.vectors)
            if len(knn) != knn.persisted:  # written only when built or extended
                with contextlib.suppress(OSError):  # a read-only home still searches
                    knn.save(path, m.item_ids)
            self._knns[space] = (m, knn, m.item_ids.copy())
            return knn

    def built_index(self, space: str | None = None) -> tuple[VectorMatrix, VectorIndex] | None:
        """The space's matrix and scan if the scan is already built over its current vectors
        (a server builds them when it starts); None otherwise. Builds and loads nothing."""
        space = self._space(space)
        index, cached = self._indexes.get(space), self._cache.get(space)
        if index is None or cached is None or index.vectors is not cached[1].vectors:
            return None
        if cached[0] != self.store(space).generation():
            return None
        return cached[1], index

    def mean_vector(self, space: str | None = None) -> np.ndarray:
        """``(dim,) float64`` mean of a space's vectors (the classifier's background)."""
        space = self._space(space)
        m = self.matrix(space)
        key, _, mean = self._cache[space]
        if mean is None:
            mean = mean_rows(m.vectors)
            self._cache[space] = (key, m, mean)
        return mean

    def require_items(self, item_ids: list[int], space: str | None = None) -> np.ndarray:
        """Rows of ``item_ids`` in the space's matrix; an id not in it raises NotFoundError."""
        rows = self.matrix(space).rows_of(item_ids)
        if (rows < 0).any():
            missing = item_ids[int(np.flatnonzero(rows < 0)[0])]
            raise NotFoundError(f"no item {missing} in collection {self.name!r}")
        return rows

    def vectors_of(self, item_ids: list[int], space: str | None = None) -> np.ndarray:
        """``(m, dim) float32`` vectors of ``item_ids``; unknown ids raise NotFoundError."""
        return self.matrix(space).vectors[self.require_items(item_ids, space)].astype(np.float32)

    def embed_text(self, text: str, space: str | None = None) -> np.ndarray:
        """``(dim,) float32`` vector of a text query, for spaces with a text tower."""
        space = self._space(space)
        if not text.strip():
            raise InvalidInputError("the text query is empty")
        if not get_spec(space).has_text:
            with_text = [s.name for s in list_embedders() if s.has_text]
            raise InvalidInputError(
                f"space {space!r} of collection {self.name!r} has no text tower; text search "
                f"needs one of {', '.join(with_text)}: furet embed --collection {self.name} "
                f"--model {with_text[0]}"
            )
        return self.home.embedder(space).embed_texts([text])[0]

    def embed_image(self, image: Path | bytes, space: str | None = None) -> np.ndarray:
        """``(dim,) float32`` vector of an image file or uploaded bytes."""
        emb = self.home.embedder(self._space(space))
        s = self.home.settings
        if isinstance(image, bytes):
            decoded = decode_bytes(image, s.max_image_pixels)
        else:
            if not image.is_file():
                raise InvalidInputError(f"{image} is not a file")
            try:
                decoded = decode_image(image, s.max_image_pixels)
            except MediaError as exc:
                raise MediaError(f"{image}: {exc}") from None
        return emb.embed_batch(emb.preprocess(decoded.image)[None])[0]

    def search(
        self,
        *,
        image: Path | bytes | None = None,
        item_id: int | None = None,
        item_ids: list[int] | None = None,
        k: int = 20,
        temporal_range: float = 0.0,
        text: str | None = None,
        space: str | None = None,
    ) -> list[SearchHit]:
        """Exact cosine top-``k`` for an image file/bytes, an item, several items or a text
        (in a space with a text tower). The query items themselves are excluded."""
        space = self._space(space)
        ids = list(item_ids or []) + ([item_id] if item_id is not None else [])
        queries = []
        if image is not None:
            queries.append(self.embed_image(image, space))
        if text is not None:
            queries.append(self.embed_text(text, space))
        if ids:
            queries.extend(self.vectors_of(ids, space))
        if not queries:
            raise InvalidInputError("give an image, a text, an item id or item ids to search with")
        return search_matrix(
            self.matrix(space),
            self.knn(space),
            self.home.catalog,
            query_vector(np.stack(queries)),
            k,
            ids,
            temporal_range,
        )

    def errors(self) -> list[tuple[str, str]]:
        return self.home.catalog.errors(self.collection_id)

    def info(self) -> CollectionInfo:
        items, files, errors = self.home.catalog.counts(self.collection_id)
        return CollectionInfo(
            self.name, self.model, items, files, errors, self.layout.disk_bytes(), self.spaces()
        )


def open(home: Path | str | None = None, settings: Settings | None = None) -> Furet:
    """Open (creating if needed) the data home ``home`` (default ``FURET_HOME`` or the platform's
    user data directory)."""
    settings = settings or Settings()
    if home is not None:
        settings = settings.model_copy(update={"home": Path(home)})
    return Furet(settings)
