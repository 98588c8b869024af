"""Issue 14's regression guard: learning quality on the 9 held-out labels of oxford-flowers17.

The constants of the learner, of the graph smoothing and of Most useful were chosen on the 8
tuning labels (bluebell, buttercup, cowslip, crocus, daisy, dandelion, fritillary, windflower);
these figures are on the 9 others, the default space (lite0-pn), 5 rounds x 15, 3 seeds per
class, the mean over evaluation seeds 0-2 (``benchmarks/learning.py`` prints them all, with
their spread). The collection is ingested by the service, so its k-NN graph is the one
ingestion built.
"""

from __future__ import annotations

import numpy as np

import furet
from furet.domain.baseline import naive_learner
from furet.domain.simulation import simulate
from furet.services.evaluation import evaluate, labelled_rows
from tests.conftest import FLOWERS

LABELS = FLOWERS / "labels.csv"
REPORT = [
    "colts_foot",
    "daffodil",
    "iris",
    "lily_valley",
    "pansy",
    "snowdrop",
    "sunflower",
    "tigerlily",
    "tulip",
]
SEEDS = (0, 1, 2)


def _marks(value: float | None) -> float:
    """A query set's marks to the AP target; more than half never reaching it: infinite."""
    return float("inf") if value is None else value


def _mean(home: furet.Furet, mode: str, **kw: object) -> dict[str, float]:
    """Mean over SEEDS of the plain run's shown precision and the held-out run's figures."""
    col = home.collection("flowers")
    shown, test_ap, marks = [], [], []
    for seed in SEEDS:
        plain, _ = evaluate(col, LABELS, mode=mode, classes=REPORT, seed=seed, **kw)  # type: ignore[arg-type]
        fair, _ = evaluate(
            col,
            LABELS,
            mode=mode,
            classes=REPORT,
            seed=seed,
            test_fraction=0.3,
            **kw,  # type: ignore[arg-type]
        )
        assert plain.propagated == kw.get("propagation", True)
        shown.append(plain.shown_precision)
        test_ap.append(fair.test_ap)
        marks.append(_marks(fair.marks_to_ap))
    return {
        "shown": float(np.mean(shown)),
        "test_ap": float(np.mean(test_ap)),
        "marks": float(np.mean(marks)),
    }


def test_held_out_labels_learning_quality(flowers_home: furet.Furet) -> None:
    assert flowers_home.collection("flowers").graph() is not None  # built by ingestion
    search = _mean(flowers_home, "search")
    alone = _mean(flowers_home, "search", propagation=False)
    useful = _mean(flowers_home, "most_useful")
    ambiguous = _mean(flowers_home, "ambiguous")
    # The graph lifts Search (measured 0.872 -> 0.890; lite0 without either: 0.868).
    assert search["shown"] >= 0.885 and search["shown"] > alone["shown"] + 0.01, (search, alone)
    # Most useful: mostly relevant pages (0.36 before issue 14; measured 0.843), and it learns as
    # well as Ambiguous (test AP 0.9797 against 0.9790).
    assert useful["shown"] >= 0.83, useful
    assert useful["test_ap"] >= ambiguous["test_ap"] - 0.001, (useful, ambiguous)
    assert max(search["test_ap"], useful["test_ap"], ambiguous["test_ap"]) >= 0.97
    # Marks to a test AP of 0.8, told apart by pages of 5 (4 rounds x 5; in 5 x 15 every
    # learner gets there within the first page or two): measured 9.3 for Search and Ambiguous
    # against the naive baseline's 16 on lite0 (0.58x; half is issue 14's target, not reached).
    frugal = {"rounds": 4, "batch": 5}
    col = flowers_home.collection("flowers")
    rows, y = labelled_rows(col, LABELS)
    naive = [
        simulate(
            lite0(col.matrix().vectors[rows]),
            y,
            classes=REPORT,
            seed=s,
            test_fraction=0.3,
            learner=naive_learner,
            **frugal,
        )
        for s in SEEDS
    ]
    naive_marks = float(np.mean([_marks(r.marks_to_ap) for r in naive]))
    marks = {m: _mean(flowers_home, m, **frugal)["marks"] for m in ("search", "ambiguous")}
    assert max(marks.values()) <= 0.65 * naive_marks, (marks, naive_marks)


def lite0(pn: np.ndarray) -> np.ndarray:
    """lite0 vectors from lite0-pn ones: lite0's features are non-negative (ReLU6, then an
    average), so squaring their signed square root and re-normalising gives them back (to
    float16 rounding) without a second embedding pass."""
    x = np.asarray(pn, np.float32)
    assert (x >= 0).all()
    sq = x**2
    return sq / np.linalg.norm(sq, axis=1, keepdims=True)
