"""One round of interactive learning at scale: furet's round against the exact numpy baseline.

Synthetic clustered unit vectors (``--n`` x 1280, generated in chunks, stored float16). A class is
one cluster; the user has marked ``--pos`` positives and ``--neg`` negatives. Measured side by
side in one run, p50 over ``--repeat`` rounds:

- baseline: a float32 copy of the store, ``X @ w`` + ``argpartition`` (DESIGN.md §7);
- furet: the service's round path: ``fit_linear`` + the index the service builds for the
  collection (``--scan auto``: ``Int8Index`` from 20k vectors on, an int8 first pass over
  prepacked codes with the head re-scored in float32; ``--scan exact``: the half-precision
  scan) + ``search`` selection.

Prints JSON: p50 of each, their ratio, and the recall of the baseline's exact top-100.

    python benchmarks/round.py --n 200000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from furet.domain.classifier import fit_linear
from furet.domain.modes import select_page
from furet.vectors.factory import SCANS, create_index

DIM = 1280
TOP = 100


def make_store(
    n: int, clusters: int, seed: int, chunk: int = 50_000
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, DIM) float16`` L2-normalised clustered vectors and their ``(n,) int32`` cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    store = np.empty((n, DIM), dtype=np.float16)
    assign = rng.integers(0, clusters, size=n).astype(np.int32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        x = centres[assign[start:stop]]
        x += rng.standard_normal((stop - start, DIM), dtype=np.float32) * (1.0 / np.sqrt(DIM))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        store[start:stop] = x
    return store, assign


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--pos", type=int, default=40)
    ap.add_argument("--neg", type=int, default=35)
    ap.add_argument("--page", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true", help="skip the fp32 copy (memory)")
    ap.add_argument("--scan", choices=SCANS, default="auto", help="furet's index (FURET_SCAN)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    store, assign = make_store(args.n, args.clusters, args.seed)
    gen_s = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed + 1)
    members = np.flatnonzero(assign == 0)
    pos_rows = rng.choice(members, size=min(args.pos, members.size), replace=False)
    neg_rows = rng.choice(np.flatnonzero(assign != 0), size=args.neg, replace=False)
    labelled = np.zeros(args.n, dtype=np.int8)
    labelled[pos_rows], labelled[neg_rows] = 1, -1
    background = store[:: max(1, args.n // 100_000)].astype(np.float32).mean(axis=0)
    t0 = time.perf_counter()
    index = create_index(store, args.scan)
    build_s = time.perf_counter() - t0
    x32 = None if args.no_baseline else store.astype(np.float32)

    furet_ms, base_ms, recalls = [], [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        model = fit_linear(
            store[pos_rows], store[neg_rows], background=background, cross_validate=False
        )
        scores = index.scores(model.w, model.b)
        page = select_page("search", scores, labelled, args.page)
        furet_ms.append((time.perf_counter() - t) * 1e3)
        assert page.size == args.page
        top_furet = select_page("search", scores, labelled, TOP)
        if x32 is not None:
            t = time.perf_counter()
            exact = x32 @ model.w + np.float32(model.b)
            exact[labelled != 0] = -np.inf
            top_exact = np.argpartition(-exact, TOP - 1)[:TOP]
            base_ms.append((time.perf_counter() - t) * 1e3)
            recalls.append(np.intersect1d(top_furet, top_exact).size / TOP)

    out: dict[str, object] = {
        "n": args.n,
        "dim": DIM,
        "store": "float16",
        "generate_s": round(gen_s, 1),
        "index": type(index).__name__,
        "index_build_s": round(build_s, 1),
        "furet_round_ms_p50": round(float(np.median(furet_ms)), 1),
        "torch_threads": torch.get_num_threads(),
    }
    if base_ms:
        out["baseline_fp32_ms_p50"] = round(float(np.median(base_ms)), 1)
        out["speedup"] = round(float(np.median(base_ms) / np.median(furet_ms)), 2)
        out["recall_at_100"] = round(float(np.mean(recalls)), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
