"""Incremental ingestion, pruning, bad files and the error list, on a small real-image copy."""

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import furet
from tests.conftest import FLOWERS, need


@pytest.fixture
def images(tmp_path: Path) -> Path:
    src = sorted((need(FLOWERS) / "images" / "daisy").glob("*.jpg"))[:6]
    dst = tmp_path / "imgs" / "sub"
    dst.mkdir(parents=True)
    for f in src:
        shutil.copy(f, dst / f.name)
    return tmp_path / "imgs"


def add_bad_files(folder: Path, good: Path) -> None:
    (folder / "zero.jpg").write_bytes(b"")
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "text.png").write_text("not an image at all")
    Image.new("1", (10_000, 9_000)).save(folder / "bomb.png")  # 90 Mpx, a few KB
    os.symlink(folder / "does-not-exist.jpg", folder / "dangling.jpg")


def test_incremental_changed_and_pruned(home: furet.Furet, images: Path) -> None:
    col = home.ensure_collection("c")
    first = col.ingest([images])
    assert (first.added, first.items_added) == (6, 6)
    again = col.ingest([images])
    assert (again.unchanged, again.items_added) == (6, 0)

    files = sorted(images.rglob("*.jpg"))
    changed, removed = files[0], files[1]
    old_id = home.catalog.item_by_path(col.collection_id, str(changed.resolve()))
    old_vec = col.vectors_of(old_id)
    Image.open(FLOWERS / "images" / "tulip" / "image_0561.jpg").save(changed, "JPEG")
    removed.unlink()
    third = col.ingest([images], prune=True)
    assert (third.updated, third.removed, third.unchanged) == (1, 1, 4)
    assert home.catalog.item_by_path(col.collection_id, str(changed.resolve())) == old_id
    assert float(col.vectors_of(old_id)[0] @ old_vec[0]) < 0.95  # re-embedded
    m = col.matrix()
    assert len(m) == 5 and len(np.unique(m.item_ids)) == 5
    assert col.info().items == 5


def test_bad_files_are_skipped_reported_and_listed(home: furet.Furet, images: Path) -> None:
    add_bad_files(images, next(images.rglob("*.jpg")))
    col = home.ensure_collection("c")
    report = col.ingest([images])
    reasons = dict((Path(p).name, r) for p, r in report.failed)
    assert set(reasons) == {"zero.jpg", "truncated.jpg", "text.png", "bomb.png", "dangling.jpg"}
    assert "empty" in reasons["zero.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "not an image" in reasons["text.png"]
    assert "over the limit" in reasons["bomb.png"]
    assert "unreadable" in reasons["dangling.jpg"]
    assert report.items_added == 6
    assert {Path(p).name for p, _ in col.errors()} == set(reasons)
    # Unchanged bad files are not retried.
    assert col.ingest([images]).failed == []


def test_pixel_limit_is_configurable(tmp_path: Path, images: Path) -> None:
    settings = furet.Settings(home=tmp_path / "h", max_image_pixels=1000)
    col = furet.open(settings=settings).ensure_collection("c")
    report = col.ingest([images])
    assert report.items_added == 0 and len(report.failed) == 6


def test_upload_search(home: furet.Furet, images: Path) -> None:
    col = home.ensure_collection("c")
    col.ingest([images])
    f = next(images.rglob("*.jpg"))
    buf = io.BytesIO()
    Image.open(f).save(buf, "PNG")
    hits = col.search(image=buf.getvalue(), k=3)
    assert hits[0].path == str(f.resolve())
