"""Several embedding spaces per collection, text search, re-embedding without re-ingesting."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import furet
from furet.errors import InvalidInputError, NotFoundError
from furet.services.learning import RoundSettings
from tests.conftest import FLOWERS, VIDEOS, need
from tests.unit.test_hf_embedders import build_tiny_models


@pytest.fixture
def home_two_spaces(tmp_path: Path) -> tuple[furet.Furet, Path]:
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for f in sorted((need(FLOWERS) / "images" / "iris").glob("*.jpg"))[:6]:
        shutil.copy(f, imgs / f.name)
    shutil.copy(need(VIDEOS) / "friday.mp4", imgs / "friday.mp4")
    models = build_tiny_models(tmp_path / "models")
    settings = furet.Settings(home=tmp_path / "home", model_dir=models)
    home = furet.open(settings=settings)
    home.ensure_collection("c").ingest([imgs])
    return home, imgs


def test_add_space_reembeds_everything_once(home_two_spaces: tuple[furet.Furet, Path]) -> None:
    home, imgs = home_two_spaces
    col = home.collection("c")
    n = col.info().items
    assert n > 6  # images + keyframes
    assert col.add_space("clip-vit-b32") == n
    assert col.spaces() == [col.model, "clip-vit-b32"] and col.model == "lite0-pn"
    clip = col.matrix("clip-vit-b32")
    assert sorted(clip.item_ids) == sorted(col.matrix().item_ids)
    np.testing.assert_allclose(
        np.linalg.norm(clip.vectors.astype(np.float32), axis=1), 1, atol=2e-3
    )
    assert col.add_space("clip-vit-b32") == 0  # nothing left to do

    # A changed file is re-embedded in every space by the next ingest.
    changed = sorted(imgs.glob("*.jpg"))[0]
    item = home.catalog.item_by_path(col.collection_id, str(changed.resolve()))
    before = col.vectors_of(item, "clip-vit-b32")
    Image.open(FLOWERS / "images" / "tulip" / "image_0561.jpg").save(changed, "JPEG")
    col.ingest([imgs])
    assert home.catalog.item_by_path(col.collection_id, str(changed.resolve())) == item
    assert len(col.matrix("clip-vit-b32")) == n
    assert not np.allclose(col.vectors_of(item, "clip-vit-b32"), before, atol=1e-3)


def test_text_search_and_classes_per_space(home_two_spaces: tuple[furet.Furet, Path]) -> None:
    home, _ = home_two_spaces
    col = home.collection("c")
    with pytest.raises(NotFoundError, match="furet embed"):
        col.search(text="a flower", space="clip-vit-b32")
    col.add_space("clip-vit-b32")
    hits = col.search(text="a purple iris", space="clip-vit-b32", k=3)
    assert len(hits) == 3 and all(-1 <= h.score <= 1 for h in hits)
    with pytest.raises(InvalidInputError, match="no text tower"):
        col.search(text="a purple iris")
    learning = home.learning()
    first = int(col.matrix().item_ids[0])
    learning.create("x", "c", from_items=[first], space="clip-vit-b32")
    r = learning.round("x", RoundSettings("search", 4, seed=0))
    assert len(r.page) == 4 and learning.show("x").space == "clip-vit-b32"
