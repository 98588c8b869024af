"""The k-NN graph through the real chain: built by ingestion, updated incrementally by the next
one, used by rounds (smoothed ranking, query expansion), ignored when stale or too large."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import furet
from furet.domain.propagation import Propagation, build_graph, propagation_boost
from furet.services.knn_graph import GRAPH_FILE
from furet.services.learning import RoundSettings
from tests.conftest import FLOWERS, need


def _copy(dst: Path, label: str, files: slice) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted((need(FLOWERS) / "images" / label).glob("*.jpg"))[files]:
        shutil.copy(f, dst / f.name)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[furet.Furet, Path]:
    root = tmp_path_factory.mktemp("graph")
    _copy(root / "imgs" / "daisy", "daisy", slice(0, 20))
    _copy(root / "imgs" / "sunflower", "sunflower", slice(0, 20))
    f = furet.open(root / "home", furet.Settings(home=root / "home"))
    f.ensure_collection("g").ingest([root / "imgs"])
    return f, root


def test_ingestion_builds_then_updates_the_graph(home: tuple[furet.Furet, Path]) -> None:
    f, root = home
    col = f.collection("g")
    graph = col.graph()
    assert graph is not None and len(graph[0]) == 40
    assert (col.layout.space(col.model) / GRAPH_FILE).exists()
    _copy(root / "imgs" / "pansy", "pansy", slice(0, 10))
    col.ingest([root / "imgs"])
    m = col.matrix()
    g = col.graph()
    assert g is not None and len(g[0]) == len(m) == 50
    # The incremental update equals a build from scratch (same neighbour sets).
    want = build_graph(m.vectors, k=g[0].k)
    same = [
        set(a.tolist()) == set(b.tolist())
        for a, b in zip(g[0].neighbours, want.neighbours, strict=True)
    ]
    assert all(same)


def test_rounds_are_smoothed_and_show_the_score_that_ranked_them(
    home: tuple[furet.Furet, Path],
) -> None:
    f, _ = home
    col = f.collection("g")
    learning = f.learning("alice")
    infos = f.catalog.item_infos(col.matrix().item_ids.tolist())
    daisies = sorted(i for i, info in infos.items() if "/daisy/" in info.path)
    others = sorted(i for i, info in infos.items() if "/daisy/" not in info.path)
    cls = learning.create("daisy", "g", from_items=[daisies[0]])
    # The seed alone: fitted with its graph neighbours (query expansion), counted as 1 mark.
    seed_only = learning.round(cls, RoundSettings("most_useful", 8, seed=0))
    assert (seed_only.n_pos, seed_only.n_neg) == (1, 0) and seed_only.n_weak > 0
    assert sum(p.item_id in daisies for p in seed_only.page) >= 6
    learning.label(cls, positives=daisies[1:4], negatives=others[:3])
    r = learning.round(cls, RoundSettings("most_useful", 8, seed=0))
    assert (r.n_pos, r.n_neg) == (4, 3)
    m = col.matrix()
    graph = col.graph()
    assert graph is not None
    labelled = np.zeros(len(m), np.int8)
    labelled[m.rows_of(daisies[:4])] = 1
    labelled[m.rows_of(others[:3])] = -1
    boost = propagation_boost(labelled, graph[0], Propagation(), graph[1])
    assert np.abs(boost).max() > 0
    rows = m.rows_of([p.item_id for p in r.page])
    latest = learning.classes.latest_version(cls.class_id)
    assert latest is not None
    vectors = m.vectors[rows].astype(np.float32)
    model_scores = vectors @ latest.weights.astype(np.float32) + latest.bias
    # ``score`` stays the model's decision value; ``propagation`` is what the graph added.
    np.testing.assert_allclose([p.score for p in r.page], model_scores, atol=1e-3)
    lift = np.array([p.propagation for p in r.page])
    np.testing.assert_allclose(lift, boost[rows], atol=1e-4)
    assert lift.any()
    assert seed_only.page[0].propagation is not None
    assert "propagation" in r.page[0].as_json()
    # Classify Random judges the model itself: not smoothed.
    spot = learning.round(cls, RoundSettings("classify_random", 5, seed=0))
    assert all(p.propagation is None for p in spot.page)


def test_a_stale_graph_is_not_used_and_a_large_space_gets_none(
    home: tuple[furet.Furet, Path], tmp_path: Path
) -> None:
    f, _ = home
    col = f.collection("g")
    path = col.layout.space(col.model) / GRAPH_FILE
    saved = path.read_bytes()
    try:
        path.write_bytes(b"torn")
        fresh = furet.open(f.settings.home, f.settings).collection("g")
        assert fresh.graph() is None
        learning = f.learning("bob")
        m = fresh.matrix()
        cls = learning.create("any", "g", from_items=[int(m.item_ids[0])])
        assert len(learning.round(cls, RoundSettings("ambiguous", 5, seed=0)).page) == 5
    finally:
        path.write_bytes(saved)
    root = tmp_path / "big"
    _copy(root / "imgs", "tulip", slice(0, 6))
    settings = furet.Settings(home=root / "home", graph_max_items=5)
    report = furet.open(root / "home", settings).ensure_collection("t").ingest([root / "imgs"])
    assert report.graph_notes and "5" in report.graph_notes[0][1]
    assert furet.open(root / "home", settings).collection("t").graph() is None
