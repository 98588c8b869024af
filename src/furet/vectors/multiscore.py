"""Many linear models over one block of vectors: one matrix product, exact where it matters.

A mass enrichment keeps, for each class ``j``, the rows whose score ``x @ w_j + b_j`` is at least
the class's floor, with exact float32 scores. A first pass scores the block for every class at
once, ``(rows, dim) @ (dim, k)``: a half-precision product (as the exact scan's, with unit-norm
columns so that nothing overflows) or the int8 pass of ``furet.vectors.quantized``. Only the rows
within a margin of a floor are then scored again in float32 (one gather, one product), so the
rows kept and their scores are those of the exact float32 scan.

The margin is the larger of a bound and an observation. For L2-normalised rows the half
product's error is at most ``2**-10 |w|`` (the weights' and the result's roundings, float32
accumulation); twice that is the least margin. Each block also scores a sample of its rows both
ways and takes four times the largest error seen, which covers an int8 pass and a CPU whose
half product would round more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from furet.vectors.exact import rows_float32

#: Rows of a block scored both ways to measure the first pass's error.
SAMPLE_ROWS = 256
#: The margin is this many times the largest error seen on the sample...
MARGIN_FACTOR = 4.0
#: ... and at least this many times |w| (twice the half product's bound for unit rows).
MIN_MARGIN = 2.0**-9

#: A first pass: ``(rows, dim)`` block, ``(k, dim)`` weights -> ``(rows, k) float32`` scores
#: without the biases.
FirstPass = Callable[[np.ndarray, np.ndarray], np.ndarray]


def half_pass(block: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``block @ weights.T`` as one half-precision product of unit-norm columns."""
    norms = np.linalg.norm(weights, axis=1).astype(np.float32)
    norms[norms == 0] = 1.0
    unit = torch.from_numpy(np.ascontiguousarray((weights / norms[:, None]).T)).half()
    x = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float16))
    out: np.ndarray = (x @ unit).float().numpy()
    out *= norms[None, :]
    return out


@dataclass(frozen=True)
class Kept:
    """What a class keeps of a block: ``(m,)`` row positions and their float32 scores."""

    rows: np.ndarray
    scores: np.ndarray


def keep_above(
    block: np.ndarray,
    weights: np.ndarray,
    biases: np.ndarray,
    floors: np.ndarray,
    need: np.ndarray | None = None,
    first_pass: FirstPass = half_pass,
    approx: np.ndarray | None = None,
) -> list[Kept]:
    """For each of ``k`` classes, the rows of ``block`` scoring at least its floor.

    ``block``: ``(rows, dim)`` float16 (or float32); ``weights``: ``(k, dim)``; ``biases``,
    ``floors``: ``(k,)``; ``need``: ``(rows, k) bool``, the rows each class is to score (None:
    all). ``approx``: first-pass scores already computed (``(rows, k)``, no biases), else
    ``first_pass`` computes them. Scores kept are exact float32 ``x @ w + b``.
    """
    n, k = len(block), len(weights)
    w32 = np.ascontiguousarray(weights, dtype=np.float32)
    b32 = np.asarray(biases, np.float32)
    if n == 0 or k == 0:
        return [Kept(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in range(k)]
    first = first_pass(block, w32) if approx is None else approx
    first = first + b32[None, :]
    sample = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_ROWS)).astype(np.int64))
    exact_sample = rows_float32(block, sample) @ w32.T + b32[None, :]
    seen = np.abs(exact_sample - first[sample]).max(axis=0)
    margin = np.maximum(MARGIN_FACTOR * seen, MIN_MARGIN * np.linalg.norm(w32, axis=1))
    candidate = first >= (np.asarray(floors, np.float32) - margin)[None, :]
    if need is not None:
        candidate &= need
    rows = np.flatnonzero(candidate.any(axis=1))
    exact = rows_float32(block, rows) @ w32.T + b32[None, :] if len(rows) else None
    out = []
    for j in range(k):
        if exact is None:
            out.append(Kept(np.zeros(0, np.int64), np.zeros(0, np.float32)))
            continue
        mine = candidate[rows, j] & (exact[:, j] >= np.float32(floors[j]))
        out.append(Kept(rows[mine], exact[mine, j].astype(np.float32)))
    return out
