"""The light class model of a round: a linear scorer fitted on frozen, L2-normalised embeddings.

The learner is a closed-form **prototype-anchored ridge** (measured against logistic regression
and plain ridge on Oxford Flowers 17, see ``furet.domain.simulation``):

1. a prior model ``f0(x) = 2 u.(x - mu) - 1`` with ``u = (m_pos - mu) / |m_pos - mu|^2``: the
   positives' mean scores +1 and the collection mean ``mu`` (the *background*) scores -1. With a
   single seed this is the nearest-neighbour search of the seed after centring the collection;
2. a class-balanced ridge regression of the residuals ``y - f0(x)`` (targets +1/-1) solved in its
   dual form, so the cost is ``O(m^2 d + m^3)`` for ``m`` labels (well under a millisecond for a
   few hundred labels at 1280-d);
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
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from furet.domain.metrics import average_precision
from furet.errors import InvalidInputError

#: Scores are multiplied by this so the positives' mean has logit ln(9) (probability 0.9).
LOGIT_SCALE = math.log(9.0)
#: Rows scored per chunk, so float16 stores are up-cast a slice at a time.
SCORE_CHUNK = 65_536
#: Fewest positives and fewest (real) negatives for which a cross-validated score is computed.
CV_MIN_PER_CLASS = 5
CV_FOLDS = 5


@dataclass(frozen=True)
class LinearModel:
    """A linear class model: ``score(x) = x @ w + b``, a logit (0 = boundary, higher = positive).

    ``w``: ``(dim,) float32``. ``n_pos`` / ``n_neg`` count the user's marks, ``n_weak`` the
    sampled unlabelled vectors used as negatives. ``cv_score``: cross-validated average precision
    of positives against marked negatives, None with fewer than 5 of either.
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
    if not np.isfinite(m).all():
        raise InvalidInputError(f"{name} contains NaN or infinite values")
    return m.astype(np.float32, copy=False).reshape(-1, dim if dim is not None else m.shape[1])


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


def _solve(
    pos: np.ndarray, neg: np.ndarray, background: np.ndarray, l2: float
) -> tuple[np.ndarray, float]:
    """Prototype-anchored balanced ridge; returns ``(w, b)`` before the logit scaling."""
    direction = pos.mean(axis=0) - background
    norm2 = float(direction @ direction)
    # Positives at the background mean give no prior direction; the ridge alone decides.
    u = np.zeros_like(direction) if norm2 < 1e-12 else direction / norm2
    w0 = 2.0 * u
    b0 = -float(w0 @ background) - 1.0
    if neg.shape[0] == 0:
        return w0, b0
    a = np.vstack([pos, neg])
    y = np.concatenate([np.ones(pos.shape[0]), -np.ones(neg.shape[0])])
    residual = y - (a @ w0 + b0)
    # Each class weighs half of the loss: search pages are mostly positive, the collection not.
    sw = (
        np.concatenate(
            [np.full(pos.shape[0], 0.5 / pos.shape[0]), np.full(neg.shape[0], 0.5 / neg.shape[0])]
        )
        * y.size
    )
    centre = (sw.astype(np.float32) @ a) / np.float32(sw.sum())
    r_mean = float(sw @ residual) / float(sw.sum())
    root = np.sqrt(sw)
    # float32 for the O(m^2 d) products (the cost), float64 for the small m x m solve.
    ws = root.astype(np.float32)[:, None] * (a - centre)
    gram = (ws @ ws.T).astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    alpha = np.linalg.solve(gram, root * (residual - r_mean))
    dw = ws.T @ alpha.astype(np.float32)
    return w0 + dw, b0 + r_mean - float(dw @ centre)


def _cv_average_precision(
    pos: np.ndarray, neg: np.ndarray, background: np.ndarray, l2: float
) -> float:
    """Pooled out-of-fold AP; folds interleave each class so the estimate is deterministic."""
    scores = np.empty(pos.shape[0] + neg.shape[0])
    fold_p = np.arange(pos.shape[0]) % CV_FOLDS
    fold_n = np.arange(neg.shape[0]) % CV_FOLDS
    for f in range(CV_FOLDS):
        w, b = _solve(pos[fold_p != f], neg[fold_n != f], background, l2)
        scores[: pos.shape[0]][fold_p == f] = pos[fold_p == f] @ w + b
        scores[pos.shape[0] :][fold_n == f] = neg[fold_n == f] @ w + b
    y = np.concatenate([np.ones(pos.shape[0], bool), np.zeros(neg.shape[0], bool)])
    return average_precision(y, scores)


def fit_linear(
    pos: np.ndarray,
    neg: np.ndarray | None = None,
    weak: np.ndarray | None = None,
    *,
    background: np.ndarray | None = None,
    l2: float = 0.1,
    cross_validate: bool = True,
) -> LinearModel:
    """Fit the class model of a round.

    ``pos``: ``(p, dim)`` positive vectors, ``p >= 1``. ``neg``: ``(q, dim)`` marked negatives.
    ``weak``: ``(r, dim)`` sampled unlabelled vectors, used as negatives only while ``q == 0``
    (see ``sample_weak_negatives``). ``background``: ``(dim,)`` mean vector of the collection;
    without it the mean of ``weak`` (else of ``neg``, else the origin) stands in. ``l2``: ridge
    penalty of the departure from the prototype (larger = closer to k-NN). Vectors are expected
    L2-normalised; float16 or float32.
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
        w, b = _solve(p, n if n.shape[0] else used_weak, bg, l2)
        if cross_validate and p.shape[0] >= CV_MIN_PER_CLASS and n.shape[0] >= CV_MIN_PER_CLASS:
            cv = _cv_average_precision(p, n, bg, l2)
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
