"""Synthetic collections written through furet's own ingestion commit path (segments + catalog):
clustered unit vectors, one fake file per item, for tests that need many items fast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import furet
from furet.catalog.repository import FileOutcome, NewItem
from furet.library import Collection
from furet.vectors.segments import SegmentStore

MODEL = "lite0"  # the registered model the collection names; the vectors' width is their own


@dataclass
class Synthetic:
    col: Collection
    item_ids: np.ndarray  # (n,) int64
    cluster: np.ndarray  # (n,) int
    vectors: np.ndarray  # (n, dim) float16, as stored
    centres: np.ndarray  # (clusters, dim) float32

    def members(self, c: int) -> np.ndarray:
        return self.item_ids[self.cluster == c]


def clustered(
    n: int, dim: int, clusters: int, rng: np.random.Generator, centres: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n, dim) float16`` unit vectors around random centres, their cluster, the centres."""
    if centres is None:
        centres = rng.standard_normal((clusters, dim)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    cluster = rng.integers(0, len(centres), n)
    x = centres[cluster] + rng.standard_normal((n, dim)).astype(np.float32) * (1.2 / np.sqrt(dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float16), cluster, centres


def add_items(col: Collection, vectors: np.ndarray, segment_rows: int) -> np.ndarray:
    """Write ``vectors`` as new items (segments of ``segment_rows``), committed like an
    ingestion chunk; returns their ids."""
    home = col.home
    store = SegmentStore(col.layout.space(MODEL), vectors.shape[1])
    out = []
    for lo in range(0, len(vectors), segment_rows):
        block = vectors[lo : lo + segment_rows]
        ids = home.catalog.allocate_ids(len(block))
        name = store.write(ids, block)
        outcomes = [FileOutcome(f"/synthetic/{i}.jpg", 1, 1, (NewItem(int(i)),)) for i in ids]
        home.catalog.commit_files(col.collection_id, MODEL, name, outcomes)
        out.append(ids)
    return np.concatenate(out)


def synthetic(
    home: furet.Furet,
    name: str,
    n: int,
    *,
    dim: int = 32,
    clusters: int = 8,
    segment_rows: int = 1000,
    seed: int = 0,
) -> Synthetic:
    rng = np.random.default_rng(seed)
    col = home.create_collection(name, MODEL)
    x, cluster, centres = clustered(n, dim, clusters, rng)
    ids = add_items(col, x, segment_rows)
    return Synthetic(col, ids, cluster, x, centres)
