"""Backbones: quality against ingest speed for EfficientNet-Lite0/1/2, plain and flip-averaged.

Speed, the models taken in turn (``--speed-repeats`` turns, best kept) so that the load of a
shared machine hits them alike:

- ``ingest_images_per_s``: furet's own ingestion (decode, preprocess, embed, write) of every
  ``--speed-every``-th image of oxford-flowers17 into a fresh collection;
- ``model_images_per_s``: the embedder alone on 64 preprocessed images, in batches of 8.

Quality, on the whole collection ingested once per model:

- the simulated user (``services.evaluation.evaluate``, 3 seeds per class, a 30% held-out test
  split), for several evaluation seeds: ``standard`` (5 rounds x 15, the issue's protocol) and
  ``frugal`` (4 rounds x 5, where ``marks_to_ap`` can tell 1, 6, 11, 16 or 21 marks apart: on
  flowers17 every backbone reaches a test AP of 0.8 within the first page of 15): shown
  precision, first-page precision, final_ap, test_ap, marks_to_ap, ap_reached, class_coverage;
- k-NN precision@10 (queries of the classes, neighbours among all items) and a linear probe
  (logistic regression, C=10 fixed, on a stratified half of the classes' items; accuracy on the
  other half, one split per evaluation seed).

Every figure is ``[mean, std]`` over the evaluation seeds. Issue 14's rule: the choice is made
on 8 labels (``tuning_labels``, the split of benchmarks/discovery.py) and reported on the 9
others; ``summary`` holds the reporting labels' figures and their ratios to lite0 in the run.

    .venv/bin/python benchmarks/backbones.py [--models lite0,lite1] [--seeds 0,1,2] > out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import furet
from furet.embedders import create_embedder, get_spec
from furet.library import Collection
from furet.services.evaluation import evaluate, read_labels
from furet.services.ingest import walk
from furet.settings import Settings

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/oxford-flowers17"
MODELS = ("lite0", "lite1", "lite2", "lite0-flip", "lite1-flip", "lite2-flip")
#: (rounds, batch) of each simulated-user regime.
REGIMES = {"standard": (5, 15), "frugal": (4, 5)}
FIELDS = (
    "shown_precision",
    "first_page_precision",
    "final_ap",
    "test_ap",
    "marks_to_ap",
    "ap_reached",
    "class_coverage",
)
FEATURE_FIELDS = ("knn_precision_at_10", "probe_accuracy")
SPEED_IMAGES = 64

#: ``[mean, std]`` over the evaluation seeds (None where no seed gave a finite figure).
Stat = list[float | None]
#: ``{regime: {mode: {part: {field: [mean, std]}}}}``
Simulated = dict[str, dict[str, dict[str, dict[str, Stat]]]]


def tuning_labels(labels: list[str]) -> list[str]:
    """The 8 labels choices are made on (the other 9 report): the split of discovery.py."""
    return sorted(str(x) for x in np.random.default_rng(0).choice(labels, 8, replace=False))


def _finite(x: object) -> float | None:
    """A figure for JSON: None for a missing or infinite one (a target never reached)."""
    if isinstance(x, int | float) and math.isfinite(x):
        return float(x)
    return None


def _stats(values: list[float | None]) -> Stat:
    kept = [v for v in values if v is not None]
    if not kept:
        return [None, None]
    return [round(float(np.mean(kept)), 4), round(float(np.std(kept)), 4)]


def simulated_user(
    col: Collection,
    labels_csv: Path,
    modes: list[str],
    parts: dict[str, list[str]],
    seeds: list[int],
) -> Simulated:
    out: Simulated = {}
    for regime, (rounds, batch) in REGIMES.items():
        out[regime] = {}
        for mode in modes:
            out[regime][mode] = {}
            for part, classes in parts.items():
                runs = []
                for s in seeds:
                    result, _ = evaluate(
                        col,
                        labels_csv,
                        rounds=rounds,
                        batch=batch,
                        mode=mode,
                        test_fraction=0.3,
                        classes=classes,
                        seed=s,
                    )
                    summary = result.summary()
                    summary["first_page_precision"] = result.per_round_precision[0]
                    runs.append(summary)
                out[regime][mode][part] = {
                    f: _stats([_finite(r.get(f)) for r in runs]) for f in FIELDS
                }
    return out


def feature_figures(
    col: Collection, labels_csv: Path, parts: dict[str, list[str]], seeds: list[int]
) -> dict[str, dict[str, Stat]]:
    """k-NN precision@10 and linear-probe accuracy per part (the probe's C fixed, not tuned)."""
    m = col.matrix()
    infos = col.home.catalog.item_infos(m.item_ids.tolist())
    paths = [infos[int(i)].path for i in m.item_ids]
    labels = read_labels(labels_csv, paths)
    keep = np.array([p in labels for p in paths])
    x = m.vectors[keep].astype(np.float32)
    y = np.array([labels[p] for p, k in zip(paths, keep, strict=True) if k])
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argpartition(-sims, 10, axis=1)[:, :10]
    hit = (y[top] == y[:, None]).mean(axis=1)
    out: dict[str, dict[str, Stat]] = {}
    for part, classes in parts.items():
        rows = np.isin(y, classes)
        accuracies = []
        for s in seeds:
            xa, xb, ya, yb = train_test_split(
                x[rows], y[rows], test_size=0.5, stratify=y[rows], random_state=s
            )
            probe = LogisticRegression(C=10.0, max_iter=2000).fit(xa, ya)
            accuracies.append(float((probe.predict(xb) == yb).mean()))
        out[part] = {
            "knn_precision_at_10": [round(float(hit[rows].mean()), 4), 0.0],
            "probe_accuracy": _stats([*accuracies]),
        }
    return out


def model_speed(models: list[str], files: list[Path], repeats: int) -> dict[str, float]:
    """Images/s of each model alone (batches of 8 as at ingest), best of ``repeats`` turns."""
    best = dict.fromkeys(models, 0.0)
    batches = {}
    for name in models:
        emb = create_embedder(name)
        pixels = np.stack([emb.preprocess(Image.open(f).convert("RGB")) for f in files])
        batches[name] = (emb, pixels)
    for _ in range(repeats):
        for name in models:
            emb, pixels = batches[name]
            t0 = time.perf_counter()
            for i in range(0, len(pixels), 8):
                emb.embed_batch(pixels[i : i + 8])
            best[name] = max(best[name], len(pixels) / (time.perf_counter() - t0))
    return {k: round(v, 1) for k, v in best.items()}


def ingest_speed(
    home: furet.Furet, models: list[str], files: list[Path], repeats: int
) -> dict[str, float]:
    """Images/s of furet's ingestion of ``files`` into a fresh collection, best of ``repeats``
    turns over the models."""
    best = dict.fromkeys(models, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, f in enumerate(files):
            (folder / f"{i:06d}{f.suffix}").symlink_to(f)
        for turn in range(repeats):
            for name in models:
                col = home.ensure_collection(f"speed_{turn}_{name.replace('-', '_')}", name)
                report = col.ingest([folder])
                assert report.items_added == len(files), report
                best[name] = max(best[name], report.images_per_second)
    return {k: round(v, 1) for k, v in best.items()}


def _ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else round(value / base, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--modes", default="search,ambiguous")
    ap.add_argument("--seeds", default="0,1,2", help="evaluation seeds (mean and spread)")
    ap.add_argument("--speed-every", type=int, default=4, help="ingest every N-th image")
    ap.add_argument("--speed-repeats", type=int, default=3)
    ap.add_argument("--home", type=Path, default=None, help="default: a temporary folder")
    args = ap.parse_args()
    models = args.models.split(",")
    if "lite0" not in models:
        models.insert(0, "lite0")  # the reference of every ratio
    modes = args.modes.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    labels_csv = args.data / "labels.csv"
    files = walk([args.data / "images"])
    with open(labels_csv, encoding="utf-8") as f:
        all_labels = sorted({line.rstrip("\n").split(",")[-1] for line in f} - {"label"})
    tune = tuning_labels(all_labels)
    parts = {"tune": tune, "report": [c for c in all_labels if c not in tune]}
    result: dict[str, object] = {
        "benchmark": "backbones",
        "images": len(files),
        "regimes": {k: f"{r} rounds x {b}" for k, (r, b) in REGIMES.items()},
        "protocol": "3 seeds per class, test_fraction 0.3, [mean, std] over evaluation seeds",
        "evaluation_seeds": seeds,
        "tuning_labels": parts["tune"],
        "report_labels": parts["report"],
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    sims: dict[str, Simulated] = {}
    feats: dict[str, dict[str, dict[str, Stat]]] = {}
    full_ingest: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.home or Path(tmp) / "home"
        home = furet.open(root, Settings(home=root))
        for name in models:
            # Weights and the ONNX export (first use) outside every timing.
            side = get_spec(name).input_size
            create_embedder(name).embed_batch(np.zeros((2, 3, side, side), np.float32))
        sample = files[:: max(1, args.speed_every)]
        ingest = ingest_speed(home, models, sample, args.speed_repeats)
        step = max(1, len(files) // SPEED_IMAGES)
        speeds = model_speed(models, files[::step][:SPEED_IMAGES], args.speed_repeats)
        print(f"speed: {ingest} {speeds}", file=sys.stderr, flush=True)
        for name in models:
            col = home.ensure_collection(name.replace("-", "_"), name)
            full_ingest[name] = round(col.ingest([args.data / "images"]).images_per_second, 1)
            sims[name] = simulated_user(col, labels_csv, modes, parts, seeds)
            feats[name] = feature_figures(col, labels_csv, parts, seeds)
            print(f"{name}: quality done", file=sys.stderr, flush=True)
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result["summary"] = summary(models, modes, ingest, speeds, sims, feats)
    result["models"] = {
        name: {
            "input_size": get_spec(name).input_size,
            "ingest_images_per_s": ingest[name],
            "model_images_per_s": speeds[name],
            "full_ingest_images_per_s (single pass, load-dependent)": full_ingest[name],
            "simulated_user": sims[name],
            "features": feats[name],
        }
        for name in models
    }
    print(json.dumps(result, indent=1))


def summary(
    models: list[str],
    modes: list[str],
    ingest: dict[str, float],
    speeds: dict[str, float],
    sims: dict[str, Simulated],
    feats: dict[str, dict[str, dict[str, Stat]]],
) -> dict[str, dict[str, object]]:
    """The reporting labels' headline figures (means) per model, each with its ratio to lite0."""
    out: dict[str, dict[str, object]] = {}
    for name in models:
        row: dict[str, object] = {
            "ingest_images_per_s": [ingest[name], _ratio(ingest[name], ingest["lite0"])],
            "model_images_per_s": [speeds[name], _ratio(speeds[name], speeds["lite0"])],
        }
        for regime in REGIMES:
            for mode in modes:
                mine = sims[name][regime][mode]["report"]
                ref = sims["lite0"][regime][mode]["report"]
                for f in ("shown_precision", "test_ap", "marks_to_ap"):
                    row[f"{regime}.{mode}.{f}"] = [mine[f][0], _ratio(mine[f][0], ref[f][0])]
        for f in FEATURE_FIELDS:
            mine_f, ref_f = feats[name]["report"][f][0], feats["lite0"]["report"][f][0]
            row[f] = [mine_f, _ratio(mine_f, ref_f)]
        out[name] = row
    return out


if __name__ == "__main__":
    main()
