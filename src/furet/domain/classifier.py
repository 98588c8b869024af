"""The light class model of a round: a linear scorer fitted on frozen, L2-normalised embeddings.

The learner is a closed-form **prototype-anchored ridge** (measured against logistic regression
and plain ridge on Oxford Flowers 17, see ``furet.domain.simulation``):

1. a prior model ``f0(x) = 2 u.(x - mu) - 1`` with ``u = (m_pos - mu) / |m_pos - mu|^2``: the
   positives' mean scores +1 and the collection mean ``mu`` (the *background*) scores -1. With a
   single seed this is the nearest-neighbour search of the seed after centring the collection;
2. a class-balanced ridge regression of the residuals ``y - f0(x)`` (targets +1/-1) solved in its
   dual (kernel) form, so the cost is ``O(m^2 d + m^3)`` for ``m`` labels. The Gram matrix is
   computed once per fit and serves the model and every fold of its cross-validated score;
3. the result is scaled by ``ln 9`` so that scores read as logits: 0 is the boundary, the
   positives' mean sits at probability 0.9 and the background at 0.1.

Shrinking towards the prototype rather than towards zero keeps the first rounds as good as
k-NN while the ridge term learns from the negatives; the background anchor keeps the model from
calling the whole collection positive when every negative is a near miss.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from furet.domain.metrics import average_precision
from furet.errors import InvalidInputError

#: Scores are multiplied by this so the positives' mean has logit ln(9) (probability 0.9).
LOGIT_SCALE = math.log(9.0)
#: Rows scored per chunk, so float16 stores are up-cast a slice at a time.
SCORE_CHUNK = 65_536
#: Fewest positives and fewest (real) negatives for which a cross-validated score is computed.
CV_MIN_PER_CLASS = 5
CV_FOLDS = 5
#: The cross-validated score uses at most this many samples of each class (evenly spread), so
#: that it stays a few milliseconds for classes with thousands of marks.
CV_MAX_PER_CLASS = 100


@dataclass(frozen=True)
class LinearModel:
    """A linear class model: ``score(x) = x @ w + b``, a logit (0 = boundary, higher = positive).

    ``w``: ``(dim,) float32``. ``n_pos`` / ``n_neg`` count the user's marks, ``n_weak`` the
    sampled unlabelled vectors used as negatives. ``cv_score``: 5-fold cross-validated average
    precision of positives against marked negatives (on at most ``CV_MAX_PER_CLASS`` of each),
    None with fewer than 5 of either.
    """

    w: np.ndarray
    b: float
    n_pos: int
    n_neg: int
    n_weak: int
    cv_score: float | None = None

    @property
    def dim(self) -> int:
        return int(self.w.shape[0])


def _as_matrix(name: str, a: np.ndarray | None, dim: int | None) -> np.ndarray:
    if a is None:
        return np.empty((0, dim or 0), dtype=np.float32)
    m = np.asarray(a)
    if m.ndim == 1 and m.size == 0:
        m = m.reshape(0, dim or 0)
    if m.ndim != 2:
        raise InvalidInputError(f"{name} must be a (rows, dim) matrix, got shape {m.shape}")
    if dim is not None and m.shape[0] and m.shape[1] != dim:
        raise InvalidInputError(f"{name} has dimension {m.shape[1]}, expected {dim}")
    m = m.astype(np.float32, copy=False)  # first: numpy's float16 arithmetic is slow
    if not np.isfinite(m).all():
        raise InvalidInputError(f"{name} contains NaN or infinite values")
    return m.reshape(-1, dim if dim is not None else m.shape[1])


@functools.cache
def _blas_controller() -> object | None:
    try:  # a dependency of scikit-learn, hence always installed with furet
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """The fit's products are tiny: BLAS threads cost more than they give, and on a busy
    machine (other rounds scanning) their spin-waits made a fit 15x slower (measured)."""
    controller = _blas_controller()
    if controller is None:  # pragma: no cover
        yield
        return
    with controller.limit(limits=1, user_api="blas"):  # type: ignore[attr-defined]
        yield


class GramCache:
    """The Gram matrix of each class's last fit, so that the next fit computes only its new rows.

    A round adds a few marks to the previous round's: the products between rows seen before are
    copied, only the new rows' are computed, ``O(new x m x d)`` instead of ``O(m^2 d)`` (200
    marks x 1280-d: ~3 ms -> ~0.2 ms). Rows are identified by item id (negative ids never
    match: vectors that are not items). ``key`` must change whenever an item's vector may have
    (e.g. include the vector store's generation). Least recently used entries go first once
    ``max_bytes`` is exceeded. Thread-safe.
    """

    def __init__(self, max_bytes: int = 256 << 20):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def gram(self, key: Hashable, ids: np.ndarray, a: np.ndarray) -> np.ndarray:
        """``(m, m) float64`` Gram matrix ``a @ a.T`` of the ``(m, d) float32`` rows ``a``,
        whose identities are ``ids`` (``(m,) int64``)."""
        ids = np.asarray(ids, np.int64)
        with self._lock:
            prev = self._entries.get(key)
        k = None if prev is None else _extend_gram(prev[0], prev[1], ids, a)
        if k is None:
            k = (a @ a.T).astype(np.float64)  # numpy uses syrk for a @ a.T
        self._put(key, ids.copy(), k)
        return k

    def _put(self, key: Hashable, ids: np.ndarray, k: np.ndarray) -> None:
        size = k.nbytes + ids.nbytes
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[0].nbytes + old[1].nbytes
            if size > self.max_bytes:
                return
            self._entries[key] = (ids, k)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (old_ids, old_k) = self._entries.popitem(last=False)
                self._bytes -= old_ids.nbytes + old_k.nbytes


def _extend_gram(
    old_ids: np.ndarray, old_k: np.ndarray, ids: np.ndarray, a: np.ndarray
) -> np.ndarray | None:
    """The Gram matrix of ``a`` from ``old_k`` where rows are known; None if few are."""
    if not len(old_ids):
        return None
    order = np.argsort(old_ids, kind="stable")
    at = np.searchsorted(old_ids[order], ids)
    at = np.clip(at, 0, len(order) - 1)
    known = (ids >= 0) & (old_ids[order][at] == ids)
    if known.sum() < len(ids) // 2:  # mostly new rows: one product is simpler
        return None
    new = np.flatnonzero(~known)
    k = _gather_square(old_k, np.flatnonzero(known), order[at][known], len(ids))
    if new.size:
        fresh = (a[new] @ a.T).astype(np.float64)  # (new, m)
        k[new, :] = fresh
        k[:, new] = fresh.T
        block = fresh[:, new]  # new x new, from two different products: make it symmetric
        k[np.ix_(new, new)] = (block + block.T) / 2
    return k


#: Above this many runs of consecutive rows, one fancy-indexed gather beats block copies.
_MAX_RUNS = 8


def _gather_square(old: np.ndarray, to: np.ndarray, source: np.ndarray, m: int) -> np.ndarray:
    """An ``(m, m)`` matrix whose rows and columns ``to`` are ``old``'s ``source`` (others are
    left for the caller to fill).

    A round adds a few marks to the previous round's in sorted order: the rows kept form a few
    runs, copied as blocks (a 250 x 250 fancy-indexed gather costs ~0.35 ms, the blocks ~0.05).
    """
    if not len(to):
        return np.empty((m, m))
    breaks = np.flatnonzero((np.diff(to) != 1) | (np.diff(source) != 1)) + 1
    starts = np.concatenate([[0], breaks]).astype(np.int64)
    if len(starts) > _MAX_RUNS:
        k = np.zeros((m, m))
        k[np.ix_(to, to)] = old[np.ix_(source, source)]
        return k
    ends = np.concatenate([breaks, [len(to)]]).astype(np.int64)
    k = np.empty((m, m))
    runs = [(int(to[a]), int(source[a]), int(b - a)) for a, b in zip(starts, ends, strict=True)]
    for t_row, s_row, n_row in runs:
        for t_col, s_col, n_col in runs:
            k[t_row : t_row + n_row, t_col : t_col + n_col] = old[
                s_row : s_row + n_row, s_col : s_col + n_col
            ]
    return k


@dataclass(frozen=True)
class _KernelModel:
    """A fitted model in kernel form (see :class:`_Kernel`)."""

    pos: np.ndarray  # sample rows of the positives that make the prior
    scale0: float  # prior w0 = scale0 * (m_pos - mu)
    b0: float
    train: np.ndarray  # sample rows the ridge was fitted on
    alpha: np.ndarray  # (len(train),) dw = sum_i alpha_i (x_i - c); empty: prior only
    centre: np.ndarray  # (len(train),) weights of the centre c = sum_i centre_i x_i
    x_c: np.ndarray  # (m,) x_j . c for every sample j
    c_c: float  # c . c
    r_mean: float


class _Kernel:
    """The fit in kernel form: every quantity comes from the Gram matrix of the samples.

    The model of any subset of the samples (a cross-validation fold) and its scores on any
    other sample then cost ``O(m^2)`` to ``O(m^3)`` for ``m`` samples: the ``O(m^2 d)`` Gram
    product is paid once per fit instead of once per fold.
    """

    def __init__(
        self,
        pos: np.ndarray,
        neg: np.ndarray,
        background: np.ndarray,
        reuse: tuple[GramCache, Hashable, np.ndarray] | None = None,
    ):
        # float32 for the O(m^2 d) product (the cost), float64 for everything m x m.
        self.a = np.vstack([pos, neg]).astype(np.float32, copy=False)  # (m, d)
        self.y = np.concatenate([np.ones(pos.shape[0]), -np.ones(neg.shape[0])])
        if reuse is None:
            self.k = (self.a @ self.a.T).astype(np.float64)  # numpy uses syrk for a @ a.T
        else:
            cache, key, ids = reuse
            self.k = cache.gram(key, ids, self.a)
        self.bg = np.asarray(background, np.float64)
        self.g = (self.a @ self.bg.astype(np.float32)).astype(np.float64)  # (m,) x_j . mu
        self.bb = float(self.bg @ self.bg)

    def fit(self, train: np.ndarray, l2: float) -> _KernelModel:
        """Prototype-anchored balanced ridge on the samples ``train`` (row indices)."""
        y = self.y[train]
        pos = train[y > 0]
        n_pos, n_neg = len(pos), len(train) - len(pos)
        # Prior f0(x) = x.w0 + b0, w0 = 2 (m_pos - mu) / |m_pos - mu|^2: m_pos -> +1, mu -> -1.
        mp_bg = float(self.g[pos].mean())
        norm2 = float(_block(self.k, pos, pos).sum()) / n_pos**2 - 2.0 * mp_bg + self.bb
        # Positives at the background mean give no prior direction; the ridge alone decides.
        scale0 = 0.0 if norm2 < 1e-12 else 2.0 / norm2
        b0 = -scale0 * (mp_bg - self.bb) - 1.0
        empty = np.zeros(0)
        if n_neg == 0:
            return _KernelModel(pos, scale0, b0, train, empty, empty, empty, 0.0, 0.0)
        x_w0 = scale0 * (_block(self.k, train, pos).mean(axis=1) - self.g[train])
        residual = y - (x_w0 + b0)
        # Each class weighs half of the loss: search pages are mostly positive, the collection not.
        sw = np.where(y > 0, 0.5 / n_pos, 0.5 / n_neg) * y.size
        centre = sw / sw.sum()
        x_c = _block(self.k, None, train) @ centre
        c_c = float(centre @ x_c[train])
        r_mean = float(centre @ residual)
        root = np.sqrt(sw)
        x_ct = x_c[train]
        gram = _block(self.k, train, train) - x_ct[:, None]
        gram -= x_ct[None, :]
        gram += c_c
        gram *= root[:, None]
        gram *= root[None, :]
        gram[np.diag_indices_from(gram)] += l2
        # Symmetric positive definite (a Gram matrix plus l2 on its diagonal): Cholesky.
        factor = scipy.linalg.cho_factor(gram, lower=True, overwrite_a=True, check_finite=False)
        alpha = scipy.linalg.cho_solve(factor, root * (residual - r_mean), check_finite=False)
        alpha *= root
        return _KernelModel(pos, scale0, b0, train, alpha, centre, x_c, c_c, r_mean)

    def scores(self, model: _KernelModel, rows: np.ndarray) -> np.ndarray:
        """``x . w + b`` of the samples ``rows`` (before the logit scaling)."""
        out = model.scale0 * (_block(self.k, rows, model.pos).mean(axis=1) - self.g[rows])
        out += model.b0
        if model.alpha.size:
            total = float(model.alpha.sum())
            dw_x = _block(self.k, rows, model.train) @ model.alpha - model.x_c[rows] * total
            dw_c = float(model.alpha @ model.x_c[model.train]) - model.c_c * total
            out += dw_x + model.r_mean - dw_c
        return out

    def weights(self, model: _KernelModel) -> tuple[np.ndarray, float]:
        """The explicit ``(w, b)`` of ``model``, ``O(m d)``."""
        w = model.scale0 * (self.a[model.pos].mean(axis=0, dtype=np.float64) - self.bg)
        b = model.b0
        if model.alpha.size:
            rows = self.a[_as_range(model.train)]  # a view for the full fit
            centre = (model.centre.astype(np.float32) @ rows).astype(np.float64)
            dw = (model.alpha.astype(np.float32) @ rows) - model.alpha.sum() * centre
            w = w + dw
            b += model.r_mean - float(dw @ centre)
        return w.astype(np.float32), float(b)

    def cv_average_precision(self, l2: float) -> float:
        """Pooled out-of-fold AP over at most ``CV_MAX_PER_CLASS`` samples of each class
        (evenly spread); folds interleave each class so the estimate is deterministic."""
        n_pos = int((self.y > 0).sum())
        rows = np.concatenate(
            [
                _spread(n_pos, CV_MAX_PER_CLASS),
                n_pos + _spread(len(self.y) - n_pos, CV_MAX_PER_CLASS),
            ]
        )
        is_pos = self.y[rows] > 0
        fold = np.empty(len(rows), np.int64)
        fold[is_pos] = np.arange(int(is_pos.sum())) % CV_FOLDS
        fold[~is_pos] = np.arange(int((~is_pos).sum())) % CV_FOLDS
        scores = np.empty(len(rows))
        for f in range(CV_FOLDS):
            test = rows[fold == f]
            scores[fold == f] = self.scores(self.fit(rows[fold != f], l2), test)
        return average_precision(is_pos, scores)


def _block(k: np.ndarray, rows: np.ndarray | None, cols: np.ndarray) -> np.ndarray:
    """``k[rows][:, cols]`` for sorted unique index arrays (``rows`` None: every row); a view
    when both are contiguous ranges (the full fit), a copy otherwise (the folds)."""
    r: slice | np.ndarray = slice(None) if rows is None else _as_range(rows)
    c = _as_range(cols)
    if isinstance(r, slice) or isinstance(c, slice):
        return k[r, c]
    return k[np.ix_(r, c)]


def _as_range(idx: np.ndarray) -> slice | np.ndarray:
    if len(idx) and int(idx[-1]) - int(idx[0]) + 1 == len(idx):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _spread(n: int, most: int) -> np.ndarray:
    """``min(n, most)`` indices of ``range(n)``, evenly spread."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


