"""Rounds at archive scale: the compressed pass against the exact scan and the int8 pass.

Synthetic clustered unit vectors whose spectrum falls like real features': within-cluster
variation with eigenvalue k ~ k^-``--spectrum`` (lite0 on oxford-flowers17 measures 1.05),
cluster centres with k^-``--centre-spectrum`` (2.0: a class lives mostly in the leading
components, as real classes do; calibrated on lite0/flowers17, where 128 principal components
hold 0.825 of the variance and a class model's error on them is ~0.085 of its score spread,
its members' mean error 0.02-0.07; here 0.84, 0.09 and 0.14, harsher than the real data;
``--centre-spectrum 1.05`` puts classes as much in the tail as the noise, 0.19 and 2.6),
``--clusters`` clusters, a random rotation. A class is one cluster,
marked with ``--pos`` positives and ``--neg`` negatives. One run measures side by side, p50
over ``--repeat`` rounds (fit + scores + a Search page, the round's path):

- ``exact``: numpy float32 ``X @ w`` + ``argpartition`` (a float32 copy in memory), or with
  ``--import-home`` the exact scan of the memory-mapped file, a block at a time;
- ``int8``: today's int8 pass over all 1280 codes (skipped with ``--import-home``);
- ``compressed``: ``furet.vectors.compressed`` (FURET_SCAN=compressed).

It reports the recall of the exact top-100 (Search) and of the exact 100 nearest the
boundary (Ambiguous) within the compressed path's re-scored candidates, whether Search pages
are identical, the machine's memory bandwidth (measured in the same run) and the share of it
a round's first pass uses, build and incremental-add times, and the peak RSS: that of furet's
phases alone (``furet_peak_rss_mb``, measured before any baseline runs) and of the whole run.

``--import-home DIR`` generates the collection as clip-retrieval shards (``img_emb/*.npy`` +
``metadata/*.parquet``, written a block at a time), imports them with ``furet import``'s code
path into a furet home, then measures rounds on the collection as a server opens it (the
memory-mapped matrix, the compressed index). Peak RSS is then that of the measuring process.

    python benchmarks/archive.py --n 1000000 --dim 1280
    python benchmarks/archive.py --n 10000000 --dim 384 --import-home /tmp/furet-10m
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from furet.domain.classifier import fit_linear
from furet.domain.modes import select_page
from furet.vectors.compressed import CompressedIndex
from furet.vectors.quantized import Int8Index
from furet.vectors.reading import blocks, mean_rows

TOP = 100
_BLOCK = 50_000


class Generator:
    """Clustered unit vectors with a power-law spectrum, produced a block at a time."""

    def __init__(self, dim: int, clusters: int, spectrum: float, centre_spectrum: float, seed: int):
        rng = np.random.default_rng(seed)
        k = np.arange(1, dim + 1, dtype=np.float64)
        self.sd = np.sqrt(k**-spectrum / (k**-spectrum).sum()).astype(np.float32)
        centre_sd = np.sqrt(k**-centre_spectrum / (k**-centre_spectrum).sum()).astype(np.float32)
        q, _ = np.linalg.qr(rng.standard_normal((dim, dim)).astype(np.float32))
        self.rotation = torch.from_numpy(np.ascontiguousarray(q, dtype=np.float32))
        self.centres = rng.standard_normal((clusters, dim), dtype=np.float32) * centre_sd
        self.clusters = clusters
        self.seed = seed

    def block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``[start, stop)``: ``(m, dim) float16`` vectors and ``(m,)`` clusters."""
        rng = np.random.default_rng((self.seed, start))
        assign = rng.integers(0, self.clusters, stop - start)
        x = (
            self.centres[assign]
            + rng.standard_normal((stop - start, len(self.sd)), dtype=np.float32) * self.sd
        )
        x = (torch.from_numpy(x) @ self.rotation).numpy()
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float16), assign


