"""A space's k-NN graph on disk: built at ingest time, updated incrementally, versioned by its
vectors.

``spaces/<model>/knn-graph.npz`` holds, for every live item of the space, its ``k`` nearest
neighbours (item ids and cosine similarities) and a signature of the vector it was computed
from (its projection on a fixed random direction). An ingestion that adds ``a`` items to ``n``
computes only ``a x n`` similarities: the new items' lists in full, the old items' lists merged
with the new candidates. Items removed, or whose vector changed (a different signature), are
recomputed along with every item that listed one of them. The graph is used by a round only if it
covers exactly the space's live items with their current vectors (``load_graph``); otherwise the
round ranks by the model alone until the next ingestion rebuilds it.

Exact search costs ``O(n^2 dim)`` for a first build (100k x 1280-d: a few minutes on two cores),
so spaces above ``max_items`` get no graph (a note in the ingestion report says so).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from furet.domain.propagation import GRAPH_K, KnnGraph, similarity_blocks, top_neighbours
from furet.services.layout import write_atomic
from furet.vectors.segments import VectorMatrix

GRAPH_FILE = "knn-graph.npz"
#: Largest space (items) whose graph ingestion builds: exact search is quadratic.
DEFAULT_MAX_ITEMS = 200_000


@dataclass(frozen=True)
class GraphUpdate:
    """What an update did: ``computed`` rows searched in full, ``merged`` rows that only took
    new candidates, ``items`` in the graph (0 and a ``skipped`` reason when none was built)."""

    items: int
    computed: int
    merged: int
    skipped: str | None = None


def signature(vectors: np.ndarray) -> np.ndarray:
    """``(n,) float32``: each vector's projection on a fixed random direction (changes with it)."""
    dim = vectors.shape[1]
    direction = np.asarray(np.random.default_rng([0x6AF, dim]).standard_normal(dim), np.float32)
    out = np.empty(vectors.shape[0], np.float32)
    for start in range(0, vectors.shape[0], 65_536):
        out[start : start + 65_536] = vectors[start : start + 65_536].astype(np.float32) @ direction
    return out


def _read(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path) as z:
            return {name: z[name] for name in ("item_ids", "signature", "neighbours", "sims")}
    except (OSError, KeyError, ValueError):  # absent, or a torn or foreign file: rebuild
        return None


def _write(
    path: Path, item_ids: np.ndarray, sig: np.ndarray, nb_ids: np.ndarray, sims: np.ndarray
) -> None:
    buf = io.BytesIO()
    np.savez(buf, item_ids=item_ids, signature=sig, neighbours=nb_ids, sims=sims)
    write_atomic(path, buf.getvalue())


def update_graph(
    root: Path, m: VectorMatrix, k: int = GRAPH_K, max_items: int = DEFAULT_MAX_ITEMS
) -> GraphUpdate:
    """Bring ``root/knn-graph.npz`` up to date with the live vectors ``m`` of the space."""
    path = root / GRAPH_FILE
    n = len(m)
    if n > max_items:
        path.unlink(missing_ok=True)
        return GraphUpdate(0, 0, 0, f"{n} items, more than the {max_items} of an exact graph")
    k = min(k, max(n - 1, 0))
    sig = signature(m.vectors)
    old = _read(path)
    nb = np.full((n, k), -1, np.int64)  # rows of m
    sv = np.full((n, k), -np.inf, np.float32)
    fresh = np.ones(n, bool)  # rows whose list is computed in full
    if old is not None and old["neighbours"].shape[1] == k and n:
        rows = m.rows_of(old["item_ids"])
        kept = rows >= 0
        same = np.zeros(len(rows), bool)
        same[kept] = old["signature"][kept] == sig[rows[kept]]
        nb_rows = m.rows_of(old["neighbours"].reshape(-1)).reshape(-1, k)
        gone = np.zeros(n, bool)  # current rows whose vector changed
        gone[rows[kept & ~same]] = True
        # An old neighbour that left or changed makes its lister recompute.
        valid = (nb_rows >= 0) & ~gone[np.clip(nb_rows, 0, None)]
        ok = same & valid.all(axis=1)
        target = rows[ok]
        nb[target] = nb_rows[ok]
        sv[target] = old["sims"][ok]
        fresh[target] = False
    computed = np.flatnonzero(fresh)
    if computed.size and k:
        for q, sims in similarity_blocks(m.vectors, computed):
            stale = ~fresh
            # Old rows take the fresh rows as candidates (their similarity is symmetric).
            cand = np.ascontiguousarray(sims[:, stale].T) if stale.any() else None
            nb[q], sv[q] = top_neighbours(sims, k, q)
            if cand is not None:
                own = np.flatnonzero(stale)
                c_idx, c_val = top_neighbours(cand, k, None)
                # A fresh row may already be listed (its own list was redone, not its vector).
                c_val[(q[c_idx][:, :, None] == nb[own][:, None, :]).any(axis=2)] = -np.inf
                both_idx = np.concatenate([nb[own], q[c_idx]], axis=1)
                both_val = np.concatenate([sv[own], c_val], axis=1)
                pick, pick_val = top_neighbours(both_val, k, None)
                nb[own] = np.take_along_axis(both_idx, pick, axis=1)
                sv[own] = pick_val
    merged = int(n - computed.size) if computed.size else 0
    _write(
        path,
        m.item_ids.astype(np.int64),
        sig,
        m.item_ids[nb].astype(np.int64),
        sv,
    )
    return GraphUpdate(n, int(computed.size), merged)


def load_graph(root: Path, m: VectorMatrix) -> KnnGraph | None:
    """The space's graph over the rows of ``m``, or None if there is none or it does not cover
    exactly ``m``'s items with their current vectors (stale: the next ingestion rebuilds it)."""
    data = _read(root / GRAPH_FILE)
    if data is None or data["item_ids"].shape != m.item_ids.shape:
        return None
    rows = m.rows_of(data["item_ids"])
    if (rows < 0).any() or not np.array_equal(data["signature"], signature(m.vectors)[rows]):
        return None
    k = data["neighbours"].shape[1]
    nb_rows = m.rows_of(data["neighbours"].reshape(-1)).reshape(-1, k)
    if (nb_rows < 0).any():
        return None
    neighbours = np.empty((len(m), k), np.int32)
    sims = np.empty((len(m), k), np.float32)
    neighbours[rows] = nb_rows
    sims[rows] = data["sims"]
    return KnnGraph(neighbours, sims)
