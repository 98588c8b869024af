"""Mass enrichment throughput: ``furet enrich`` against a naive per-class numpy loop.

``--n`` synthetic items (clustered unit vectors, ``--dim`` wide, float16) are written through
furet's own ingestion commit path (segments of ``--segment-items`` rows + catalog rows), and
``--classes`` class versions are fitted on clusters. Then, in the same run, each in a fresh
process of its own (so that its peak memory is its own):

- furet: the enrichment service as the CLI runs it (one pass, blocks from the segment files, one
  half-precision product per block for all the classes, exact float32 re-scoring near the
  threshold, Parquet parts);
- furet, server: the same where a server has loaded the matrix and built its int8 codes when it
  started (build time reported apart): the int8 pass first;
- naive: the collection's matrix loaded as a round loads it, then for each class a loop over
  chunks ``x.astype(float32) @ w + b``, the items at or above the threshold written to Parquet;
- numpy-once (for reference): the matrix loaded, one float32 copy, one product for all classes.

Prints JSON: seconds, items/s (items tagged for every class per second), the ratio, peak memory
(resident set) of each, and how many tags they agree on.

    .venv/bin/python benchmarks/enrich.py --n 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import furet
from furet.catalog.classes import ClassCatalog
from furet.catalog.repository import FileOutcome, NewItem
from furet.domain.classifier import fit_linear
from furet.services.enrichment import Rule
from furet.settings import Settings
from furet.vectors.segments import SegmentStore

MODEL = "lite0"
THRESHOLD = 0.0
CHUNK = 65_536


def generate(home_dir: Path, n: int, dim: int, classes: int, segment_items: int, seed: int) -> None:
    """The collection 'bench' and ``classes`` classes of user 'bench', each with a version."""
    home = furet.open(home_dir, Settings(home=home_dir))
    col = home.create_collection("bench", MODEL)
    store = SegmentStore(col.layout.space(MODEL), dim)
    rng = np.random.default_rng(seed)
    clusters = 1000
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    samples: dict[int, list[np.ndarray]] = {c: [] for c in range(classes + 1)}
    for lo in range(0, n, segment_items):
        m = min(segment_items, n - lo)
        assign = rng.integers(0, clusters, m)
        x = centres[assign] + rng.standard_normal((m, dim), dtype=np.float32) / np.sqrt(dim)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        ids = home.catalog.allocate_ids(m)
        name = store.write(ids, x.astype(np.float16))
        home.catalog.commit_files(
            col.collection_id,
            MODEL,
            name,
            [FileOutcome(f"/bench/{i}.jpg", 1, 1, (NewItem(int(i)),)) for i in ids],
        )
        for c in range(classes + 1):  # cluster `classes` gives everyone's negatives
            if sum(len(s) for s in samples[c]) < 60:
                samples[c].append(x[assign == c][:60])
    catalog = ClassCatalog(home.catalog.sessions)
    user = catalog.ensure_user("bench")
    background = centres.mean(axis=0)
    neg = np.concatenate(samples[classes])[:35]
    for c in range(classes):
        model = fit_linear(
            np.concatenate(samples[c])[:40], neg, background=background, cross_validate=False
        )
        row = catalog.create_class(user, col.collection_id, f"class-{c}", MODEL)
        catalog.save_version(
            row.class_id,
            n_pos=model.n_pos,
            n_neg=model.n_neg,
            n_weak=0,
            cv_score=None,
            weights=model.w,
            bias=model.b,
            params={},
        )


def run_furet(home_dir: Path, classes: int, int8: bool = False) -> dict[str, object]:
    home = furet.open(home_dir, Settings(home=home_dir, scan="int8" if int8 else "auto"))
    enrichment = home.enrichment("bench")
    out: dict[str, object] = {}
    if int8:  # a server's state: the matrix loaded and its codes built when it started
        t0 = time.perf_counter()
        home.collection("bench").index()
        out["build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    job = enrichment.submit(
        [f"class-{c}" for c in range(classes)], rule=Rule.of(threshold=THRESHOLD)
    )
    job = enrichment.run(job.job_id)
    seconds = time.perf_counter() - t0
    assert job.state == "done", job.error
    assert job.scan == ("int8" if int8 else "half")
    tags = {}
    for c in job.classes:
        _, rows = enrichment.tags.rows(enrichment.readable(c.name), home.collection("bench"))
        tags[c.name] = rows.item_ids[: rows.above(THRESHOLD)].tolist()
    return {**out, "seconds": seconds, "tags": tags}


def run_naive(home_dir: Path, classes: int, out_dir: Path) -> dict[str, object]:
    home = furet.open(home_dir, Settings(home=home_dir))
    catalog = ClassCatalog(home.catalog.sessions)
    user = catalog.ensure_user("bench")
    t0 = time.perf_counter()
    m = home.collection("bench").matrix()
    load_s = time.perf_counter() - t0
    tags = {}
    for c in range(classes):
        row = catalog.get_class(user, f"class-{c}")
        v = catalog.latest_version(row.class_id)
        assert v is not None
        scores = np.empty(len(m), np.float32)
        for lo in range(0, len(m), CHUNK):
            scores[lo : lo + CHUNK] = m.vectors[lo : lo + CHUNK].astype(np.float32) @ v.weights
        scores += np.float32(v.bias)
        keep = np.flatnonzero(scores >= THRESHOLD)
        table = pa.table(
            {
                "item_id": m.item_ids[keep],
                "class_id": np.full(len(keep), row.class_id),
                "version": np.full(len(keep), v.version, np.int32),
                "score": scores[keep],
            }
        )
        pq.write_table(table, out_dir / f"class-{c}.parquet")
        tags[f"class-{c}"] = m.item_ids[keep].tolist()
    return {"seconds": time.perf_counter() - t0, "load_s": load_s, "tags": tags}


def run_numpy_once(home_dir: Path, classes: int) -> dict[str, object]:
    """A less naive baseline: one float32 copy of the matrix, one product for all classes."""
    home = furet.open(home_dir, Settings(home=home_dir))
    catalog = ClassCatalog(home.catalog.sessions)
    user = catalog.ensure_user("bench")
    t0 = time.perf_counter()
    m = home.collection("bench").matrix()
    versions = []
    for c in range(classes):
        v = catalog.latest_version(catalog.get_class(user, f"class-{c}").class_id)
        assert v is not None
        versions.append(v)
    weights = np.stack([v.weights for v in versions], axis=1)
    scores = m.vectors.astype(np.float32) @ weights + np.array([v.bias for v in versions])
    tags = {
        f"class-{c}": m.item_ids[np.flatnonzero(scores[:, c] >= THRESHOLD)].tolist()
        for c in range(classes)
    }
    return {"seconds": time.perf_counter() - t0, "tags": tags}


def child(args: argparse.Namespace) -> None:
    home = Path(args.home)
    if args.phase == "generate":
        generate(home, args.n, args.dim, args.classes, args.segment_items, args.seed)
        out: dict[str, object] = {}
    elif args.phase == "furet":
        out = run_furet(home, args.classes)
    elif args.phase == "furet-int8":
        out = run_furet(home, args.classes, int8=True)
    elif args.phase == "numpy-once":
        out = run_numpy_once(home, args.classes)
    else:
        naive_out = home / "naive-tags"
        naive_out.mkdir(exist_ok=True)
        out = run_naive(home, args.classes, naive_out)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def phase(name: str, args: argparse.Namespace, home: Path) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--phase", name, "--home", str(home)]
    for key in ("n", "dim", "classes", "segment_items", "seed"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--segment-items", type=int, default=16_384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--home", help="(internal) the data home of a phase")
    ap.add_argument("--phase", choices=("generate", "furet", "furet-int8", "naive", "numpy-once"))
    args = ap.parse_args()
    if args.phase:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="furet-enrich-bench-") as tmp:
        home = Path(tmp) / "home"
        t0 = time.perf_counter()
        phase("generate", args, home)
        generate_s = time.perf_counter() - t0
        f = phase("furet", args, home)
        shutil.rmtree(home / "collections" / "1" / "tags")  # the server run tags anew
        f8 = phase("furet-int8", args, home)
        b = phase("naive", args, home)
        once = phase("numpy-once", args, home)
    tf, tb, t8 = f.pop("tags"), b.pop("tags"), f8.pop("tags")
    once.pop("tags")
    assert isinstance(t8, dict)
    assert isinstance(tf, dict) and isinstance(tb, dict)
    agree = sum(len(set(tf[k]) & set(tb[k])) for k in tb)
    total = sum(len(set(tf[k]) | set(tb[k])) for k in tb)
    fs, bs = float(f["seconds"]), float(b["seconds"])  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "n": args.n,
                "dim": args.dim,
                "classes": args.classes,
                "segment_items": args.segment_items,
                "store": "float16",
                "generate_s": round(generate_s, 1),
                "furet_s": round(fs, 2),
                "furet_items_per_s": round(args.n / fs),
                "furet_peak_rss_mb": round(float(f["peak_rss_mb"])),  # type: ignore[arg-type]
                "naive_s": round(bs, 2),
                "naive_items_per_s": round(args.n / bs),
                "naive_peak_rss_mb": round(float(b["peak_rss_mb"])),  # type: ignore[arg-type]
                # Of which: the matrix loaded as a round loads it (catalog, segments).
                "naive_load_s": round(float(b["load_s"]), 2),  # type: ignore[arg-type]
                "speedup": round(bs / fs, 2),
                "server_int8_s": round(float(f8["seconds"]), 2),  # type: ignore[arg-type]
                "server_int8_build_s": round(float(f8["build_s"]), 1),  # type: ignore[arg-type]
                "server_int8_peak_rss_mb": round(float(f8["peak_rss_mb"])),  # type: ignore[arg-type]
                "server_int8_speedup": round(bs / float(f8["seconds"]), 2),  # type: ignore[arg-type]
                "numpy_once_s": round(float(once["seconds"]), 2),  # type: ignore[arg-type]
                "numpy_once_peak_rss_mb": round(float(once["peak_rss_mb"])),  # type: ignore[arg-type]
                "tags": sum(len(v) for v in tb.values()),
                "tags_agreement": round(agree / max(total, 1), 6),
                "int8_tags_agreement": round(
                    sum(len(set(t8[k]) & set(tb[k])) for k in tb)
                    / max(sum(len(set(t8[k]) | set(tb[k])) for k in tb), 1),
                    6,
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