def fit_linear(
    pos: np.ndarray,
    neg: np.ndarray | None = None,
    weak: np.ndarray | None = None,
    *,
    background: np.ndarray | None = None,
    l2: float = 0.1,
    cross_validate: bool = True,
    gram_cache: GramCache | None = None,
    cache_key: Hashable = None,
    row_ids: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> LinearModel:
    """Fit the class model of a round.

    ``pos``: ``(p, dim)`` positive vectors, ``p >= 1``. ``neg``: ``(q, dim)`` marked negatives.
    ``weak``: ``(r, dim)`` sampled unlabelled vectors, used as negatives only while ``q == 0``
    (see ``sample_weak_negatives``). ``background``: ``(dim,)`` mean vector of the collection;
    without it the mean of ``weak`` (else of ``neg``, else the origin) stands in. ``l2``: ridge
    penalty of the departure from the prototype (larger = closer to k-NN). Vectors are expected
    L2-normalised; float16 or float32. ``gram_cache``, ``cache_key`` and ``row_ids`` (the item
    ids of ``pos``, ``neg`` and ``weak``; negative for vectors that are not items) reuse the
    products of the rows the class's previous fit had (see :class:`GramCache`).
    """
    p = _as_matrix("pos", pos, None)
    if p.shape[0] == 0:
        raise InvalidInputError("a class model needs at least one positive example")
    dim = p.shape[1]
    n = _as_matrix("neg", neg, dim)
    wk = _as_matrix("weak", weak, dim)
    if l2 <= 0:
        raise InvalidInputError(f"l2 must be positive, got {l2}")
    if background is not None:
        bg = np.asarray(background, dtype=np.float32)
        if bg.shape != (dim,) or not np.isfinite(bg).all():
            raise InvalidInputError(f"background must be a finite ({dim},) vector, got {bg.shape}")
    elif wk.shape[0]:
        bg = wk.mean(axis=0)
    elif n.shape[0]:
        bg = n.mean(axis=0)
    else:
        bg = np.zeros(dim, dtype=np.float32)
    used_weak = wk if n.shape[0] == 0 else wk[:0]
    cv: float | None = None
    with _single_threaded_blas():
        reuse = None
        if gram_cache is not None and row_ids is not None:
            neg_ids = row_ids[1] if n.shape[0] else row_ids[2][: used_weak.shape[0]]
            ids = np.concatenate([row_ids[0], neg_ids]).astype(np.int64)
            if len(ids) != p.shape[0] + (n.shape[0] or used_weak.shape[0]):
                raise InvalidInputError("row_ids must give one id per row of pos, neg and weak")
            reuse = (gram_cache, cache_key, ids)
        kernel = _Kernel(p, n if n.shape[0] else used_weak, bg, reuse)
        w, b = kernel.weights(kernel.fit(np.arange(len(kernel.y)), l2))
        if cross_validate and p.shape[0] >= CV_MIN_PER_CLASS and n.shape[0] >= CV_MIN_PER_CLASS:
            cv = kernel.cv_average_precision(l2)
    return LinearModel(
        w=(w * LOGIT_SCALE).astype(np.float32),
        b=float(b * LOGIT_SCALE),
        n_pos=int(p.shape[0]),
        n_neg=int(n.shape[0]),
        n_weak=int(used_weak.shape[0]),
        cv_score=cv,
    )


def score(model: LinearModel, vectors: np.ndarray) -> np.ndarray:
    """``(n, dim)`` float16 or float32 vectors -> ``(n,) float32`` logits, higher = positive.

    Works a chunk at a time with float32 accumulation, so a float16 memory map is never copied
    whole into float32.
    """
    x = np.asarray(vectors)
    if x.ndim != 2 or x.shape[1] != model.dim:
        raise InvalidInputError(f"vectors must be (n, {model.dim}), got shape {x.shape}")
    out = np.empty(x.shape[0], dtype=np.float32)
    w = model.w.astype(np.float32, copy=False)
    for start in range(0, x.shape[0], SCORE_CHUNK):
        chunk = x[start : start + SCORE_CHUNK]
        np.matmul(chunk.astype(np.float32, copy=False), w, out=out[start : start + chunk.shape[0]])
    out += np.float32(model.b)
    return out


#: Unlabelled items sampled as weak negatives per round while no negative is marked.
WEAK_NEGATIVES = 100


def first_page_model(positives: np.ndarray) -> LinearModel:
    """The ranking of a class's first Search page: cosine similarity to the mean of its
    positives (``(p, dim)``), i.e. their nearest neighbours, before any model is trained."""
    p = np.asarray(positives, dtype=np.float32)
    if p.ndim != 2 or p.shape[0] == 0:
        raise InvalidInputError("the first page needs at least one positive vector")
    q = p.mean(axis=0)
    q /= max(float(np.linalg.norm(q)), 1e-12)
    return LinearModel(w=q, b=0.0, n_pos=int(p.shape[0]), n_neg=0, n_weak=0)


def sample_weak_negatives(labelled: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions of up to ``k`` unlabelled items drawn uniformly without replacement.

    ``labelled``: ``(n,) int8`` (0 = unlabelled). Returns ``(min(k, n_unlabelled),) int64``,
    sorted so that reading them from a memory map is sequential.
    """
    lab = np.asarray(labelled)
    if lab.ndim != 1:
        raise InvalidInputError(f"labelled must be 1-d, got shape {lab.shape}")
    if k < 0:
        raise InvalidInputError(f"k must be >= 0, got {k}")
    n_unlabelled = int(np.count_nonzero(lab == 0))
    k = min(k, n_unlabelled)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if n_unlabelled > 4 * k:
        # Rejection sampling: O(k) instead of materialising every unlabelled index.
        picked: set[int] = set()
        while len(picked) < k:
            draw = rng.integers(0, lab.size, size=2 * (k - len(picked)))
            for i in draw[lab[draw] == 0]:
                picked.add(int(i))
                if len(picked) == k:
                    break
        return np.sort(np.fromiter(picked, dtype=np.int64, count=k))
    return np.sort(rng.choice(np.flatnonzero(lab == 0), size=k, replace=False).astype(np.int64))
