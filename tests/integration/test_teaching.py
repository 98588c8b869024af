"""The simulated documentalist teaches real catalog classes through Learning."""

from __future__ import annotations

import furet
from furet.services.teaching import TeachingPlan, item_labels, teach
from tests.conftest import FLOWERS


def test_the_oracle_teaches_a_class_with_rounds_and_a_spot_check(flowers_home: furet.Furet) -> None:
    col = flowers_home.collection("flowers")
    truth = item_labels(col, FLOWERS / "labels.csv")
    assert len(truth) == 1360 and len(set(truth.values())) == 17
    learning = flowers_home.learning("teacher")
    plan = TeachingPlan(rounds=3, batch=15, spot_checks=1, spot_batch=30, seed=1)
    taught = teach(learning, "flowers", truth, "sunflower", plan=plan)
    assert taught.rounds == 4 and taught.shown == 45
    assert taught.shown_positive / taught.shown > 0.6  # search pages are mostly sunflowers
    labels = learning.classes.current_labels(taught.row.class_id)
    assert len(labels) == taught.marks + 1  # every shown item marked once, plus the seed
    marked_pos = {i for i, v in labels.items() if v == 1}
    assert marked_pos and all(truth[i] == "sunflower" for i in marked_pos)
    shown = learning.show("sunflower")
    assert shown.as_json()["spot_checked"] == 30
    latest = learning.classes.latest_version(taught.row.class_id)
    assert latest is not None and latest.n_pos == len(marked_pos)
