"""Model discovery and user communities on Oxford Flowers 17: the checks of issue 13 and the
measures they were chosen from, through the real services.

Three populations of teachers, one class per label each, taught by the simulated user:

- A, the issue's scenario: 17 users over 3 groups (ina, bnf, mnhn), every other class public,
  the others shared with the owner's group, 3 to 5 rounds of Search (``services.institutions``);
- B: other seeds, 2 to 8 rounds of search, most_useful or ambiguous;
- C and D: weak classes, one round of 5 (C) or two (D), seeds of their own.

B, C and D users join the group of A's teacher of the same label and make their classes public.
A curator belongs to the 3 groups. Printed as markdown tables, and as JSON with ``--json``:

1. discovery (population A alone, before B and C exist): for every item of the collection,
   whether ``Discovery.item`` ranks the class of its label first; per label, overall, and on the
   items no teacher marked;
2. calibration of scores across classes (image -> class), per population, on the 8 labels the
   choice was made on and the 9 others: raw logit (= probability), standardised on the
   collection (chosen), robust (median, MAD), rank percentile, anchored on the positives' mean,
   Platt scaling on the marks;
3. resemblance between classes: for each class of one population, whether the most resembling
   class of another population has its label (top-1), and the average precision of the
   same-label pairs among all cross-population pairs: relative (chosen), absolute standardised,
   weight cosine, top-50 overlap, centroid cosine; with the share of same-label and of other
   pairs at or above ``RELATED``;
4. communities: the share of the 68 users whose first neighbour taught the same label.

    .venv/bin/python benchmarks/discovery.py [--data ../shared/data/oxford-flowers17]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

import furet
from furet.catalog.classes import ClassCatalog
from furet.domain.resemblance import (
    RELATED,
    on_positives,
    resemblance,
    top_length,
    weight_cosine,
)
from furet.services.communities import Communities
from furet.services.discovery import Discovery
from furet.services.institutions import GROUPS, Teacher, account, teach_labels
from furet.services.profiles import ProfileBuilder, Profiled
from furet.services.teaching import TeachingPlan, item_labels
from furet.settings import Settings

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/oxford-flowers17"
MODES = ("search", "most_useful", "ambiguous")


def tuning_labels(labels: list[str]) -> set[str]:
    """The 8 labels measures were chosen on (the other 9 report)."""
    return {str(x) for x in np.random.default_rng(0).choice(labels, 8, replace=False)}


def populations(
    home: furet.Furet, truth: dict[int, str], labels: list[str], a: list[Teacher]
) -> dict[str, list[Teacher]]:
    group_of = {t.label: t.group for t in a}
    groups = [group_of[label] for label in labels]

    def varied(j: int) -> TeachingPlan:
        return TeachingPlan(
            rounds=2 + (3 * j + 1) % 7, mode=MODES[j % 3], spot_checks=1, seed=50 + j
        )

    def weak(j: int) -> TeachingPlan:
        return TeachingPlan(rounds=1, batch=5, spot_checks=0, seed=80 + j)

    def weak2(j: int) -> TeachingPlan:
        return TeachingPlan(rounds=2, batch=5, spot_checks=0, seed=120 + j)

    out = {"A": a}
    for name, plan in (("B", varied), ("C", weak), ("D", weak2)):
        out[name] = teach_labels(
            home,
            "flowers",
            truth,
            labels,
            prefix=name.lower(),
            groups=groups,
            plan=plan,
            audience=lambda j: "public",
        )
    return out


def discovery_check(
    home: furet.Furet, truth: dict[int, str], teachers: list[Teacher], curator: int
) -> dict[str, object]:
    discovery = Discovery(home, curator)
    label_of = {t.class_id: t.label for t in teachers}
    marked: set[int] = set()
    catalog = ClassCatalog(home.catalog.sessions)
    for t in teachers:
        marked.update(catalog.current_labels(t.class_id))
    hits: Counter[str] = Counter()
    unmarked = [0, 0]
    t0 = time.perf_counter()
    for item_id, label in truth.items():
        found = [f for f in discovery.item(item_id, limit=100, similar=0).results]
        ours = [f for f in found if f.cls.class_id in label_of]
        right = bool(ours) and label_of[ours[0].cls.class_id] == label
        hits[label] += right
        if item_id not in marked:
            unmarked[0] += right
            unmarked[1] += 1
    ms = (time.perf_counter() - t0) * 1e3 / len(truth)
    sizes = Counter(truth.values())
    return {
        "per_label": {label: round(hits[label] / sizes[label], 4) for label in sorted(sizes)},
        "overall": round(sum(hits.values()) / len(truth), 4),
        "unmarked": round(unmarked[0] / max(unmarked[1], 1), 4),
        "unmarked_items": unmarked[1],
        "ms_per_item": round(ms, 2),
    }


def _profiles(home: furet.Furet, curator: int, teachers: list[Teacher]) -> list[Profiled]:
    visible = {v.class_id: v for v in Discovery(home, curator).sharing.visible()}
    built = ProfileBuilder(home).profiles([visible[t.class_id] for t in teachers])
    assert len(built.profiled) == len(teachers)
    return built.profiled


Calibration = Callable[[np.ndarray, list[Profiled], list[dict[int, int]]], np.ndarray]


def _platt(
    s: np.ndarray, ps: list[Profiled], marks: list[dict[int, int]], ids: np.ndarray
) -> np.ndarray:
    out = np.empty_like(s)
    row_of = {int(i): r for r, i in enumerate(ids)}
    for k, m in enumerate(marks):
        rows = np.array([row_of[i] for i in m if i in row_of])
        y = np.array([m[i] == 1 for i in m if i in row_of])
        if y.all():  # no negative marked (a weak class): Platt is undefined, keep the logit
            out[:, k] = s[:, k]
            continue
        lr = LogisticRegression(C=1e6).fit(s[rows, k : k + 1], y)
        out[:, k] = lr.decision_function(s[:, k : k + 1])
    return out


def calibrations(
    x: np.ndarray, ids: np.ndarray, ps: list[Profiled], marks: list[dict[int, int]]
) -> dict[str, np.ndarray]:
    """``(n, classes)`` cross-class scores of every calibration compared."""
    w = np.stack([p.profile.w for p in ps])
    s = x @ w.T + np.array([p.profile.b for p in ps])
    mean = s.mean(0)
    median = np.median(s, 0)
    mad = np.median(np.abs(s - median), 0) * 1.4826
    pos_mean = np.array([p.profile.centroid @ p.profile.w + p.profile.b for p in ps])
    return {
        "raw logit (= probability)": s,
        "standardised (chosen)": np.stack(
            [p.profile.scale.standardise(s[:, k]) for k, p in enumerate(ps)], 1
        ),
        "robust (median, MAD)": (s - median) / mad,
        "rank percentile": np.argsort(np.argsort(s, 0), 0) / len(s),
        "anchored (positives' mean = 1)": (s - mean) / (pos_mean - mean),
        "Platt (on the marks)": _platt(s, ps, marks, ids),
    }


def calibration_table(
    x: np.ndarray,
    ids: np.ndarray,
    y: np.ndarray,
    pops: dict[str, list[Profiled]],
    marks: dict[str, list[dict[int, int]]],
    labels: list[str],
    tune: set[str],
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for pop, ps in pops.items():
        own = np.array([p.visible.name for p in ps])  # every class is named after its label
        for name, c in calibrations(x, ids, ps, marks[pop]).items():
            row = out.setdefault(name, {})
            for part, wanted in (("tune", tune), ("held", set(labels) - tune)):
                cols = [k for k, label in enumerate(own) if label in wanted]
                rows = np.isin(y, list(wanted))
                top = own[cols][c[np.ix_(rows, np.array(cols))].argmax(1)]
                row[f"{pop} {part}"] = round(float(np.mean(top == y[rows])), 4)
            if pop == "A":  # the scenario: the 17 classes together
                row["A, 17 classes"] = round(float(np.mean(own[c.argmax(1)] == y)), 4)
    for row in out.values():
        for part in ("tune", "held"):
            values = [v for k, v in row.items() if k.endswith(f" {part}")]
            row[f"mean {part}"] = round(float(np.mean(values)), 4)
    return out


def _centroid_cosine(a: list[Profiled], b: list[Profiled], mu: np.ndarray) -> np.ndarray:
    ca = np.stack([p.profile.centroid - mu for p in a])
    cb = np.stack([p.profile.centroid - mu for p in b])
    ca /= np.linalg.norm(ca, axis=1, keepdims=True)
    cb /= np.linalg.norm(cb, axis=1, keepdims=True)
    return ca @ cb.T


def resemblance_table(
    x: np.ndarray, pops: dict[str, list[Profiled]], tune: set[str]
) -> dict[str, dict[str, float]]:
    mu = x.mean(0)
    k = top_length(len(x))

    def tops(ps: list[Profiled]) -> list[set[int]]:
        s = x @ np.stack([p.profile.w for p in ps]).T
        return [set(np.argsort(-s[:, j])[:k].tolist()) for j in range(len(ps))]

    top_of = {pop: tops(ps) for pop, ps in pops.items()}

    def measures(a: str, b: str) -> dict[str, np.ndarray]:
        pa, pb = [p.profile for p in pops[a]], [p.profile for p in pops[b]]
        absolute = (on_positives(pa, pb) + on_positives(pb, pa).T) / 2
        overlap = np.array([[len(s & t) / k for t in top_of[b]] for s in top_of[a]])
        return {
            "relative (chosen)": resemblance(pa, pb),
            "absolute standardised": absolute,
            "weight cosine": weight_cosine(pa, pb),
            f"top-{k} overlap": overlap,
            "centroid cosine": _centroid_cosine(pops[a], pops[b], mu),
        }

    hits: dict[str, dict[str, list[bool]]] = {}
    pairs: dict[str, dict[str, list[tuple[bool, float]]]] = {}
    names = list(pops)
    for a in names:
        for b in names:
            if a == b:
                continue
            la = [p.visible.name for p in pops[a]]
            lb = [p.visible.name for p in pops[b]]
            for name, m in measures(a, b).items():
                for i, label in enumerate(la):
                    part = "tune" if label in tune else "held"
                    best = lb[int(np.argmax(m[i]))]
                    hits.setdefault(name, {}).setdefault(part, []).append(best == label)
                    if a < b:  # each unordered pair once
                        for j, other in enumerate(lb):
                            both = label in tune and other in tune
                            neither = label not in tune and other not in tune
                            key = "tune" if both else "held" if neither else "mixed"
                            store = pairs.setdefault(name, {}).setdefault(key, [])
                            store.append((label == other, float(m[i, j])))
    out: dict[str, dict[str, float]] = {}
    for name in hits:
        row = out[name] = {}
        for part in ("tune", "held"):
            row[f"top-1 {part}"] = round(float(np.mean(hits[name][part])), 4)
            same, value = zip(*pairs[name][part], strict=True)
            row[f"pair AP {part}"] = round(float(average_precision_score(same, value)), 4)
        if name.startswith("relative"):
            every = [p for part in pairs[name].values() for p in part]
            same_v = [v for s, v in every if s]
            other_v = [v for s, v in every if not s]
            row["same-label pairs >= RELATED"] = round(
                float(np.mean(np.array(same_v) >= RELATED)), 4
            )
            row["other pairs >= RELATED"] = round(float(np.mean(np.array(other_v) >= RELATED)), 4)
            row["same-label median"] = round(float(np.median(same_v)), 3)
    return out


def communities_check(home: furet.Furet, pops: dict[str, list[Teacher]]) -> dict[str, object]:
    label_of = {t.user: t.label for ts in pops.values() for t in ts}
    right, firsts = 0, []
    for ts in pops.values():
        for t in ts:
            users = Communities(home, t.user_id).of_user().users
            first = users[0].name if users else None
            right += first is not None and label_of.get(first) == t.label
            firsts.append((t.user, first))
    total = sum(len(ts) for ts in pops.values())
    wrong = [(u, f) for u, f in firsts if f is None or label_of.get(f) != label_of[u]]
    return {"users": total, "first_neighbour_same_label": round(right / total, 4), "wrong": wrong}


def _markdown(title: str, rows: dict[str, dict[str, float]]) -> str:
    cols = list(next(iter(rows.values())))
    lines = [f"### {title}", "", "| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row.get(c, '')}" for c in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--home", type=Path, default=None, help="default: a temporary folder")
    ap.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.home or Path(tmp) / "home"
        home = furet.open(root, Settings(home=root))
        t0 = time.perf_counter()
        col = home.ensure_collection("flowers", "lite0")
        col.ingest([args.data / "images"])
        truth = item_labels(col, args.data / "labels.csv")
        labels = sorted(set(truth.values()))
        tune = tuning_labels(labels)
        curator = account(home, "curator", GROUPS)
        a = teach_labels(home, "flowers", truth, labels, prefix="a")
        result: dict[str, object] = {"tuning_labels": sorted(tune)}
        result["discovery"] = discovery_check(home, truth, a, curator)
        teachers = populations(home, truth, labels, a)
        m = col.matrix()
        x = m.vectors.astype(np.float32)
        y = np.array([truth[int(i)] for i in m.item_ids])
        catalog = ClassCatalog(home.catalog.sessions)
        profiles = {pop: _profiles(home, curator, ts) for pop, ts in teachers.items()}
        marks = {
            pop: [catalog.current_labels(t.class_id) for t in ts] for pop, ts in teachers.items()
        }
        result["calibration"] = calibration_table(x, m.item_ids, y, profiles, marks, labels, tune)
        result["resemblance"] = resemblance_table(x, profiles, tune)
        result["communities"] = communities_check(home, teachers)
        result["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    d = result["discovery"]
    assert isinstance(d, dict)
    print(f"tuning labels: {', '.join(sorted(tune))}\n")
    print(_markdown("1. Discovery top-1 per label (population A)", {"share": d["per_label"]}))
    print(
        f"\noverall {d['overall']}, on the {d['unmarked_items']} items no teacher marked "
        f"{d['unmarked']}; {d['ms_per_item']} ms an item\n"
    )
    print(_markdown("2. Calibration across classes: image top-1", result["calibration"]))  # type: ignore[arg-type]
    print()
    print(_markdown("3. Resemblance between classes", result["resemblance"]))  # type: ignore[arg-type]
    c = result["communities"]
    assert isinstance(c, dict)
    print(
        f"\n4. Communities: first neighbour taught the same label for "
        f"{c['first_neighbour_same_label']} of {c['users']} users; misses: {c['wrong']}"
    )
    print(f"\n{result['seconds']} s")


if __name__ == "__main__":
    main()
