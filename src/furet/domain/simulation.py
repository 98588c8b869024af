"""The simulated-user evaluation of DESIGN.md §6, as a pure function over an in-memory matrix.

For each class and each of ``seeds_per_class`` seed images (drawn with the fixed ``seed``), the
seed is the only positive; every round fits the class model, scores the collection, selects a
page of ``batch`` items by ``mode`` and lets an oracle mark them (positive iff same label). The
first rounds, before any negative is marked, use weak negatives (sampled unlabelled vectors).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from furet.domain.classifier import (
    WEAK_NEGATIVES,
    LinearModel,
    first_page_model,
    fit_linear,
    sample_weak_negatives,
    score,
)
from furet.domain.metrics import average_precision
from furet.domain.modes import ModeSettings, get_mode, select_page
from furet.domain.propagation import (
    EXPAND_K,
    SMOOTHED_MODES,
    KnnGraph,
    Propagation,
    expansion,
    smooth,
    with_expansion,
)
from furet.errors import InvalidInputError

Scorer = Callable[[LinearModel], np.ndarray]
#: ``(train vectors, labelled, rng) -> model``: a learner other than furet's (a baseline).
Learner = Callable[[np.ndarray, np.ndarray, np.random.Generator], LinearModel]

#: Weak negatives sampled per round while the user has marked no negative (the service's).
DEFAULT_WEAK = WEAK_NEGATIVES


#: Test AP at which ``marks_to_ap`` counts the marks a query needed.
AP_TARGET = 0.8
#: Clusters of a class's items for ``class_coverage`` (fewer for a small class).
COVERAGE_CLUSTERS = 8


@dataclass(frozen=True)
class ClassResult:
    """Per-class means over the class's seeds (``test_ap``, ``marks_to_ap`` and
    ``class_coverage`` are NaN when the simulation had no test split or no such figure)."""

    label: str
    queries: int
    shown_precision: float
    final_ap: float
    test_ap: float = float("nan")
    marks_to_ap: float = float("nan")
    class_coverage: float = float("nan")


@dataclass(frozen=True)
class SimulationResult:
    """Averages over all queries (one query = one seed image of one class).

    ``shown_precision``: positives among the items shown / (batch x rounds). ``final_ap``: AP of
    the final model (fitted on every mark) over the items never labelled. ``round_ms_p50``: median
    wall time of fit + score + select. ``per_round_precision``: ``(rounds,)`` mean precision of
    each round's page.

    With a test split (``test_fraction > 0``; its items are never shown to the oracle):
    ``test_ap``: AP of the final model on the test split, the same items for every mode, so modes
    compare. ``marks_to_ap``: median over queries of the marks (the seed included) after which the
    model's test AP first reached ``ap_target`` (a query that never did counts as infinite; None
    when more than half never did); ``ap_reached``: the share of queries that did.
    ``class_coverage``: PF-MA's diversity measure as furet reads it: a class's (training) items are
    clustered (k-means, ``COVERAGE_CLUSTERS``), and coverage is the share of clusters holding at
    least one positive the user found; 1.0 means the marks span the class's visual variety.
    """

    rounds: int
    batch: int
    mode: str
    queries: int
    shown_precision: float
    final_ap: float
    round_ms_p50: float
    per_round_precision: tuple[float, ...] = ()
    per_class: tuple[ClassResult, ...] = field(default=())
    test_fraction: float = 0.0
    test_ap: float | None = None
    marks_to_ap: float | None = None
    ap_reached: float | None = None
    ap_target: float = AP_TARGET
    class_coverage: float | None = None
    #: Whether the rounds' rankings were smoothed over a k-NN graph.
    propagated: bool = False

    def summary(self) -> dict[str, object]:
        """The headline numbers as a JSON-ready dict."""
        out: dict[str, object] = {
            "mode": self.mode,
            "rounds": self.rounds,
            "batch": self.batch,
            "queries": self.queries,
            "shown_precision": round(self.shown_precision, 4),
            "final_ap": round(self.final_ap, 4),
            "round_ms_p50": round(self.round_ms_p50, 3),
        }
        if self.class_coverage is not None:
            out["class_coverage"] = round(self.class_coverage, 4)
        if self.test_ap is not None:
            out["test_fraction"] = self.test_fraction
            out["test_ap"] = round(self.test_ap, 4)
            out["marks_to_ap"] = self.marks_to_ap
            out["ap_target"] = self.ap_target
            out["ap_reached"] = None if self.ap_reached is None else round(self.ap_reached, 4)
        return out


def held_out_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """``(n,) bool``: a held-out test split, ``fraction`` of each label's items (at least one
    item stays out of it), fixed by ``seed`` whatever the mode."""
    if not 0.0 <= fraction < 1.0:
        raise InvalidInputError("the test fraction must be in [0, 1)")
    held = np.zeros(labels.shape[0], dtype=bool)
    if fraction == 0.0:
        return held
    rng = np.random.default_rng([seed, 0x7E57])
    for cls in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == cls)
        k = min(round(fraction * members.size), members.size - 1)
        held[rng.choice(members, size=k, replace=False)] = True
    return held


def kmeans_labels(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 25) -> np.ndarray:
    """``(n,) int``: the cluster of each row of ``x`` ``(n, dim)`` (k-means, k-means++ seeds)."""
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    k = max(1, min(k, n))
    centres = [x[int(rng.integers(n))]]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = float(d2.sum())
        pick = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres.append(x[pick])
        d2 = np.minimum(d2, ((x - x[pick]) ** 2).sum(axis=1))
    c = np.stack(centres)
    assign = np.zeros(n, dtype=np.int64)
    for step in range(iters):
        dist = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]
        new = dist.argmin(axis=1)
        if np.array_equal(new, assign) and step > 0:
            break
        assign = new
        for j in range(k):
            rows = assign == j
            if rows.any():
                c[j] = x[rows].mean(axis=0)
    return assign


def class_coverage(clusters: np.ndarray, found: np.ndarray) -> float:
    """The share of the clusters (``(m,) int`` over a class's items) holding an item of
    ``found`` (``(m,) bool``: the positives a user found)."""
    present = np.unique(clusters)
    return float(np.isin(present, clusters[found]).mean()) if present.size else float("nan")


def simulate(
    vectors: np.ndarray,
    labels: Sequence[str],
    rounds: int = 5,
    batch: int = 15,
    mode: str = "search",
    seeds_per_class: int = 3,
    seed: int = 0,
    scorer: Scorer | None = None,
    *,
    weak: int = DEFAULT_WEAK,
    l2: float = 0.1,
    settings: ModeSettings | None = None,
    test_fraction: float = 0.0,
    classes: Sequence[str] | None = None,
    ap_target: float = AP_TARGET,
    graph: KnnGraph | None = None,
    propagation: Propagation | None = None,
    learner: Learner | None = None,
    expand: int = EXPAND_K,
) -> SimulationResult:
    """Run the simulated user over every class of ``labels`` (or of ``classes`` only; the other
    labels stay in the collection as negatives).

    ``vectors``: ``(n, dim)`` float16/float32, L2-normalised. ``labels``: ``n`` class names.
    ``scorer``: model -> ``(n,) float32`` scores of every item (default: exact ``score``), the
    seam through which a vector backend plugs in. ``weak``: weak negatives per round while no
    negative is marked. Classes smaller than ``seeds_per_class`` use all their items as seeds.
    ``test_fraction``: share of each label's items held out (never shown, never a seed) to
    measure ``test_ap`` and ``marks_to_ap`` (see :class:`SimulationResult`).
    ``graph``: the k-NN graph of all of ``vectors``, over which each round's ranking is smoothed
    by the marks (``propagation``, see ``furet.domain.propagation``), as the service does; the
    figures of the model itself (``final_ap``, ``test_ap``) are the linear model's. With a graph,
    the fits before any negative is marked also take the ``expand`` nearest unlabelled training
    neighbours of each positive as positives (query expansion, ``expansion``).
    ``learner``: fits every round's model instead of furet's (which also makes the first Search
    page), for baselines.
    """
    x_all = np.asarray(vectors)
    y_full = np.asarray(labels)
    if x_all.ndim != 2 or y_full.shape != (x_all.shape[0],):
        raise InvalidInputError(
            f"need (n, dim) vectors and n labels, got {x_all.shape} and {y_full.shape}"
        )
    if rounds < 1 or batch < 1 or seeds_per_class < 1:
        raise InvalidInputError("rounds, batch and seeds_per_class must be >= 1")
    get_mode(mode)
    settings = settings or ModeSettings()
    known = sorted(set(y_full.tolist()))
    chosen = known if classes is None else list(classes)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise InvalidInputError(f"no item has the label(s) {unknown}; labels: {known}")
    held = held_out_split(y_full, test_fraction, seed)
    train = np.flatnonzero(~held)
    test = np.flatnonzero(held)
    x = x_all[train] if test.size else x_all
    y_all = y_full[train] if test.size else y_full
    if scorer is None:
        score_all: Scorer = lambda m: score(m, x)  # noqa: E731
    elif test.size:
        full_scorer = scorer
        score_all = lambda m: full_scorer(m)[train]  # noqa: E731
    else:
        score_all = scorer
    x_test = x_all[test]
    if graph is not None and len(graph) != x_all.shape[0]:
        raise InvalidInputError(f"the graph has {len(graph)} rows for {x_all.shape[0]} vectors")
    prop = propagation or Propagation()
    adjacency = graph.adjacency() if graph is not None else None
    labelled_all = np.zeros(x_all.shape[0], dtype=np.int8)

    def rank(m: LinearModel, labelled: np.ndarray, smoothed: bool = True) -> np.ndarray:
        """The round's ranking of the training rows: the model's scores, smoothed over the
        graph (whose rows are all the vectors, the held-out ones included) by the marks."""
        if graph is None or not smoothed or mode not in SMOOTHED_MODES:
            return score_all(m)
        labelled_all[train] = labelled
        every = score(m, x_all) if scorer is None else scorer(m)
        out = smooth(every, labelled_all, graph, prop, adjacency)
        return out[train] if test.size else out

    row_of_all = np.full(x_all.shape[0], -1, np.int64)  # graph row -> training row
    row_of_all[train] = np.arange(train.size)
    in_train = row_of_all >= 0

    def expanded(labelled: np.ndarray) -> np.ndarray:
        """Training rows added to the positives of a fit (query expansion over the graph)."""
        if graph is None or not expand:
            return np.empty(0, np.int64)
        labelled_all[train] = labelled
        return row_of_all[expansion(graph, labelled_all, expand, in_train)]

    def fit(labelled: np.ndarray, rng: np.random.Generator) -> LinearModel:
        if learner is not None:
            return learner(x, labelled, rng)
        return _fit(x, labelled, rng, weak, background, l2, expanded(labelled))

    # The collection mean is unsupervised: a running statistic any store can keep.
    background = x_all.mean(axis=0, dtype=np.float64)
    rng = np.random.default_rng(seed)
    round_ms: list[float] = []
    per_class: list[ClassResult] = []
    all_precision: list[np.ndarray] = []
    all_ap: list[float] = []
    all_test_ap: list[float] = []
    all_marks: list[float] = []
    all_coverage: list[float] = []
    for cls in known:
        members = np.flatnonzero(y_all == cls)
        # Drawn for every label, so that a class's seeds do not depend on ``classes``.
        seeds = rng.choice(members, size=min(seeds_per_class, members.size), replace=False)
        if cls not in chosen:
            continue
        truth = y_all == cls
        truth_test = y_full[test] == cls
        clusters = kmeans_labels(
            x[members],
            min(COVERAGE_CLUSTERS, max(1, members.size // 5)),
            np.random.default_rng([seed, 0xC0F]),
        )
        cls_precision: list[float] = []
        cls_ap: list[float] = []
        cls_test: list[float] = []
        cls_marks: list[float] = []
        cls_cover: list[float] = []
        for s in seeds:
            query_rng = np.random.default_rng([seed, int(s)])
            labelled = np.zeros(x.shape[0], dtype=np.int8)
            labelled[s] = 1
            page_precision = np.zeros(rounds)
            reached = float("inf")
            for r in range(rounds):
                t0 = time.perf_counter()
                model = fit(labelled, query_rng)
                # As in the service: before the first model, Search shows the positives'
                # nearest neighbours.
                first = (
                    first_page_model(x[labelled == 1])
                    if r == 0 and mode == "search" and learner is None
                    else None
                )
                # The first Search page shows similarities: not smoothed (as in the service).
                scores = rank(first or model, labelled, smoothed=first is None)
                page = select_page(mode, scores, labelled, batch, settings, query_rng)
                round_ms.append((time.perf_counter() - t0) * 1e3)
                unmet = test.size and reached == float("inf")
                if unmet and average_precision(truth_test, score(model, x_test)) >= ap_target:
                    reached = float(np.count_nonzero(labelled))
                # The oracle; refine may re-show marked items, whose marks it confirms.
                labelled[page] = np.where(truth[page], 1, -1).astype(np.int8)
                page_precision[r] = truth[page].sum() / batch
            final = fit(labelled, query_rng)
            unlabelled = labelled == 0
            ap = average_precision(truth[unlabelled], score_all(final)[unlabelled])
            if test.size:
                test_ap = average_precision(truth_test, score(final, x_test))
                if reached == float("inf") and test_ap >= ap_target:
                    reached = float(np.count_nonzero(labelled))
                cls_test.append(test_ap)
                cls_marks.append(reached)
            cls_cover.append(class_coverage(clusters, labelled[members] == 1))
            all_precision.append(page_precision)
            cls_precision.append(float(page_precision.mean()))
            cls_ap.append(ap)
        per_class.append(
            ClassResult(
                cls,
                len(seeds),
                float(np.mean(cls_precision)),
                float(np.mean(cls_ap)),
                test_ap=float(np.mean(cls_test)) if cls_test else float("nan"),
                marks_to_ap=float(np.median(cls_marks)) if cls_marks else float("nan"),
                class_coverage=float(np.mean(cls_cover)),
            )
        )
        all_ap.extend(cls_ap)
        all_test_ap.extend(cls_test)
        all_marks.extend(cls_marks)
        all_coverage.extend(cls_cover)
    if not all_precision:
        raise InvalidInputError("no class to evaluate")
    precision = np.vstack(all_precision)
    marks_median = float(np.median(all_marks)) if all_marks else None
    return SimulationResult(
        rounds=rounds,
        batch=batch,
        mode=mode,
        queries=len(all_ap),
        shown_precision=float(precision.mean()),
        final_ap=float(np.nanmean(all_ap)),
        round_ms_p50=float(np.median(round_ms)),
        per_round_precision=tuple(float(v) for v in precision.mean(axis=0)),
        per_class=tuple(per_class),
        test_fraction=test_fraction,
        test_ap=float(np.nanmean(all_test_ap)) if all_test_ap else None,
        marks_to_ap=None if marks_median is None or np.isinf(marks_median) else marks_median,
        ap_reached=float(np.mean(np.isfinite(all_marks))) if all_marks else None,
        ap_target=ap_target,
        class_coverage=float(np.mean(all_coverage)),
        propagated=graph is not None and prop.gain > 0 and mode in SMOOTHED_MODES,
    )


def _fit(
    x: np.ndarray,
    labelled: np.ndarray,
    rng: np.random.Generator,
    weak: int,
    background: np.ndarray,
    l2: float,
    extra: np.ndarray | None = None,
) -> LinearModel:
    neg_rows = np.flatnonzero(labelled == -1)
    taken = labelled if extra is None else with_expansion(labelled, extra)
    pos_rows = np.flatnonzero(taken == 1)
    weak_rows = sample_weak_negatives(taken, weak, rng) if neg_rows.size == 0 else neg_rows[:0]
    return fit_linear(
        x[pos_rows],
        x[neg_rows],
        x[weak_rows],
        background=background,
        l2=l2,
        cross_validate=False,
    )
