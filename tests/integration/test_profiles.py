"""Class profiles (services.profiles): built from the latest version, rebuilt when it changes,
never served stale for a class that took the id of a deleted one."""

from __future__ import annotations

import numpy as np

import furet
from furet.services.learning import Marks, RoundSettings
from furet.services.profiles import ProfileBuilder
from furet.services.sharing import Sharing
from furet.services.teaching import item_labels
from tests.conftest import FLOWERS


def test_profiles_follow_the_latest_version_and_the_class(flowers_home: furet.Furet) -> None:
    home = flowers_home
    col = home.collection("flowers")
    truth = item_labels(col, FLOWERS / "labels.csv")
    daisy = sorted(i for i, label in truth.items() if label == "daisy")
    iris = sorted(i for i, label in truth.items() if label == "iris")
    learning = home.learning("profile-tester")
    sharing = Sharing(home, learning.user_id)
    builder = ProfileBuilder(home)

    def built(class_id: int) -> tuple[int, np.ndarray, float]:
        visible = [v for v in sharing.visible() if v.class_id == class_id]
        (p,) = builder.profiles(visible).profiled
        return p.version, p.profile.centroid, p.profile.scale.std

    row = learning.create("profiled", "flowers", from_items=daisy[:3])
    assert builder.profiles([v for v in sharing.visible() if v.class_id == row.class_id]).untrained
    learning.round(row, RoundSettings(page_size=3))
    v1, c1, _ = built(row.class_id)
    assert v1 == 1 and np.allclose(c1, col.vectors_of(daisy[:3]).mean(axis=0), atol=1e-3)
    assert built(row.class_id)[0] == 1  # cached: the same version
    learning.mark(row, Marks(positive=daisy[3:8], negative=iris[:5]))
    learning.round(row, RoundSettings(page_size=3))
    v2, c2, _ = built(row.class_id)
    assert v2 == 2 and np.allclose(c2, col.vectors_of(daisy[:8]).mean(axis=0), atol=1e-3)

    learning.delete("profiled")
    again = learning.create("profiled", "flowers", from_items=iris[:3])
    learning.round(again, RoundSettings(page_size=3))
    learning.mark(again, Marks(positive=iris[3:8], negative=daisy[:5]))
    learning.round(again, RoundSettings(page_size=3))
    version, centroid, _ = built(again.class_id)  # whether or not SQLite gave the id again
    assert version == 2
    assert np.allclose(centroid, col.vectors_of(iris[:8]).mean(axis=0), atol=1e-3)
