"""Ingestion throughput: `furet ingest` against a naive one-image-at-a-time PyTorch loop.

Both run on the same files in the same process run; prints JSON with images/s and the ratio.
    .venv/bin/python benchmarks/ingest.py [--images ../shared/data/oxford-flowers17/images]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import furet
from furet.embedders.lite0 import Lite0Embedder, load_network
from furet.services.ingest import walk
from furet.settings import Settings

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/oxford-flowers17/images"


def naive_loop(files: list[Path]) -> float:
    """The textbook loop: open, convert, preprocess, forward a batch of one."""
    emb = Lite0Embedder()  # for its preprocessing only
    net = load_network()  # the plain network, as written in the paper's layout
    t0 = time.perf_counter()
    out = []
    with torch.no_grad():
        for f in files:
            img = Image.open(f).convert("RGB")
            x = torch.from_numpy(emb.preprocess(img)[None])
            out.append(net.features(x).numpy())
    assert len(out) == len(files)
    return len(files) / (time.perf_counter() - t0)


def furet_ingest(folder: Path, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        home = furet.open(tmp, Settings(home=Path(tmp)))
        report = home.ensure_collection("bench", "lite0").ingest([folder])
        assert report.items_added == n, report
        return report.images_per_second


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=Path, default=DEFAULT)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N files")
    args = ap.parse_args()
    files = walk([args.images])
    folder = args.images
    tmpdir = None
    if args.limit:
        files = files[: args.limit]
        tmpdir = tempfile.TemporaryDirectory()
        folder = Path(tmpdir.name)
        for i, f in enumerate(files):
            (folder / f"{i:06d}{f.suffix}").symlink_to(f)
    # Warm both paths (weights load, allocator) outside the timings.
    Lite0Embedder().embed_batch(np.zeros((2, 3, 224, 224), np.float32))
    naive = naive_loop(files)
    fast = furet_ingest(folder, len(files))
    print(
        json.dumps(
            {
                "benchmark": "ingest",
                "model": "lite0",
                "images": len(files),
                "torch_threads": torch.get_num_threads(),
                "naive_images_per_s": round(naive, 1),
                "furet_images_per_s": round(fast, 1),
                "ratio": round(fast / naive, 2),
            },
            indent=2,
        )
    )
    if tmpdir:
        tmpdir.cleanup()


if __name__ == "__main__":
    main()
