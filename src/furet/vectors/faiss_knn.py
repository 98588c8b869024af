"""Approximate nearest neighbours for search by example at archive scale, through FAISS.

An HNSW graph (``IndexHNSWSQ``: neighbours found over half-precision copies of the vectors)
proposes ``CANDIDATES x k`` rows; their scores are then computed again exactly in float32
from the float16 store, so every hit shown carries its exact cosine and the order among the
candidates is the exact one. Vectors wider than ``PROJECT_ABOVE`` dimensions are first
projected on the ``KNN_DIMS`` principal components of a sample (``PCAMatrix``; the graph
then ranks by L2 distance, which for unit vectors orders as the cosine and, unlike the inner
product, does not change with the centring), and ``PROJECTED_CANDIDATES x k`` rows are
re-scored: each step of the search reads 256 instead of 1280 values (5x less memory traffic
and build time; at 200k x 1280 on two generators: 0.8-0.9 ms instead of 2.0 ms for recall@10
0.98-1.0, build 25 s instead of 75 s). Rows added to the space later are added to the graph
(``extend``); a graph whose rows no longer prefix the space's is rebuilt. Used by search from
``FAISS_MIN_ITEMS`` items on (``FURET_KNN``: ``auto``, ``exact``, ``faiss``); the exact scan
stays the reference and serves smaller collections.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import faiss
import numpy as np

from furet.errors import InvalidInputError
from furet.vectors.exact import exact_rows
from furet.vectors.reading import read_block, sample_rows

#: The index of a space, beside its segments (with ``.ids.npy``: the item id of each row).
KNN_FILE = "knn.faiss"
#: Below this many items the exact scan answers (``FURET_KNN=auto``).
FAISS_MIN_ITEMS = 50_000
#: ... and above this many the space's scan answers again (``auto``): an HNSW graph's build
#: grows to hours (19.5 min at 1M x 1280 here), while the compressed scan's head is exact.
FAISS_MAX_ITEMS = 1_000_000
#: HNSW links per node, and the breadth of construction and of a search.
HNSW_M = 32
EF_CONSTRUCTION = 80
EF_SEARCH = 64
#: Candidates proposed per result wanted (the search breadth too), re-scored exactly.
CANDIDATES = 1.5
#: Vectors wider than this are searched in a projection on their ``KNN_DIMS`` principal
#: components, with ``PROJECTED_CANDIDATES`` candidates per result re-scored exactly.
PROJECT_ABOVE = 384
KNN_DIMS = 256
PROJECTED_CANDIDATES = 3.0
#: Rows of the sample the projection is fitted on.
PCA_SAMPLE = 65_536
#: Rows added to the graph per call while building (bounded float32 copies).
ADD_BLOCK = 65_536


class FaissKnn:
    """Top-k by inner product over ``(n, dim)`` float16/float32 unit vectors (a memory map
    is fine: it is read a block at a time)."""

    def __init__(self, vectors: np.ndarray, threads: int = 0, index: faiss.Index | None = None):
        if vectors.ndim != 2:
            raise InvalidInputError(f"vectors must be (n, dim), got {vectors.shape}")
        self.vectors = vectors
        self.dim = int(vectors.shape[1])
        #: OpenMP threads of a build or an extension (0: the cores).
        self.threads = threads or os.cpu_count() or 1
        self._lock = threading.Lock()
        #: Rows of this index that its file on disk holds (``save``, ``load``).
        self.persisted = 0
        if index is not None:  # read back from disk: only the rows added since are indexed
            self._index = index
            self.persisted = int(index.ntotal)
            self.extend(vectors)
            return
        self._index = _new_index(vectors)
        self.extend(vectors)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def graph_dims(self) -> int:
        """The dimension the graph is searched in (``KNN_DIMS`` when projected)."""
        if isinstance(self._index, faiss.IndexPreTransform):
            return int(self._index.index.d)
        return self.dim

    def extend(self, vectors: np.ndarray) -> None:
        """Add the rows of ``vectors`` beyond those indexed (``vectors`` extends the old)."""
        if vectors.shape[1] != self.dim or len(vectors) < len(self):
            raise InvalidInputError("extend needs the same rows and more, in the same order")
        with self._lock:
            faiss.omp_set_num_threads(self.threads)  # this thread's parallel regions only
            for start in range(len(self), len(vectors), ADD_BLOCK):
                stop = min(start + ADD_BLOCK, len(vectors))
                block = np.ascontiguousarray(read_block(vectors, start, stop), np.float32)
                self._index.add(block)
            self.vectors = vectors

    def save(self, path: Path, item_ids: np.ndarray) -> None:
        """Write the index and the item ids of its rows (``path`` and ``path.ids.npy``), each
        to a temporary name then renamed."""
        ids_path = _ids_path(path)
        with self._lock:
            tmp = path.with_name(f".{path.name}.tmp")
            faiss.write_index(self._index, str(tmp))
            tmp_ids = ids_path.with_name(f".{ids_path.name}.tmp.npy")
            np.save(tmp_ids, np.asarray(item_ids[: len(self)], np.int64))
            os.replace(tmp_ids, ids_path)
            os.replace(tmp, path)
            self.persisted = len(self)

    @classmethod
    def load(cls, path: Path, vectors: np.ndarray, item_ids: np.ndarray) -> FaissKnn | None:
        """The index saved at ``path``, extended with the rows added since, if its rows are the
        first rows of ``item_ids`` (else None: the caller rebuilds it)."""
        try:
            saved = np.load(_ids_path(path))
            if not starts_with(item_ids, saved):
                return None
            index = faiss.read_index(str(path))
        except (OSError, ValueError, RuntimeError):  # absent, torn or foreign: rebuild
            return None
        if index.ntotal != len(saved) or index.d != vectors.shape[1]:
            return None
        return cls(vectors, index=index)

    def topk(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, exact float32 scores)`` of the best ``k`` rows for ``query`` ``(dim,)``,
        best first, ``exclude`` rows left out."""
        if k <= 0 or len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = np.ascontiguousarray(np.asarray(query, np.float32).reshape(1, -1))
        if q.shape[1] != self.dim:
            raise InvalidInputError(f"query has dimension {q.shape[1]}, expected {self.dim}")
        skip = 0 if exclude is None else len(exclude)
        projected = isinstance(self._index, faiss.IndexPreTransform)
        breadth = PROJECTED_CANDIDATES if projected else CANDIDATES
        want = min(len(self), int(breadth * k) + skip)
        params = faiss.SearchParametersHNSW(efSearch=max(EF_SEARCH, want))  # type: ignore[attr-defined]
        if projected:
            params = faiss.SearchParametersPreTransform(index_params=params)  # type: ignore[call-arg]
        # One query runs on one thread: a team of OpenMP threads for it only waits for the
        # others (1.65 -> 11.3 ms at 60k x 1280 with the second core busy).
        faiss.omp_set_num_threads(1)
        _, found = self._index.search(q, want, params=params)
        rows = found[0][found[0] >= 0].astype(np.int64)
        if exclude is not None and len(exclude):
            rows = rows[~np.isin(rows, exclude)]
        scores = exact_rows(self.vectors, rows, q[0])
        order = np.lexsort((rows, -scores))[:k]
        return rows[order], scores[order]


