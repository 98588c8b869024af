"""``furet duplicates``: groups of near-identical images of a collection (see
``furet.domain.duplicates``): neighbours in the space's k-NN graph (or, without one, its k-NN
index) with a cosine of at least ``min_cosine``, kept where their thumbnails' pixels agree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from furet.domain.duplicates import MIN_COSINE, THRESHOLD, agreement, groups, signature
from furet.domain.propagation import GRAPH_K
from furet.errors import InvalidInputError

if TYPE_CHECKING:
    from furet.library import Collection

Progress = Callable[[int, int], None]


@dataclass
class Duplicates:
    """``groups``: item ids of each group (largest first); ``candidates``: neighbour pairs above
    ``min_cosine``; ``unchecked``: candidates without a thumbnail on one side (imported)."""

    threshold: float
    min_cosine: float
    groups: list[list[int]] = field(default_factory=list)
    candidates: int = 0
    unchecked: int = 0


def _neighbours(col: Collection, space: str | None) -> tuple[np.ndarray, np.ndarray]:
    """``(n, k)`` neighbour rows and cosines of every row of the space's matrix."""
    graph = col.graph(space)
    if graph is not None:
        return graph[0].neighbours, graph[0].sims
    m, knn = col.matrix(space), col.knn(space)
    k = min(GRAPH_K, len(m) - 1)
    nb = np.full((len(m), k), -1, np.int64)
    sims = np.full((len(m), k), -np.inf, np.float32)
    for i in range(len(m)):
        rows, scores = knn.topk(m.vectors[i].astype(np.float32), k, np.array([i]))
        nb[i, : len(rows)], sims[i, : len(rows)] = rows, scores
    return nb, sims


def find_duplicates(
    col: Collection,
    *,
    threshold: float = THRESHOLD,
    min_cosine: float = MIN_COSINE,
    space: str | None = None,
    progress: Progress | None = None,
) -> Duplicates:
    if not -1.0 <= threshold <= 1.0 or not -1.0 <= min_cosine <= 1.0:
        raise InvalidInputError("threshold and min_cosine are correlations, in [-1, 1]")
    m = col.matrix(space)
    out = Duplicates(threshold, min_cosine)
    if len(m) < 2:
        return out
    nb, sims = _neighbours(col, space)
    rows, cols = np.nonzero(sims >= min_cosine)
    pairs = {
        (min(i, int(nb[i, c])), max(i, int(nb[i, c])))
        for i, c in zip(rows.tolist(), cols.tolist(), strict=True)
    }
    pairs.discard((-1, -1))
    out.candidates = len(pairs)
    cache: dict[int, np.ndarray | None] = {}

    def sig(row: int) -> np.ndarray | None:
        if row not in cache:
            path = col.layout.thumbnail(int(m.item_ids[row]))
            try:
                with Image.open(path) as im:
                    cache[row] = signature(im.convert("RGB"))
            except OSError:  # no thumbnail (an imported item): nothing to compare
                cache[row] = None
        return cache[row]

    kept = []
    for done, (a, b) in enumerate(sorted(pairs), 1):
        sa, sb = sig(a), sig(b)
        if sa is None or sb is None:
            out.unchecked += 1
        elif agreement(sa, sb) >= threshold:
            kept.append((a, b))
        if progress:
            progress(done, len(pairs))
    out.groups = [[int(m.item_ids[r]) for r in g] for g in groups(len(m), kept)]
    return out
