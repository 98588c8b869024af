"""`furet evaluate`: the simulated-user protocol of DESIGN.md §6 on an ingested collection."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from furet.domain.propagation import build_graph
from furet.domain.simulation import SimulationResult, simulate
from furet.errors import InvalidInputError
from furet.vectors.factory import create_index

if TYPE_CHECKING:
    from furet.library import Collection


def read_labels(
    labels_csv: Path, known_paths: list[str], root: Path | None = None
) -> dict[str, str]:
    """Map catalog paths to labels from a ``path,label`` CSV.

    CSV paths are relative to ``root`` (default: the CSV's own folder); when that does not
    match, a CSV path matches the catalog path that ends with it.
    """
    if not labels_csv.is_file():
        raise InvalidInputError(f"{labels_csv} is not a file")
    with open(labels_csv, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise InvalidInputError(f"{labels_csv} needs a header line 'path,label'")
        rows = [(r["path"], r["label"]) for r in reader]
    base = (root or labels_csv.parent).resolve()
    known = set(known_paths)
    by_suffix: dict[str, str] = {}
    for p in known_paths:
        parts = Path(p).parts
        for i in range(1, len(parts)):
            by_suffix.setdefault("/".join(parts[i:]), p)
    out: dict[str, str] = {}
    for rel, label in rows:
        direct = str((base / rel).resolve())
        if direct in known:
            out[direct] = label
        elif rel.strip("/") in by_suffix:
            out[by_suffix[rel.strip("/")]] = label
    if not out:
        raise InvalidInputError(
            f"no path of {labels_csv} matches an item of the collection; paths must be "
            "relative to the ingested folder (or give --root)"
        )
    return out


def labelled_rows(
    col: Collection, labels_csv: Path, root: Path | None = None
) -> tuple[np.ndarray, list[str]]:
    """Rows of ``col.matrix()`` that ``labels_csv`` labels (in order) and their labels."""
    m = col.matrix()
    infos = col.home.catalog.item_infos(m.item_ids.tolist())
    paths = [infos[int(i)].path for i in m.item_ids]
    labels = read_labels(labels_csv, paths, root)
    rows = np.array([i for i, p in enumerate(paths) if p in labels], dtype=np.int64)
    return rows, [labels[paths[i]] for i in rows]


def evaluate(
    col: Collection,
    labels_csv: Path,
    *,
    rounds: int = 5,
    batch: int = 15,
    mode: str = "search",
    seeds_per_class: int = 3,
    seed: int = 0,
    root: Path | None = None,
    test_fraction: float = 0.0,
    classes: list[str] | None = None,
    propagation: bool = True,
    scan: str = "exact",
) -> tuple[SimulationResult, int]:
    """Run the simulated user on the labelled items; returns the result and the item count.

    ``test_fraction``: a held-out share of each label, never shown (``test_ap``,
    ``marks_to_ap``); ``classes``: evaluate these labels only (tune on some, report on others).
    ``propagation``: as the service does where the space has a k-NN graph, smooth each round's
    ranking over the graph of the labelled items (False: the model alone). ``scan``: which
    index scores the rounds (``furet.vectors.factory``; ``exact`` is the reference)."""
    m = col.matrix()
    rows, y = labelled_rows(col, labels_csv, root)
    vectors = np.ascontiguousarray(m.vectors[rows])
    index = create_index(vectors, scan)
    have = col.graph() if propagation else None
    # Every item labelled (rows in order): the collection's own graph, else the labelled ones'.
    graph = None if have is None else have[0] if len(rows) == len(m) else build_graph(vectors)
    result = simulate(
        vectors,
        y,
        rounds=rounds,
        batch=batch,
        mode=mode,
        seeds_per_class=seeds_per_class,
        seed=seed,
        scorer=lambda model: index.scores(model.w, model.b),
        test_fraction=test_fraction,
        classes=classes,
        graph=graph,
    )
    return result, len(rows)
