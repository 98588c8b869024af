"""k-NN for search by example: furet's FAISS HNSW path against FAISS's exact ``IndexFlatIP``.

A synthetic clustered collection of ``--n`` unit vectors (``--dim``, float16 as furet stores
them); ``--queries`` items of it, slightly perturbed, as queries, ``k = 100``. Prints JSON: build
time, p50 query time of each (one query at a time), their ratio, and the recall of the exact
top-10 and top-100. ``--data isotropic`` (the default): clusters whose spread is the same in
every direction, the hardest case for the projection furet's graph uses above 384 dimensions;
``--data calibrated``: the power-law generator of ``benchmarks/archive.py``, whose spectrum
falls like lite0's on oxford-flowers17.

    .venv/bin/python benchmarks/knn.py [--n 1000000] [--dim 1280] [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import faiss
import numpy as np

from furet.vectors.faiss_knn import FaissKnn


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(10, n // 200), dim)).astype(np.float32)
    out = np.empty((n, dim), np.float16)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        x = centres[rng.integers(0, len(centres), m)]
        x += rng.standard_normal((m, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def calibrated(n: int, dim: int, seed: int = 0) -> np.ndarray:
    from archive import Generator  # benchmarks/ is on the path when this file is run

    gen = Generator(dim, 1000, 1.05, 2.0, seed)
    out = np.empty((n, dim), np.float16)
    for start in range(0, n, 50_000):
        out[start : start + 50_000] = gen.block(start, min(n, start + 50_000))[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--data", choices=("isotropic", "calibrated"), default="isotropic")
    args = ap.parse_args()
    x16 = clustered(args.n, args.dim) if args.data == "isotropic" else calibrated(args.n, args.dim)
    rng = np.random.default_rng(1)
    picks = rng.choice(args.n, args.queries, replace=False)
    queries = x16[picks].astype(np.float32) + 0.02 * rng.standard_normal((args.queries, args.dim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    t = time.perf_counter()
    knn = FaissKnn(x16)
    build_s = time.perf_counter() - t
    flat = faiss.IndexFlatIP(args.dim)
    for start in range(0, args.n, 100_000):
        flat.add(x16[start : start + 100_000].astype(np.float32))
    mine, base, r10, r100 = [], [], [], []
    for q in queries:
        t = time.perf_counter()
        rows, _ = knn.topk(q, args.k)
        mine.append(time.perf_counter() - t)
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # the baseline on every core
        t = time.perf_counter()
        _, ref = flat.search(q[None], args.k)
        base.append(time.perf_counter() - t)
        r10.append(len(set(rows[:10].tolist()) & set(ref[0][:10].tolist())) / 10)
        r100.append(len(set(rows.tolist()) & set(ref[0].tolist())) / args.k)
    p50, b50 = float(np.median(mine)) * 1e3, float(np.median(base)) * 1e3
    print(
        json.dumps(
            {
                "benchmark": "knn",
                "n": args.n,
                "dim": args.dim,
                "data": args.data,
                "graph_dims": knn.graph_dims,
                "k": args.k,
                "queries": args.queries,
                "cpus": os.cpu_count(),
                "faiss_hnsw_build_s": round(build_s, 1),
                "faiss_hnsw_ms_p50": round(p50, 2),
                "flat_ip_ms_p50": round(b50, 2),
                "speedup": round(b50 / p50, 1),
                "recall_at_10": round(float(np.mean(r10)), 4),
                "recall_at_100": round(float(np.mean(r100)), 4),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
