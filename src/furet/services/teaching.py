"""A simulated documentalist teaching real classes through the real service (DESIGN.md §6).

`furet evaluate` runs the simulated-user protocol on bare arrays; this module drives the same
oracle through :class:`~furet.services.learning.Learning`, so that the classes it teaches are
ordinary catalog classes (labels, versions, spot checks), ready to be enriched, shared and
discovered. Tests and benchmarks of those features start from classes taught here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from furet.errors import InvalidInputError
from furet.services.evaluation import read_labels
from furet.services.learning import Marks, RoundSettings

if TYPE_CHECKING:
    from furet.catalog.schema import ClassRow
    from furet.library import Collection
    from furet.services.learning import Learning


@dataclass(frozen=True)
class TeachingPlan:
    """How the oracle teaches one class: ``rounds`` pages of ``batch`` items in ``mode``, then
    ``spot_checks`` pages of Classify Random Images marked as well (the precision estimate)."""

    rounds: int = 5
    batch: int = 15
    mode: str = "search"
    spot_checks: int = 1
    spot_batch: int = 30
    seed: int = 0


@dataclass
class TaughtClass:
    row: ClassRow
    label: str
    marks: int = 0
    #: Rounds run (search/mode rounds, then spot checks).
    rounds: int = 0
    shown_positive: int = 0
    shown: int = field(default=0)


def item_labels(col: Collection, labels_csv: Path, root: Path | None = None) -> dict[int, str]:
    """The label of every item of ``col`` that ``labels_csv`` names (``path,label`` CSV)."""
    ids = [int(i) for i in col.matrix().item_ids]
    infos = col.home.catalog.item_infos(ids)
    by_path = {infos[i].path: i for i in ids if i in infos}
    labels = read_labels(labels_csv, list(by_path), root)
    return {by_path[p]: label for p, label in labels.items()}


def teach(
    learning: Learning,
    collection: str,
    truth: Mapping[int, str],
    label: str,
    *,
    name: str | None = None,
    plan: TeachingPlan | None = None,
) -> TaughtClass:
    """Create the class ``name`` (default: ``label``) from one seed image of ``label`` (drawn
    with ``plan.seed``) and run the oracle: every shown item is marked positive iff its label is
    ``label`` (items without a label are marked negative)."""
    plan = plan or TeachingPlan()
    members = sorted(i for i, v in truth.items() if v == label)
    if not members:
        raise InvalidInputError(f"no item has the label {label!r}")
    rng = np.random.default_rng(plan.seed)
    seed_item = int(members[int(rng.integers(len(members)))])
    row = learning.create(name or label, collection, from_items=[seed_item])
    taught = TaughtClass(row, label)
    steps = [(plan.mode, plan.batch)] * plan.rounds
    steps += [("classify_random", plan.spot_batch)] * plan.spot_checks
    for step, (mode, size) in enumerate(steps):
        settings = RoundSettings(mode=mode, page_size=size, seed=plan.seed * 1000 + step)
        page = learning.round(row, settings).page
        pos = [p.item_id for p in page if truth.get(p.item_id) == label]
        neg = [p.item_id for p in page if truth.get(p.item_id) != label]
        if pos or neg:
            learning.mark(row, Marks(positive=pos, negative=neg))
        taught.rounds += 1
        taught.marks += len(pos) + len(neg)
        if mode != "classify_random":
            taught.shown += len(page)
            taught.shown_positive += len(pos)
    # The model of the final marks, so that the class's latest version has seen all of them.
    learning.round(row, RoundSettings(mode=plan.mode, page_size=1, seed=plan.seed))
    return taught