def bandwidth_gbs(threads: int) -> float:
    """Bytes per second a sum over a 1 GiB array reads with ``threads`` threads (best of 3)."""
    a = torch.ones(1 << 28)
    torch.set_num_threads(threads)
    best = min(_timed(lambda: a.sum()) for _ in range(3))
    return round(a.numel() * 4 / best / 1e9, 1)


def _timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def memory_now() -> dict[str, int]:
    """Resident memory now (MB): anonymous (the process's own) and file-backed (pages of the
    memory-mapped vectors, which the kernel reclaims as page cache)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmHWM"):
            out[f"{key.lower()}_mb"] = int(value.split()[0]) // 1024
    return out


def reset_peak() -> None:
    """Restart the kernel's count of peak resident memory (VmHWM) from what is resident now."""
    Path("/proc/self/clear_refs").write_text("5")


def scan_blocks(vectors: np.ndarray, w: np.ndarray, b: float = 0.0) -> np.ndarray:
    """The baseline: ``(n,) float32`` exact ``vectors @ w + b``, a block at a time (the exact
    scan of a memory-mapped file, which is never mapped whole)."""
    w32 = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    out = np.empty(len(vectors), np.float32)
    for lo, block in blocks(vectors):
        x = torch.from_numpy(np.ascontiguousarray(block)).float()
        out[lo : lo + len(block)] = (x @ w32).numpy() + np.float32(b)
    return out


Score = Callable[[np.ndarray, float], np.ndarray]


def rounds(
    score: Score,
    vectors: np.ndarray,
    labelled: np.ndarray,
    pos: np.ndarray,
    neg: np.ndarray,
    background: np.ndarray,
    repeat: int,
    mode: str = "search",
) -> tuple[float, np.ndarray, np.ndarray, tuple[np.ndarray, float]]:
    """p50 ms of ``repeat`` rounds scored by ``score``; the last scores, page and model."""
    times = []
    x_pos = np.asarray(vectors[pos], np.float32)
    x_neg = np.asarray(vectors[neg], np.float32)
    for i in range(repeat + 1):  # the first one warms the caches up, not counted
        t = time.perf_counter()
        model = fit_linear(x_pos, x_neg, background=background, cross_validate=False)
        scores = score(model.w, model.b)
        page = select_page(mode, scores, labelled, 15)
        if i:
            times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times)), scores, page, (model.w, model.b)