def _new_index(vectors: np.ndarray) -> faiss.Index:
    """An empty HNSW graph for rows like ``vectors``: over their projection on ``KNN_DIMS``
    principal components (L2) when they are wider than ``PROJECT_ABOVE`` (and number at least
    their dimension, for a full covariance), else over the rows themselves (inner product)."""
    dim = int(vectors.shape[1])
    projected = dim > PROJECT_ABOVE and len(vectors) >= dim
    graph = faiss.IndexHNSWSQ(
        KNN_DIMS if projected else dim,
        faiss.ScalarQuantizer.QT_fp16,  # type: ignore[arg-type]  # the stubs say otherwise
        HNSW_M,
        faiss.METRIC_L2 if projected else faiss.METRIC_INNER_PRODUCT,
    )
    graph.hnsw.efConstruction = EF_CONSTRUCTION
    graph.hnsw.efSearch = EF_SEARCH
    if not projected:
        graph.train(np.zeros((1, dim), np.float32))  # fp16 needs no training
        return graph
    pca = faiss.PCAMatrix(dim, KNN_DIMS)
    pca.train(np.ascontiguousarray(sample_rows(vectors, PCA_SAMPLE), np.float32))
    index = faiss.IndexPreTransform(pca, graph)
    index.train(np.zeros((1, dim), np.float32))  # the projection is trained, fp16 needs none
    return index


def _ids_path(path: Path) -> Path:
    return path.with_name(path.name + ".ids.npy")


def starts_with(ids: np.ndarray, prefix: np.ndarray) -> bool:
    """Whether ``ids`` begins with ``prefix`` (rows were only appended since)."""
    return len(ids) >= len(prefix) and bool(np.array_equal(ids[: len(prefix)], prefix))
