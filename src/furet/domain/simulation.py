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
from furet.errors import InvalidInputError

Scorer = Callable[[LinearModel], np.ndarray]

#: Weak negatives sampled per round while the user has marked no negative (the service's).
DEFAULT_WEAK = WEAK_NEGATIVES


@dataclass(frozen=True)
class ClassResult:
    """Per-class means over the class's seeds."""

    label: str
    queries: int
    shown_precision: float
    final_ap: float


@dataclass(frozen=True)
class SimulationResult:
    """Averages over all queries (one query = one seed image of one class).

    ``shown_precision``: positives among the items shown / (batch x rounds). ``final_ap``: AP of
    the final model (fitted on every mark) over the items never labelled. ``round_ms_p50``: median
    wall time of fit + score + select. ``per_round_precision``: ``(rounds,)`` mean precision of
    each round's page.
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

    def summary(self) -> dict[str, object]:
        """The headline numbers as a JSON-ready dict."""
        return {
            "mode": self.mode,
            "rounds": self.rounds,
            "batch": self.batch,
            "queries": self.queries,
            "shown_precision": round(self.shown_precision, 4),
            "final_ap": round(self.final_ap, 4),
            "round_ms_p50": round(self.round_ms_p50, 3),
        }


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
) -> SimulationResult:
    """Run the simulated user over every class of ``labels``.

    ``vectors``: ``(n, dim)`` float16/float32, L2-normalised. ``labels``: ``n`` class names.
    ``scorer``: model -> ``(n,) float32`` scores of every item (default: exact ``score``), the
    seam through which a vector backend plugs in. ``weak``: weak negatives per round while no
    negative is marked. Classes smaller than ``seeds_per_class`` use all their items as seeds.
    """
    x = np.asarray(vectors)
    y_all = np.asarray(labels)
    if x.ndim != 2 or y_all.shape != (x.shape[0],):
        raise InvalidInputError(
            f"need (n, dim) vectors and n labels, got {x.shape} and {y_all.shape}"
        )
    if rounds < 1 or batch < 1 or seeds_per_class < 1:
        raise InvalidInputError("rounds, batch and seeds_per_class must be >= 1")
    get_mode(mode)
    settings = settings or ModeSettings()
    score_all: Scorer = scorer or (lambda m: score(m, x))
    # The collection mean is unsupervised: a running statistic any store can keep.
    background = x.mean(axis=0, dtype=np.float64)
    rng = np.random.default_rng(seed)
    classes = sorted(set(y_all.tolist()))
    round_ms: list[float] = []
    per_class: list[ClassResult] = []
    all_precision: list[np.ndarray] = []
    all_ap: list[float] = []
    for cls in classes:
        members = np.flatnonzero(y_all == cls)
        truth = y_all == cls
        seeds = rng.choice(members, size=min(seeds_per_class, members.size), replace=False)
        cls_precision: list[float] = []
        cls_ap: list[float] = []
        for s in seeds:
            query_rng = np.random.default_rng([seed, int(s)])
            labelled = np.zeros(x.shape[0], dtype=np.int8)
            labelled[s] = 1
            page_precision = np.zeros(rounds)
            for r in range(rounds):
                t0 = time.perf_counter()
                model = _fit(x, labelled, query_rng, weak, background, l2)
                # As in the service: before the first model, Search shows the positives'
                # nearest neighbours.
                first = first_page_model(x[labelled == 1]) if r == 0 and mode == "search" else None
                scores = score_all(first or model)
                page = select_page(mode, scores, labelled, batch, settings, query_rng)
                round_ms.append((time.perf_counter() - t0) * 1e3)
                # The oracle; refine may re-show marked items, whose marks it confirms.
                labelled[page] = np.where(truth[page], 1, -1).astype(np.int8)
                page_precision[r] = truth[page].sum() / batch
            final = _fit(x, labelled, query_rng, weak, background, l2)
            unlabelled = labelled == 0
            ap = average_precision(truth[unlabelled], score_all(final)[unlabelled])
            all_precision.append(page_precision)
            cls_precision.append(float(page_precision.mean()))
            cls_ap.append(ap)
        per_class.append(
            ClassResult(cls, len(seeds), float(np.mean(cls_precision)), float(np.mean(cls_ap)))
        )
        all_ap.extend(cls_ap)
    precision = np.vstack(all_precision)
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
    )


def _fit(
    x: np.ndarray,
    labelled: np.ndarray,
    rng: np.random.Generator,
    weak: int,
    background: np.ndarray,
    l2: float,
) -> LinearModel:
    neg_rows = np.flatnonzero(labelled == -1)
    weak_rows = sample_weak_negatives(labelled, weak, rng) if neg_rows.size == 0 else neg_rows[:0]
    return fit_linear(
        x[labelled == 1],
        x[neg_rows],
        x[weak_rows],
        background=background,
        l2=l2,
        cross_validate=False,
    )
