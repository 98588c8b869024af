"""The lite0 weights are loaded right: the daisies of Oxford Flowers 17 are ImageNet 'daisy'."""

import numpy as np
from PIL import Image

from furet.embedders import create_embedder, get_spec
from tests.conftest import FLOWERS, need

DAISY = 985


def test_first_twenty_daisies_are_imagenet_daisy() -> None:
    files = sorted((need(FLOWERS) / "images" / "daisy").glob("*.jpg"))[:20]
    emb = create_embedder("lite0")
    batch = np.stack([emb.preprocess(Image.open(f)) for f in files])
    top1 = emb.logits(batch).argmax(axis=1)  # type: ignore[attr-defined]
    assert (top1 == DAISY).sum() >= 18, top1


def test_features_are_unit_1280() -> None:
    emb = create_embedder("lite0")
    x = np.random.default_rng(0).integers(0, 255, (2, 300, 200, 3), dtype=np.uint8)
    v = emb.embed_batch(np.stack([emb.preprocess(Image.fromarray(a)) for a in x]))
    assert v.shape == (2, get_spec("lite0").dim) == (2, 1280)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
