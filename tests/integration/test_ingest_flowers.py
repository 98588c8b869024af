"""Real data, real model: oxford-flowers17 ingested with lite0."""

import numpy as np

import furet
from tests.conftest import FLOWERS, flowers_labels


def test_all_images_ingested(flowers_home: furet.Furet) -> None:
    info = flowers_home.collection("flowers").info()
    assert (info.items, info.files, info.errors) == (1360, 1360, 0)


def test_same_label_precision_at_10(flowers_home: furet.Furet) -> None:
    col = flowers_home.collection("flowers")
    labels = flowers_labels()
    m = col.matrix()
    infos = flowers_home.catalog.item_infos(m.item_ids.tolist())
    y = np.array([labels[infos[int(i)].path] for i in m.item_ids])
    x = m.vectors.astype(np.float32)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argpartition(-sims, 10, axis=1)[:, :10]
    precision = float((y[top] == y[:, None]).mean())
    assert precision >= 0.78, precision


def test_search_by_item_excludes_the_query(flowers_home: furet.Furet) -> None:
    col = flowers_home.collection("flowers")
    first = int(col.matrix().item_ids[0])
    hits = col.search(item_id=first, k=10)
    assert len(hits) == 10 and first not in [h.item_id for h in hits]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_by_image_finds_itself_first(flowers_home: furet.Furet) -> None:
    path = FLOWERS / "images" / "sunflower" / "image_0721.jpg"
    hits = flowers_home.collection("flowers").search(image=path, k=5)
    assert hits[0].path == str(path.resolve()) and hits[0].score > 0.99


def test_rerun_does_no_work(flowers_home: furet.Furet) -> None:
    report = flowers_home.collection("flowers").ingest([FLOWERS / "images"])
    assert report.unchanged == 1360
    assert report.added == report.updated == report.items_added == 0
