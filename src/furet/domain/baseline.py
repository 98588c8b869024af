"""The naive baseline learner of DESIGN.md §6, for side-by-side measurements.

scikit-learn's logistic regression (C = 1) on the positives against the marked negatives plus
``WEAK_NEGATIVES`` unlabelled items drawn at random each round, refitted from scratch every
round, the page by Search. With lite0 on all of oxford-flowers17 (5 rounds of 15, 3 seeds per
class, seed 0) it shows 0.814 positives, DESIGN.md's 0.815.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from furet.domain.classifier import WEAK_NEGATIVES, LinearModel, sample_weak_negatives


def naive_learner(x: np.ndarray, labelled: np.ndarray, rng: np.random.Generator) -> LinearModel:
    """A ``simulate`` learner: ``x`` ``(n, dim)``, ``labelled`` ``(n,) int8`` (+1, -1, 0)."""
    pos = np.flatnonzero(labelled == 1)
    neg = np.union1d(
        np.flatnonzero(labelled == -1), sample_weak_negatives(labelled, WEAK_NEGATIVES, rng)
    )
    a = np.vstack([x[pos], x[neg]]).astype(np.float32)
    t = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(a, t)
    return LinearModel(
        w=clf.coef_[0].astype(np.float32),
        b=float(clf.intercept_[0]),
        n_pos=int(pos.size),
        n_neg=int(np.count_nonzero(labelled == -1)),
        n_weak=int(neg.size - np.count_nonzero(labelled == -1)),
    )
