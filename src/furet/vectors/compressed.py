"""The compressed scan: one pass over a PCA-reduced int8 copy, then exact re-ranking.

A round scores a linear model over every row and a mode picks its page among the best rows
(Search, Most useful, Discovery's exploit part), the rows nearest the decision boundary
(Ambiguous) or anywhere (Classify random, then re-scored). Reading every full vector is what
made a round cost ~130 ms at 1M x 1280 (the int8 pass of ``furet.vectors.quantized`` streams
1.3 GB). Here each row is kept resident as ``d`` int8 codes of its principal components
(the components holding ``EXPLAINED`` of the variance of a sample, at most ``MAX_DIMS``:
128 for 1280-d features), 10x less to stream, scored by the same ONNX Runtime
``MatMulInteger`` pass. The full float16 vectors stay where they are (a memory map of the
space's file, see ``furet.vectors.mapped``) and are read only for the rows that matter:

- the first pass gives approximate scores ``mean @ w + codes @ (scale * V w)``; its error is
  the part of ``w`` outside the kept components and the rounding, measured for **each query**
  on a fixed sample of ``ERROR_ROWS`` rows whose full vectors are resident;
- the candidates of a ranking are the rows within ``MARGIN_SIGMAS`` error deviations of the
  ``HEAD``-th best approximate score, and those within that margin of the ``BAND``-th nearest
  to the boundary (0, the logit of probability 1/2); they are re-scored exactly in float32
  from the full vectors, so the head of a ranking and the boundary are exact;
- the margin is then checked on the re-scored candidates themselves (rows near the head or
  the boundary can be explained worse than the average row): those in the outer half of the
  margin stand for the rows left out; where one of them turns out to be in the exact head
  or band (``needed_sigma``), the margin is doubled and the added rows re-scored (at most
  ``WIDENINGS`` times);
- when a query's error is so large that the candidates exceed ``MAX_CANDIDATES`` rows and
  ``MAX_CANDIDATE_SHARE`` of the collection (a
  space whose variance is not concentrated, or a query orthogonal to it), that query is
  scored by the exact scan instead (``ExactIndex``, the reference): slower, never wrong
  (``fallbacks`` counts them). This happens too when a class has fewer members than
  ``HEAD``: the head then reaches rows the model cannot tell apart.

Rows added to the space (new segments at the end) are encoded with the same components
(``extended``); how much of the new rows' variance they hold is watched, and the index says
it is ``stale`` when it has fallen by more than ``DRIFT``, so that its owner rebuilds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from furet.domain.selection import smallest
from furet.vectors.base import rescored_topk
from furet.vectors.batching import Query, QueryBatcher
from furet.vectors.exact import ExactIndex, exact_rows, rows_float32
from furet.vectors.quantized import CHUNK_ROWS, int8_session, quantise, query_codes
from furet.vectors.reading import read_block, sample_rows, spread_rows

#: The kept components hold this share of the sampled variance ...
EXPLAINED = 0.8
#: ... within these bounds (a multiple of ``DIM_STEP``, never more than the space's dimension).
MIN_DIMS, MAX_DIMS, DIM_STEP = 32, 128, 16
#: Rows sampled to fit the components.
BASIS_ROWS = 65_536
#: Rows whose full vectors stay resident to measure each query's first-pass error.
ERROR_ROWS = 1024
#: Rows of the head of a ranking and nearest the boundary that are always re-scored exactly.
HEAD = 128
BAND = 128
#: Candidates: rows within this many error deviations of the head's or the band's edge.
MARGIN_SIGMAS = 3.0
#: Times the margin may be doubled after checking it on the candidates themselves.
WIDENINGS = 3
#: Beyond this many candidates (or this share of the rows) a query is scored exactly instead.
MAX_CANDIDATES = 16_384
MAX_CANDIDATE_SHARE = 1 / 8
#: Codes may exceed the sample's peak by this factor before clipping.
HEADROOM = 1.25
#: The index is stale when added rows' explained variance drops by more than this.
DRIFT = 0.05
_ENCODE_ROWS = 1 << 15


@dataclass(frozen=True)
class Basis:
    """The principal components a space is reduced to, and the int8 step of each."""

    mean: np.ndarray  # (dim,) float32
    components: np.ndarray  # (d, dim) float32, orthonormal rows
    scale: np.ndarray  # (d,) float32: a component's value is scale * code
    explained: float  # share of the sample's variance the components hold

    @property
    def dims(self) -> int:
        return len(self.components)

    def reduce(self, block: np.ndarray) -> torch.Tensor:
        """``(rows, dim)`` -> ``(rows, d) float32`` component values."""
        x = torch.from_numpy(np.ascontiguousarray(block)).float()
        return (x - torch.from_numpy(self.mean)) @ torch.from_numpy(self.components).T

    def encode(self, block: np.ndarray) -> np.ndarray:
        """``(rows, dim)`` -> ``(rows, d) int8`` codes."""
        z = self.reduce(block).numpy()
        return quantise(z, torch.from_numpy(1 / self.scale)).numpy()

    def explained_on(self, sample: np.ndarray) -> float:
        """Share of ``sample``'s variance (about the basis' mean) the components hold."""
        x = np.asarray(sample, np.float32) - self.mean
        total = float((x * x).sum())
        if total == 0:
            return 1.0
        z = x @ self.components.T
        return float((z * z).sum()) / total


def fit_basis(sample: np.ndarray, dims: int | None = None) -> Basis:
    """Components of ``(m, dim) float32`` rows: ``dims`` of them, or as many as hold
    ``EXPLAINED`` of the variance (within ``MIN_DIMS`` .. ``MAX_DIMS``)."""
    dim = sample.shape[1]
    mean = sample.mean(axis=0, dtype=np.float64).astype(np.float32)
    x = torch.from_numpy(sample - mean).double()
    cov = (x.T @ x) / max(len(sample), 1)
    values, vectors = torch.linalg.eigh(cov)
    values, vectors = values.flip(0).clamp_(min=0), vectors.flip(1)
    share = torch.cumsum(values, 0) / max(float(values.sum()), 1e-30)
    if dims is None:
        wanted = int(torch.searchsorted(share, torch.tensor(EXPLAINED, dtype=share.dtype))) + 1
        dims = -(-wanted // DIM_STEP) * DIM_STEP
        dims = max(MIN_DIMS, min(MAX_DIMS, dims))
    dims = max(1, min(dims, dim))
    components = np.ascontiguousarray(vectors[:, :dims].T.float().numpy())
    z = (torch.from_numpy(sample - mean) @ torch.from_numpy(components).T).abs()
    peak = z.amax(dim=0).numpy() if len(sample) else np.ones(dims, np.float32)
    peak[peak == 0] = 1.0
    scale = (peak * np.float32(HEADROOM) / np.float32(127)).astype(np.float32)
    return Basis(mean, components, scale, float(share[dims - 1]))


@dataclass(frozen=True)
class _Chunk:
    lo: int
    hi: int
    session: object


@dataclass(frozen=True)
class _Edges:
    """Where a ranking's head and band end in the first pass (fixed while the margin grows)."""

    head: float  # the HEAD-th best first-pass score
    band: float | None  # the BAND-th smallest first-pass distance to the boundary
    distance: np.ndarray | None  # (n,) first-pass distances to the boundary, with ``band``

    @classmethod
    def of(cls, approx: np.ndarray, boundary: bool) -> _Edges:
        head = float(approx[smallest(-approx, HEAD)[-1]])
        if not boundary:
            return cls(head, None, None)
        distance = np.abs(approx)
        return cls(head, float(distance[smallest(distance, BAND)[-1]]), distance)


