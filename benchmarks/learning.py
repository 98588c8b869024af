"""Learning quality: the naive baseline and furet side by side, every mode, on held-out labels.

Quality (oxford-flowers17 ingested by furet with lite0, the simulated user of DESIGN.md §6,
5 rounds x 15, 3 seeds per class, several evaluation seeds): for each learner and mode,
``shown_precision``, ``final_ap`` and ``class_coverage`` of the plain protocol, and ``test_ap``,
``marks_to_ap`` and ``ap_reached`` with a 30% held-out test split, and the same three in a frugal
regime of 4 rounds x 5 (``frugal_*``: pages of 15 reach a test AP of 0.8 within one or two
pages for every learner, pages of 5 tell the marks apart). Learners:

- ``naive``: scikit-learn logistic regression (``furet.domain.baseline``) on lite0, Search only;
- ``model@SPACE``: furet's class model alone (no graph) in each space of ``--models`` (added to
  the collection by ``furet embed``'s path: ``lite0`` and the power-normalised ``lite0-pn``);
- ``furet@SPACE``: what a round does there: the model, its ranking smoothed over the k-NN graph,
  a lone seed expanded with its graph neighbours.

Every figure is ``[mean, std]`` over the evaluation seeds. The constants were chosen on the 8
tuning labels (those of benchmarks/backbones.py); ``summary`` holds the 9 reporting labels'
figures and furet's ratios to the baseline.

Speed (``--scale-items``, default 100k, 0 skips it): a synthetic clustered collection of that
many 1280-d float16 vectors scanned as a server does (``create_index`` with ``auto``); the p50 of
each part of a round with 76 marks (fit, scan, graph smoothing, page selection), and the time to
build the exact k-NN graph.

    .venv/bin/python benchmarks/learning.py [--models lite0,lite0-pn] [--seeds 0,1,2]
        [--scale-items 100000] > out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backbones import tuning_labels

import furet
from furet.domain.baseline import naive_learner
from furet.domain.classifier import LinearModel, fit_linear
from furet.domain.modes import select_page
from furet.domain.propagation import Propagation, build_graph, smooth
from furet.domain.simulation import SimulationResult, simulate
from furet.services.evaluation import labelled_rows
from furet.settings import Settings
from furet.vectors.exact import ExactIndex
from furet.vectors.factory import create_index

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/oxford-flowers17"
MODES = ("search", "most_useful", "ambiguous", "discovery", "refine")
PLAIN = ("shown_precision", "final_ap", "class_coverage", "round_ms_p50")
FAIR = ("test_ap", "marks_to_ap", "ap_reached")

Stat = list[float | None]


def _stats(values: list[float | None]) -> Stat:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    if not kept:
        return [None, None]
    return [round(float(np.mean(kept)), 4), round(float(np.std(kept)), 4)]


def quality(
    spaces: dict[str, np.ndarray], y: list[str], parts: dict[str, list[str]], seeds: list[int]
) -> dict[str, dict[str, dict[str, dict[str, Stat]]]]:
    """``{learner: {mode: {part: {figure: [mean, std]}}}}``: the naive baseline on lite0, and
    ``model@SPACE`` and ``furet@SPACE`` for every space of ``spaces`` (``(n, dim)`` vectors)."""

    def scorer(vectors: np.ndarray) -> Callable[[LinearModel], np.ndarray]:
        index = ExactIndex(vectors)
        return lambda m: index.scores(m.w, m.b)

    learners: dict[str, tuple[tuple[str, ...], dict[str, object]]] = {
        "naive": (("search",), {"learner": naive_learner, "vectors": spaces["lite0"]}),
    }
    for space, vectors in spaces.items():
        learners[f"model@{space}"] = (MODES, {"vectors": vectors})
        learners[f"furet@{space}"] = (MODES, {"vectors": vectors, "graph": build_graph(vectors)})
    out: dict[str, dict[str, dict[str, dict[str, Stat]]]] = {}
    for name, (modes, extra) in learners.items():
        out[name] = {}
        for mode in modes:
            out[name][mode] = {}
            for part, classes in parts.items():
                runs: list[tuple[SimulationResult, SimulationResult, SimulationResult]] = []
                for s in seeds:
                    vectors = np.asarray(extra["vectors"])
                    kw = {k: v for k, v in extra.items() if k != "vectors"}
                    kw.update(mode=mode, classes=classes, seed=s, scorer=scorer(vectors))
                    plain = simulate(vectors, y, **kw)  # type: ignore[arg-type]
                    fair = simulate(vectors, y, test_fraction=0.3, **kw)  # type: ignore[arg-type]
                    frugal = simulate(vectors, y, test_fraction=0.3, rounds=4, batch=5, **kw)  # type: ignore[arg-type]
                    runs.append((plain, fair, frugal))
                figures = {f: _stats([getattr(r[0], f) for r in runs]) for f in PLAIN}
                figures.update({f: _stats([getattr(r[1], f) for r in runs]) for f in FAIR})
                figures.update(
                    {f"frugal_{f}": _stats([getattr(r[2], f) for r in runs]) for f in FAIR}
                )
                out[name][mode][part] = figures
            print(f"{name} {mode}: {out[name][mode]['report']}", file=sys.stderr, flush=True)
    return out


def round_costs(n: int, dim: int = 1280, marks: int = 76, repeats: int = 30) -> dict[str, object]:
    """p50 ms of each part of a round over ``n`` synthetic vectors, and the graph build time."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((200, dim)).astype(np.float32)
    x = centres[rng.integers(0, 200, n)] + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x16 = x.astype(np.float16)
    del x
    t0 = time.perf_counter()
    graph = build_graph(x16)
    build_s = time.perf_counter() - t0
    adjacency = graph.adjacency()
    index = create_index(x16, "auto", 0)
    labelled = np.zeros(n, np.int8)
    marked = rng.choice(n, marks, replace=False)
    labelled[marked[: marks // 2]], labelled[marked[marks // 2 :]] = 1, -1
    pos, neg = x16[labelled == 1].astype(np.float32), x16[labelled == -1].astype(np.float32)
    background = x16.mean(axis=0, dtype=np.float64)
    parts: dict[str, list[float]] = {"fit": [], "scan": [], "smooth": [], "select": []}
    for _ in range(repeats):
        t = time.perf_counter()
        model = fit_linear(pos, neg, background=background, cross_validate=False)
        parts["fit"].append(time.perf_counter() - t)
        t = time.perf_counter()
        scores = index.scores(model.w, model.b)
        parts["scan"].append(time.perf_counter() - t)
        t = time.perf_counter()
        ranked = smooth(scores, labelled, graph, Propagation(), adjacency)
        parts["smooth"].append(time.perf_counter() - t)
        t = time.perf_counter()
        select_page("most_useful", ranked, labelled, 15)
        parts["select"].append(time.perf_counter() - t)
    p50 = {k: round(float(np.median(v)) * 1e3, 2) for k, v in parts.items()}
    return {
        "items": n,
        "dim": dim,
        "marks": marks,
        "ms_p50": p50,
        "round_ms_p50_without_graph": round(p50["fit"] + p50["scan"] + p50["select"], 2),
        "round_ms_p50": round(sum(p50.values()), 2),
        "graph_build_s": round(build_s, 1),
        "graph_bytes": int(graph.neighbours.nbytes + graph.sims.nbytes),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--seeds", default="0,1,2", help="evaluation seeds (mean and spread)")
    ap.add_argument("--models", default="lite0,lite0-pn", help="spaces furet learns in")
    ap.add_argument("--scale-items", type=int, default=100_000, help="0: skip the speed part")
    ap.add_argument("--home", type=Path, default=None, help="default: a temporary folder")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    labels_csv = args.data / "labels.csv"
    models = args.models.split(",")
    spaces: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.home or Path(tmp) / "home"
        col = furet.open(root, Settings(home=root)).ensure_collection("flowers", "lite0")
        col.ingest([args.data / "images"])
        rows, y = labelled_rows(col, labels_csv)
        for space in dict.fromkeys(["lite0", *models]):
            if space != col.model:
                col.add_space(space)  # furet embed: the same items, another space
            m = col.matrix(space)
            assert np.array_equal(m.item_ids, col.matrix().item_ids), "spaces list items alike"
            spaces[space] = np.ascontiguousarray(m.vectors[rows])
    tune = tuning_labels(sorted(set(y)))
    parts = {"tune": tune, "report": [c for c in sorted(set(y)) if c not in tune]}
    q = quality(spaces, y, parts, seeds)
    rep = {name: {m: q[name][m]["report"] for m in q[name]} for name in q}
    naive = rep["naive"]["search"]
    summary: dict[str, object] = {
        f"{name}.{mode}": {
            f: figures[f][0]
            for f in ("shown_precision", "test_ap", "marks_to_ap", "frugal_marks_to_ap")
        }
        for name in rep
        for mode, figures in rep[name].items()
    }
    summary["ratios_to_naive"] = {
        f"{name}.{mode}": {
            "shown_precision": _ratio(
                rep[name][mode]["shown_precision"][0], naive["shown_precision"][0]
            ),
            "marks_to_ap": _ratio(rep[name][mode]["marks_to_ap"][0], naive["marks_to_ap"][0]),
            "frugal_marks_to_ap": _ratio(
                rep[name][mode]["frugal_marks_to_ap"][0], naive["frugal_marks_to_ap"][0]
            ),
        }
        for name in rep
        if name.startswith("furet@")
        for mode in MODES
    }
    result: dict[str, object] = {
        "benchmark": "learning",
        "protocol": "lite0, 5 rounds x 15, 3 seeds per class; test_fraction 0.3 for test_ap, "
        "marks_to_ap, ap_reached; [mean, std] over evaluation seeds",
        "evaluation_seeds": seeds,
        "tuning_labels": parts["tune"],
        "report_labels": parts["report"],
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "summary_report_labels": summary,
        "quality": q,
    }
    if args.scale_items:
        result["round_at_scale"] = round_costs(args.scale_items)
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
