"""Near-duplicates: oxford-flowers17 plus 200 altered copies of its images, ingested by furet.

Every 4th copy is re-encoded (JPEG quality 40), resized to half, cropped by 6% on each side or
brightened by 15%. ``furet duplicates`` (``services/duplicates.py``) groups the collection;
``recall``: the share of copies grouped with their original; ``precision``: the share of copies
grouped at all that are grouped with their original (a copy with only other images is wrong).
Groups of originals only are counted apart (``groups_of_originals``): oxford-flowers17 holds
duplicate files and burst shots of its own, with no ground truth.

    .venv/bin/python benchmarks/duplicates.py [--copies 200] [--threshold 0.92]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageEnhance

import furet
from furet.services.duplicates import find_duplicates
from furet.settings import Settings

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/oxford-flowers17"
KINDS = ("reencode", "resize", "crop", "brighten")


def altered(image: Image.Image, kind: str) -> Image.Image:
    if kind == "reencode":
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=40)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if kind == "resize":
        return image.resize((image.width // 2, image.height // 2))
    if kind == "crop":
        w, h = image.size
        return image.crop((int(w * 0.06), int(h * 0.06), int(w * 0.94), int(h * 0.94)))
    return ImageEnhance.Brightness(image).enhance(1.15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--threshold", type=float, default=None)
    args = ap.parse_args()
    files = sorted((args.data / "images").rglob("*.jpg"))
    picks = random.Random(0).sample(files, args.copies)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(args.data / "images", root / "imgs" / "orig")
        source: dict[str, str] = {}  # copy path -> original path (both as ingested)
        for i, f in enumerate(picks):
            kind = KINDS[i % len(KINDS)]
            dst = root / "imgs" / "copies" / f"{i:03d}-{kind}.jpg"
            dst.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(f) as im:
                altered(im.convert("RGB"), kind).save(dst, "JPEG", quality=92)
            rel = f.relative_to(args.data / "images")
            source[str(dst.resolve())] = str((root / "imgs" / "orig" / rel).resolve())
        home = furet.open(root / "home", Settings(home=root / "home"))
        col = home.ensure_collection("dups")
        col.ingest([root / "imgs"])
        t = time.perf_counter()
        kw = {} if args.threshold is None else {"threshold": args.threshold}
        found = find_duplicates(col, **kw)
        seconds = time.perf_counter() - t
        infos = home.catalog.item_infos([i for g in found.groups for i in g])
        grouped, right, originals_only = 0, 0, 0
        by_kind = {k: [0, 0] for k in KINDS}  # kind -> [copies, found with their original]
        in_group: dict[str, set[str]] = {}
        for g in found.groups:
            paths = {infos[i].path for i in g}
            for p in paths:
                in_group[p] = paths
            if not paths & set(source):
                originals_only += 1
        for i, (copy, orig) in enumerate(source.items()):
            kind = KINDS[i % len(KINDS)]
            by_kind[kind][0] += 1
            if copy in in_group:
                grouped += 1
                if orig in in_group[copy]:
                    right += 1
                    by_kind[kind][1] += 1
        print(
            json.dumps(
                {
                    "benchmark": "duplicates",
                    "items": len(col.matrix()),
                    "copies": len(source),
                    "threshold": found.threshold,
                    "min_cosine": found.min_cosine,
                    "candidates": found.candidates,
                    "groups": len(found.groups),
                    "groups_of_originals": originals_only,
                    "recall": round(right / len(source), 4),
                    "precision": round(right / grouped, 4) if grouped else None,
                    "recall_by_kind": {k: round(v[1] / v[0], 4) for k, v in by_kind.items()},
                    # Size of the group of each grouped copy (2: the copy and its original).
                    "copy_group_sizes": {
                        str(n): sum(1 for c in source if len(in_group.get(c, ())) == n)
                        for n in sorted({len(in_group[c]) for c in source if c in in_group})
                    },
                    "seconds": round(seconds, 2),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