def generate_shards(gen: Generator, n: int, folder: Path, shard_rows: int) -> np.ndarray:
    """clip-retrieval shards of ``n`` rows under ``folder``; returns every row's cluster."""
    (folder / "img_emb").mkdir(parents=True, exist_ok=True)
    (folder / "metadata").mkdir(parents=True, exist_ok=True)
    assign = np.empty(n, np.int64)
    for shard, lo in enumerate(range(0, n, shard_rows)):
        hi = min(n, lo + shard_rows)
        out = np.lib.format.open_memmap(
            folder / "img_emb" / f"img_emb_{shard}.npy", "w+", np.float16, (hi - lo, gen.sd.size)
        )
        for a in range(lo, hi, _BLOCK):
            z = min(hi, a + _BLOCK)
            out[a - lo : z - lo], assign[a:z] = gen.block(a, z)
        out.flush()
        del out
        paths = pa.array(np.char.add("synthetic/", np.arange(lo, hi).astype(str)))
        pq.write_table(
            pa.table({"image_path": paths}), folder / "metadata" / f"metadata_{shard}.parquet"
        )
    return assign


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--spectrum", type=float, default=1.05, help="within-cluster spectrum")
    ap.add_argument(
        "--centre-spectrum", type=float, default=2.0, help="spectrum of the cluster centres"
    )
    ap.add_argument("--pos", type=int, default=40)
    ap.add_argument("--neg", type=int, default=35)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--classes", type=int, default=3, help="classes measured (one cluster each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-int8", action="store_true", help="skip today's int8 pass")
    ap.add_argument("--import-home", type=Path, help="generate, import, measure in a furet home")
    args = ap.parse_args()

    gen = Generator(args.dim, args.clusters, args.spectrum, args.centre_spectrum, args.seed)
    out: dict[str, object] = {
        "n": args.n,
        "dim": args.dim,
        "spectrum": args.spectrum,
        "centre_spectrum": args.centre_spectrum,
        "clusters": args.clusters,
        "bandwidth_gbs_1_thread": bandwidth_gbs(1),
        "bandwidth_gbs": (bandwidth := bandwidth_gbs(os.cpu_count() or 1)),
    }
    # As a server runs a round: torch on one thread (its idle pool threads would spin while
    # the ONNX Runtime pass, which has its own, runs).
    torch.set_num_threads(1)
    reset_peak()  # the bandwidth's 1 GiB array is gone
    t0 = time.perf_counter()
    if args.import_home:
        vectors, assign, timings = import_collection(gen, args)
        out.update(timings)
    else:
        vectors = np.empty((args.n, args.dim), np.float16)
        assign = np.empty(args.n, np.int64)
        for a in range(0, args.n, _BLOCK):
            z = min(args.n, a + _BLOCK)
            vectors[a:z], assign[a:z] = gen.block(a, z)
    out["generate_s"] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    compressed = CompressedIndex(vectors)
    out["compressed_build_s"] = round(time.perf_counter() - t0, 1)
    out["compressed_dims"] = compressed.basis.dims
    out["compressed_explained"] = round(compressed.basis.explained, 3)
    out["compressed_bytes"] = len(vectors) * compressed.basis.dims

    # furet's rounds first, so that the peak RSS they reach is furet's alone (a server holding
    # one index); the baselines (float32 copy, int8 codes, a second index for the extend
    # timing, the exact scan) come after.
    mapped = args.import_home is not None
    background = mean_rows(vectors).astype(np.float32)
    rng = np.random.default_rng(args.seed + 1)
    classes = []
    for cls in range(args.classes):
        members = np.flatnonzero(assign == cls)
        pos = np.sort(rng.choice(members, size=min(args.pos, len(members) // 2), replace=False))
        neg = np.sort(rng.choice(np.flatnonzero(assign != cls), size=args.neg, replace=False))
        labelled = np.zeros(len(vectors), np.int8)
        labelled[pos], labelled[neg] = 1, -1
        ms, got, page, (w, b) = rounds(
            lambda w, b: compressed.scores(w, b, boundary=False),
            vectors,
            labelled,
            pos,
            neg,
            background,
            args.repeat,
        )
        row: dict[str, object] = {"class": cls, "members": len(members)}
        row["compressed_ms_p50"] = round(ms, 1)
        row["ambiguous_round_ms_p50"] = round(
            rounds(compressed.scores, vectors, labelled, pos, neg, background, 3, "ambiguous")[0],
            1,
        )
        cand = compressed.refined(w, b, boundary=False)[1]
        band = compressed.refined(w, b, boundary=True)[1]
        row["candidates"] = None if cand is None else len(cand)
        row["candidates_ambiguous"] = None if band is None else len(band)
        classes.append((row, ms, pos, neg, labelled, got, page, cand, band))
    out["fallbacks"] = compressed.fallbacks
    out["furet_memory_mb"] = furet_memory = memory_now()
    out["furet_peak_rss_mb"] = furet_memory["vmhwm_mb"]

    added = max(1, len(vectors) // 100)
    t0 = time.perf_counter()
    CompressedIndex(vectors[:-added], basis=compressed.basis).extended(vectors)
    out["rebuild_and_extend_1pct_s"] = round(time.perf_counter() - t0, 1)
    x32 = None if mapped else vectors.astype(np.float32)
    int8 = None if (mapped or args.no_int8) else Int8Index(vectors)

    def exact_fn(w: np.ndarray, b: float) -> np.ndarray:
        if x32 is None:
            return scan_blocks(vectors, w, b)  # the exact scan of the mapped file
        return x32 @ w + np.float32(b)

    per_class = []
    times: list[float] = []
    for row, ms, pos, neg, labelled, got, page, cand, band in classes:
        exact_ms, exact, ex_page, _ = rounds(
            exact_fn, vectors, labelled, pos, neg, background, 3 if mapped else args.repeat
        )
        row["exact_ms_p50"] = round(exact_ms, 1)
        times.append(ms)
        row["speedup_vs_exact"] = round(exact_ms / ms, 1)
        if int8 is not None:
            int8_ms = rounds(int8.scores, vectors, labelled, pos, neg, background, args.repeat)[0]
            row["int8_ms_p50"] = round(int8_ms, 1)
            row["speedup_vs_int8"] = round(int8_ms / ms, 1)
        unl = np.flatnonzero(labelled == 0)
        top = unl[np.argsort(-exact[unl], kind="stable")[:TOP]]
        near = unl[np.argsort(np.abs(exact[unl]), kind="stable")[:TOP]]
        row["recall_top100_search"] = 1.0 if cand is None else len(np.intersect1d(cand, top)) / TOP
        row["recall_top100_ambiguous"] = (
            1.0 if band is None else len(np.intersect1d(band, near)) / TOP
        )
        row["same_search_page"] = bool(np.array_equal(page, ex_page))
        row["shown_scores_exact"] = bool(np.allclose(got[page], exact[page], rtol=1e-5, atol=1e-5))
        per_class.append(row)
    out["classes"] = per_class
    p50 = float(np.median(times))
    out["compressed_ms_p50"] = round(p50, 1)
    first_pass_gb = len(vectors) * compressed.basis.dims / 1e9
    out["first_pass_share_of_bandwidth"] = round(first_pass_gb / (p50 / 1e3) / bandwidth, 2)
    out["run_memory_mb"] = memory_now()
    print(json.dumps(out))


def import_collection(
    gen: Generator, args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Shards -> ``furet import`` (the CLI, in its own process) -> the collection's matrix as a
    server opens it (memory-mapped from ``mapped_min_bytes`` on). A re-run reuses them."""
    import furet

    home: Path = args.import_home
    shards = home / "shards"
    timings: dict[str, object] = {}
    assign_file = home / "assign.npy"
    done = home / "imported.json"
    if not done.exists():
        t0 = time.perf_counter()
        np.save(assign_file, generate_shards(gen, args.n, shards, 1_000_000))
        timings["shards_s"] = round(time.perf_counter() - t0, 1)
        model = {384: "dinov2-small", 512: "clip-vit-b32", 768: "dinov2-base"}.get(
            args.dim, "lite0"
        )
        t0 = time.perf_counter()
        cli = [sys.executable, "-m", "furet.cli.main", "--home", str(home / "furet")]
        run = subprocess.run(
            [*cli, "import", "-c", "archive", "--embeddings", str(shards), "--model", model],
            capture_output=True,
            text=True,
            check=True,
        )
        timings["import_s"] = round(time.perf_counter() - t0, 1)
        timings["import_output"] = run.stdout.strip()[-300:]
        shutil.rmtree(shards)  # the collection holds the vectors now
        done.write_text(json.dumps(timings))
    timings = json.loads(done.read_text())
    assign = np.load(assign_file)
    t0 = time.perf_counter()
    m = furet.open(home / "furet").collection("archive").matrix()
    timings["open_matrix_s"] = round(time.perf_counter() - t0, 1)
    timings["matrix"] = type(m.vectors).__name__
    # Item ids follow the rows of the shards (one allocation per segment, in order).
    order = np.argsort(m.item_ids, kind="stable")
    return m.vectors, assign[np.argsort(order, kind="stable")], timings


if __name__ == "__main__":
    main()
