"""The EfficientNet-Lite weights are loaded right: the daisies of Oxford Flowers 17 are ImageNet
'daisy' for Lite0, Lite1 and Lite2; flip averaging is mirror-invariant."""

import numpy as np
import pytest
from PIL import Image

from furet.embedders import create_embedder, get_spec
from furet.embedders.efficientnet_lite import VARIANTS, load_network, weights_path
from furet.embedders.power import power_normalise
from furet.errors import FuretError
from tests.conftest import FLOWERS, need

DAISY = 985
NAMES = sorted(VARIANTS)


def _need_package(name: str) -> None:
    pytest.importorskip(VARIANTS[name].module, reason=f"{VARIANTS[name].package} not installed")


def _images(n: int) -> list[Image.Image]:
    x = np.random.default_rng(0).integers(0, 255, (n, 300, 200, 3), dtype=np.uint8)
    return [Image.fromarray(a) for a in x]


@pytest.mark.parametrize("name", NAMES)
def test_first_twenty_daisies_are_imagenet_daisy(name: str) -> None:
    _need_package(name)
    files = sorted((need(FLOWERS) / "images" / "daisy").glob("*.jpg"))[:20]
    emb = create_embedder(name)
    batch = np.stack([emb.preprocess(Image.open(f)) for f in files])
    top1 = emb.logits(batch).argmax(axis=1)  # type: ignore[attr-defined]
    assert (top1 == DAISY).sum() >= 18, top1


@pytest.mark.parametrize(
    "name", [*NAMES, *(f"{n}-flip" for n in NAMES), *(f"{n}-pn" for n in NAMES)]
)
def test_features_are_unit_1280_at_the_variant_side(name: str) -> None:
    _need_package(name.removesuffix("-flip").removesuffix("-pn"))
    emb = create_embedder(name)
    x = np.stack([emb.preprocess(im) for im in _images(2)])
    side = get_spec(name).input_size
    assert x.shape == (2, 3, side, side)
    v = emb.embed_batch(x)
    assert v.shape == (2, get_spec(name).dim) == (2, 1280)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_variants_scale_width_and_depth_but_not_stem_head_or_end_stages() -> None:
    assert [(v.size, v.spec.input_size) for v in VARIANTS.values()] == [
        (224, 224),
        (240, 240),
        (260, 260),
    ]
    lite2 = VARIANTS["lite2"].stages()
    assert [s[0] for s in lite2] == [1, 3, 3, 4, 4, 5, 1]
    assert [s[-1] for s in lite2] == [16, 24, 48, 88, 120, 208, 352]
    assert lite2[0][-2] == 32  # the stem stays at 32 channels
    assert [s[0] for s in VARIANTS["lite0"].stages()] == [1, 2, 2, 3, 3, 4, 1]


def test_another_variants_weights_are_refused() -> None:
    _need_package("lite0")
    with pytest.raises(FuretError, match=r"lite2 weights .* do not match"):
        load_network(VARIANTS["lite2"], weights_path(VARIANTS["lite0"]))


@pytest.mark.parametrize("name", ["lite0"])
def test_flip_averaging_is_mirror_invariant_and_differs_from_plain(name: str) -> None:
    _need_package(name)
    flip, plain = create_embedder(f"{name}-flip"), create_embedder(name)
    x = np.stack([flip.preprocess(im) for im in _images(3)])
    v = flip.embed_batch(x)
    np.testing.assert_allclose(flip.embed_batch(np.ascontiguousarray(x[..., ::-1])), v, atol=1e-5)
    cos = np.sum(v * plain.embed_batch(x), axis=1)
    assert np.all(cos < 0.9999) and np.all(cos > 0.5), cos


def test_power_normalised_space_is_the_signed_square_root_of_the_plain_one() -> None:
    _need_package("lite0")
    pn, plain = create_embedder("lite0-pn"), create_embedder("lite0")
    assert get_spec("lite0-pn").extra["base"] == "lite0"
    x = np.stack([pn.preprocess(im) for im in _images(3)])
    v, p = pn.embed_batch(x), plain.embed_batch(x)
    assert (p >= 0).all()  # ReLU6 then an average
    np.testing.assert_allclose(v, power_normalise(p), atol=1e-5)
    # Scale-free: applying it to the stored unit vectors gives the same space.
    np.testing.assert_allclose(power_normalise(3.0 * p), v, atol=1e-5)
    # The square undoes it (the features are non-negative).
    back = v**2 / np.linalg.norm(v**2, axis=1, keepdims=True)
    np.testing.assert_allclose(back, p, atol=1e-5)
    assert float(np.abs(v - p).max()) > 0.01  # a space of its own
