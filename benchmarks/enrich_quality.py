"""Quality of calibrated mass enrichment on a labelled collection (oxford-flowers17 by default).

Every label becomes a class taught by the simulated documentalist (``services.teaching``: a
seed image, ``--rounds`` Search rounds of ``--batch``, ``--spot-checks`` Classify Random pages of
``--spot-batch``, all marked by the labels), then all of them are applied to the whole
collection at the threshold calibrated for ``--precision``. Prints JSON: per class the tags, their
precision and recall against the labels and the estimated precision; macro figures for the
first ``--tuning`` labels by name (those the calibration's constants were chosen on) and for
the others (held out).

    .venv/bin/python benchmarks/enrich_quality.py --rounds 3 --seed 0
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import furet
from furet.services.enrichment import Rule
from furet.services.teaching import TeachingPlan, item_labels, teach
from furet.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "shared/data/oxford-flowers17"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, default=DATA / "images")
    ap.add_argument("--labels", type=Path, default=DATA / "labels.csv")
    ap.add_argument("--home", type=Path, help="a home with the collection ingested (copied)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=15)
    ap.add_argument("--mode", default="search")
    ap.add_argument("--spot-checks", type=int, default=1)
    ap.add_argument("--spot-batch", type=int, default=30)
    ap.add_argument("--precision", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tuning", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="furet-enrich-quality-") as tmp:
        root = Path(tmp) / "home"
        if args.home:
            shutil.copytree(args.home, root)
        home = furet.open(root, Settings(home=root))
        if home.catalog.find_collection("c") is None:
            home.ensure_collection("c", "lite0").ingest([args.images])
        col = home.collection("c")
        truth = item_labels(col, args.labels)
        labels = sorted(set(truth.values()))
        learning = home.learning("documentalist")
        plan = TeachingPlan(
            rounds=args.rounds,
            batch=args.batch,
            mode=args.mode,
            spot_checks=args.spot_checks,
            spot_batch=args.spot_batch,
            seed=args.seed,
        )
        t0 = time.perf_counter()
        for label in labels:
            teach(learning, "c", truth, label, plan=plan)
        teach_s = time.perf_counter() - t0
        enrichment = home.enrichment("documentalist")
        t0 = time.perf_counter()
        job = enrichment.submit(labels, rule=Rule.of(precision=args.precision))
        job = enrichment.run(job.job_id)
        enrich_s = time.perf_counter() - t0
        classes = []
        for c in job.classes:
            _, rows = enrichment.tags.rows(enrichment.readable(c.name), col)
            tagged = rows.item_ids[: rows.above(c.threshold or np.inf)].tolist()
            hits = sum(truth.get(i) == c.name for i in tagged)
            positives = sum(v == c.name for v in truth.values())
            classes.append(
                {
                    "class": c.name,
                    "tags": len(tagged),
                    "precision": round(hits / len(tagged), 4) if tagged else None,
                    "recall": round(hits / positives, 4),
                    "estimated_precision": None if c.precision is None else round(c.precision, 4),
                }
            )

    def macro(rows: list[dict[str, object]]) -> dict[str, float]:
        out = {}
        for key in ("precision", "recall", "estimated_precision"):
            values = [float(r[key]) for r in rows if r[key] is not None]  # type: ignore[arg-type]
            out[key] = round(float(np.mean(values)), 4) if values else float("nan")
        errors = [
            abs(float(r["estimated_precision"]) - float(r["precision"]))  # type: ignore[arg-type]
            for r in rows
            if r["precision"] is not None and r["estimated_precision"] is not None
        ]
        out["mean_abs_estimate_error"] = round(float(np.mean(errors)), 4) if errors else 0.0
        return out

    print(
        json.dumps(
            {
                "plan": vars(plan),
                "items": len(truth),
                "teach_s": round(teach_s, 1),
                "enrich_s": round(enrich_s, 2),
                "tuning": macro(classes[: args.tuning]),
                "held_out": macro(classes[args.tuning :]),
                "all": macro(classes),
                "classes": classes,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