@dataclass(frozen=True)
class _Candidates:
    rows: np.ndarray  # sorted
    edges: _Edges
    margin: float


def needed_sigma(approx: np.ndarray, exact: np.ndarray, cand: _Candidates) -> float:
    """The error deviation the margin must assume, judged from the candidates themselves.

    The rows in the outer half of the margin (first-pass score just above the cut) stand
    for the rows just below it, which were left out. If any of them is in the exact head
    (scores at least the exact ``HEAD``-th best) or the exact band (``BAND`` nearest the
    boundary), rows left out may be too: the margin is doubled. Else it stands (0 is
    returned). This catches errors that a uniform sample misses: rows of the class itself,
    whose direction the kept components explain worst, are all underestimated together.
    """
    m = cand.margin
    grow = 2.0 * m / MARGIN_SIGMAS
    head_k = min(HEAD, len(exact))
    head_edge, band_edge = cand.edges.head, cand.edges.band
    shell = (approx >= head_edge - m) & (approx < head_edge - m / 2)
    if head_k and shell.any():
        t_k = float(-np.partition(-exact, head_k - 1)[head_k - 1])
        if (exact[shell] >= t_k).any():
            return grow
    if band_edge is None:
        return 0.0
    distance = np.abs(approx)
    band_k = min(BAND, len(exact))
    shell = (distance <= band_edge + m) & (distance > band_edge + m / 2)
    if band_k and shell.any():
        b_k = float(np.partition(np.abs(exact), band_k - 1)[band_k - 1])
        if (np.abs(exact[shell]) <= b_k).any():
            return grow
    return 0.0


class CompressedIndex:
    """Linear scoring over ``(n, dim)`` float16 rows (in memory or memory-mapped) through a
    resident reduced int8 copy; see the module docstring."""

    def __init__(
        self,
        vectors: np.ndarray,
        threads: int | None = None,
        dims: int | None = None,
        *,
        basis: Basis | None = None,
        chunks: tuple[list[_Chunk], np.ndarray] | None = None,
        drift: float = 0.0,
    ):
        if vectors.ndim != 2:
            raise ValueError("vectors must be (n, dim)")
        self.vectors = vectors
        self.threads = threads or min(os.cpu_count() or 1, 8)
        n = len(vectors)
        if basis is None:
            sample = sample_rows(vectors, BASIS_ROWS) if n else np.zeros((1, vectors.shape[1]))
            basis = fit_basis(np.asarray(sample, np.float32), dims)
        self.basis = basis
        self.drift = drift
        #: Queries scored exactly because their candidates exceeded ``MAX_CANDIDATES``.
        self.fallbacks = 0
        done, tail = chunks if chunks is not None else ([], np.zeros((0, basis.dims), np.int8))
        self._chunks, self._tail = self._encode_from(list(done), tail)
        err_rows = spread_rows(n, ERROR_ROWS)
        self._err_x = rows_float32(vectors, err_rows)
        self._err_codes = basis.encode(self._err_x).astype(np.float32)
        self._batcher = QueryBatcher(self._score)
        self._exact: ExactIndex | None = None  # the fallback, built on first use

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def stale(self) -> bool:
        """The rows added since the build are explained much worse: rebuild the index."""
        return self.drift > DRIFT

    def extended(self, vectors: np.ndarray) -> CompressedIndex:
        """The index over ``vectors``, whose first ``len(self)`` rows are this index's: only
        the added rows are encoded (the full chunks' passes are shared with this index)."""
        n = len(self)
        if len(vectors) < n:
            raise ValueError("an extended index has at least the rows of the old one")
        drift = self.drift
        if len(vectors) > n:
            new = sample_rows(read_block(vectors, n, len(vectors)), 4096)
            drift = max(drift, self.basis.explained - self.basis.explained_on(new))
        done = [c for c in self._chunks if c.hi - c.lo == CHUNK_ROWS]
        partial = len(done) < len(self._chunks)
        tail = self._tail if partial else self._tail[:0]
        return CompressedIndex(
            vectors, self.threads, basis=self.basis, chunks=(done, tail), drift=drift
        )

    def _encode_from(self, done: list[_Chunk], tail: np.ndarray) -> tuple[list[_Chunk], np.ndarray]:
        """Passes over every row: ``done`` (full chunks) kept, the rest encoded, reusing the
        codes ``tail`` of the rows right after ``done``. Returns them and the last chunk's
        codes (kept to extend it)."""
        n = len(self.vectors)
        start = done[-1].hi if done else 0
        out = list(done)
        last = tail
        for lo in range(start, n, CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, n)
            chunk = np.empty((hi - lo, self.basis.dims), np.int8)
            known = min(len(tail), hi - lo) if lo == start else 0
            chunk[:known] = tail[:known]
            for a in range(lo + known, hi, _ENCODE_ROWS):
                z = min(a + _ENCODE_ROWS, hi)
                chunk[a - lo : z - lo] = self.basis.encode(read_block(self.vectors, a, z))
            out.append(_Chunk(lo, hi, int8_session(np.ascontiguousarray(chunk.T), self.threads)))
            last = chunk
        return out, last

    # -- scoring ---------------------------------------------------------------------------

    def _fold(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Query codes, steps and offsets ``mean @ w`` of ``(k, dim)`` weights."""
        b = self.basis
        folded = (weights @ b.components.T) * b.scale
        codes, step = query_codes(folded.astype(np.float32))
        return codes, step, (weights @ b.mean).astype(np.float32)

    def _score(self, batch: list[Query]) -> None:
        weights = np.stack([q.w for q in batch])
        codes, step, offset = self._fold(weights)
        out = np.empty((len(batch), len(self.vectors)), np.float32)
        for c in self._chunks:
            (ints,) = c.session.run(None, {"A": codes})  # type: ignore[attr-defined]
            np.multiply(ints, step[:, None], out=out[:, c.lo : c.hi])
        for j, q in enumerate(batch):
            q.out = out[j] + np.float32(offset[j] + q.b)

    def error_std(self, w: np.ndarray) -> float:
        """Standard deviation of the first pass's error for ``w``, on the error sample."""
        w32 = np.asarray(w, np.float32)
        codes, step, offset = self._fold(w32[None])
        approx = (self._err_codes @ (codes[0].astype(np.float32) - 64)) * step[0] + offset[0]
        return float(np.std(self._err_x @ w32 - approx))

    def candidates(self, approx: np.ndarray, sigma: float, edges: _Edges) -> _Candidates | None:
        """Rows whose exact score may put them in the head (or, where ``edges`` has one, the
        band) of the ranking of ``approx`` (error std ``sigma``); None when too many."""
        margin = float(MARGIN_SIGMAS * sigma)
        wanted = approx >= np.float32(edges.head - margin)
        if edges.distance is not None and edges.band is not None:
            wanted |= edges.distance <= np.float32(edges.band + margin)
        count = int(np.count_nonzero(wanted))
        if count > max(MAX_CANDIDATES, len(approx) * MAX_CANDIDATE_SHARE):
            return None
        return _Candidates(np.flatnonzero(wanted), edges, margin)

    def scores(self, w: np.ndarray, b: float = 0.0, *, boundary: bool = True) -> np.ndarray:
        """``(n,) float32`` scores ``X @ w + b``: exact on the head of the ranking and (with
        ``boundary``) near the boundary, approximate elsewhere (within ``error_std``)."""
        return self.refined(w, b, boundary)[0]

    def refined(
        self, w: np.ndarray, b: float = 0.0, boundary: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``scores(w, b)`` and the rows it re-scored exactly (None: every row, the query
        fell back to the exact scan)."""
        if len(self.vectors) == 0:
            return np.zeros(0, np.float32), None
        approx = self.approximate(w, b)
        out = approx.copy()
        sigma = self.error_std(w)
        done = np.zeros(0, np.int64)
        edges = _Edges.of(approx, boundary)
        for _ in range(WIDENINGS + 1):
            cand = self.candidates(approx, sigma, edges)
            if cand is None:
                self.fallbacks += 1
                return self.exact_scores(w, b), None
            fresh = np.setdiff1d(cand.rows, done, assume_unique=True)
            out[fresh] = exact_rows(self.vectors, fresh, w, b)
            done = cand.rows
            needed = needed_sigma(approx[done], out[done], cand)
            if needed <= sigma:
                break
            sigma = needed
        return out, done

    def approximate(self, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        """``(n,) float32`` first-pass scores (concurrent callers share one pass)."""
        return self._batcher.run(w, b)

    def exact_scores(self, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        """The exact scan's scores (``FURET_SCAN=exact``, the reference): a half-precision
        pass over the full vectors, its head re-scored in float32."""
        if self._exact is None:
            self._exact = ExactIndex(self.vectors)
        return self._exact.scores(w, b)

    def rescore(self, rows: np.ndarray, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        """Float32 scores of ``rows`` only."""
        return exact_rows(self.vectors, rows, w, b)

    def topk(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return rescored_topk(self, query, k, exclude)
