"""Local Hugging Face model folders: where they are, what to fetch when they are missing, and the
image preprocessing their ``preprocessor_config.json`` prescribes.

Build machines have no internet, so nothing here downloads: a model folder is looked up, in
order, at the explicit ``model_path``, at ``$FURET_MODEL_DIR/<furet name>/``, then in the
Hugging Face cache (``HF_HUB_CACHE``, ``HF_HOME/hub`` or ``~/.cache/huggingface/hub``) by hub
repo id. A folder qualifies when it holds a ``config.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from furet.embedders.base import EmbedderSpec
from furet.errors import FuretError, ModelUnavailableError

log = logging.getLogger(__name__)

MODEL_DIR_ENV = "FURET_MODEL_DIR"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class HubWeights:
    """A furet model name tied to the hub repository its weights come from.

    ``include`` lists the file patterns worth fetching: hub repos often carry the same weights
    three times (PyTorch, TensorFlow, Flax), and only one copy is needed.
    """

    name: str
    repo_id: str
    include: tuple[str, ...] = ("*.json", "*.txt", "*.safetensors")


def hf_cache_dir() -> Path:
    """The hub cache folder, read from the environment at call time (not at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def hf_cache_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of ``repo_id`` holding a ``config.json``, or None."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=str(hf_cache_dir()))
    if isinstance(found, str) and Path(found).is_file():
        return Path(found).parent
    return None


def default_local_dir(name: str) -> str:
    """Where the download instructions tell the user to put model ``name``."""
    root = os.environ.get(MODEL_DIR_ENV)
    return str(Path(root) / name) if root else f"${MODEL_DIR_ENV}/{name}"


def download_instructions(weights: HubWeights) -> str:
    """Shell commands fetching ``weights`` into ``$FURET_MODEL_DIR/<name>`` on an online machine."""
    target = default_local_dir(weights.name)
    quoted = target if target.startswith("$") else shlex.quote(target)
    # One --include per pattern: hf (typer) reads further bare words as file names.
    includes = " ".join(f'--include "{p}"' for p in weights.include)
    allow = ", ".join(repr(p) for p in weights.include)
    return (
        f"    pip install -U huggingface_hub\n"
        f"    hf download {weights.repo_id} {includes} --local-dir {quoted}\n"
        f"  or, with any huggingface_hub version (older ones have huggingface-cli, not hf):\n"
        f'    python -c "from huggingface_hub import snapshot_download; '
        f"snapshot_download('{weights.repo_id}', local_dir='{target}', "
        f'allow_patterns=[{allow}])"\n'
        f"  then copy the folder to this machine and set {MODEL_DIR_ENV} to its parent, or pass "
        f"--model-path {target}"
    )


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def find_model_dir(weights: HubWeights, model_path: Path | None = None) -> Path | None:
    """The first folder holding ``weights``: ``model_path`` (or its ``<name>`` sub-folder),
    ``$FURET_MODEL_DIR/<name>``, then the hub cache; None when none has it.

    An explicit ``model_path`` is authoritative: when given, nothing else is searched.
    """
    if model_path is not None:
        model_path = Path(model_path).expanduser()
        for candidate in (model_path, model_path / weights.name):
            if _is_model_dir(candidate):
                return candidate
        return None
    root = os.environ.get(MODEL_DIR_ENV)
    if root and _is_model_dir(Path(root).expanduser() / weights.name):
        return Path(root).expanduser() / weights.name
    return hf_cache_snapshot(weights.repo_id)


def searched_places(weights: HubWeights, model_path: Path | None = None) -> list[str]:
    """Human-readable list of the places ``find_model_dir`` looks in, for error messages."""
    if model_path is not None:
        return [str(model_path), str(Path(model_path) / weights.name)]
    root = os.environ.get(MODEL_DIR_ENV)
    places = [str(Path(root) / weights.name) if root else f"${MODEL_DIR_ENV} (not set)"]
    places.append(f"Hugging Face cache {hf_cache_dir()} (repo {weights.repo_id})")
    return places


def missing_model_error(
    weights: HubWeights, model_path: Path | None = None, detail: str = ""
) -> ModelUnavailableError:
    """The error for weights that are absent or unreadable; its message says what to fetch."""
    looked = "; ".join(searched_places(weights, model_path))
    reason = f" ({detail})" if detail else ""
    return ModelUnavailableError(
        f"the weights of model {weights.name!r} (Hugging Face repo {weights.repo_id}) were not "
        f"found or could not be loaded{reason}. Looked in: {looked}.\n"
        f"On a machine with internet access run:\n{download_instructions(weights)}"
    )


def locate_model_dir(weights: HubWeights, model_path: Path | None = None) -> Path:
    """``find_model_dir`` or a ``ModelUnavailableError`` naming the download to make."""
    found = find_model_dir(weights, model_path)
    if found is None:
        raise missing_model_error(weights, model_path)
    return found


def load_pretrained(
    model_class: Any, model_dir: Path, weights: HubWeights, model_path: Path | None = None
) -> Any:
    """``model_class.from_pretrained(model_dir)`` offline, refusing partial loads.

    transformers re-initialises missing or mis-shaped weights at random with only a log line;
    an embedder built so would give plausible-looking garbage, so that is an error here.
    """
    try:
        model, info = model_class.from_pretrained(
            model_dir, local_files_only=True, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise missing_model_error(weights, model_path, detail=str(exc)) from exc
    bad = [str(k) for k in (*info.get("missing_keys", ()), *info.get("mismatched_keys", ()))]
    if bad:
        raise missing_model_error(
            weights, model_path, detail=f"{model_dir} does not fit its config: {bad[:3]}"
        )
    return model


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; a corrupt file is a ``FuretError`` naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FuretError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise FuretError(f"{path} does not hold a JSON object")
    return data


@dataclass(frozen=True)
class ImageTransform:
    """Resize, centre crop and normalise, as a Hugging Face image processor does.

    ``mean``/``std`` are on the rescaled scale (pixels times ``rescale``, usually [0, 1]).
    Resizing goes through PIL on 8-bit images, like the processors' own PIL path.
    """

    shortest_edge: int | None
    resize_hw: tuple[int, int] | None
    crop: int | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    rescale: float = 1 / 255
    resample: int = int(Image.Resampling.BICUBIC)

    @property
    def size(self) -> int:
        """Side of the square network input."""
        if self.crop:
            return self.crop
        if self.resize_hw and self.resize_hw[0] == self.resize_hw[1]:
            return self.resize_hw[0]
        raise FuretError("the preprocessing does not produce square images")

    @property
    def pixel_mean(self) -> tuple[float, float, float]:
        """``mean`` on the [0, 255] pixel scale, as ``EmbedderSpec.mean`` expects."""
        m = tuple(v / self.rescale for v in self.mean)
        return (m[0], m[1], m[2])

    @property
    def pixel_std(self) -> tuple[float, float, float]:
        """``std`` on the [0, 255] pixel scale, as ``EmbedderSpec.std`` expects."""
        s = tuple(v / self.rescale for v in self.std)
        return (s[0], s[1], s[2])

    def __call__(self, image: Image.Image) -> np.ndarray:
        """One image -> ``(3, S, S) float32`` normalised network input."""
        image = image.convert("RGB")
        resample = Image.Resampling(self.resample)
        if self.shortest_edge:
            w, h = image.size
            short, long = (w, h) if w <= h else (h, w)
            # int() truncates, as transformers' get_resize_output_image_size does.
            new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
            new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
            image = image.resize((new_w, new_h), resample)
        elif self.resize_hw:
            image = image.resize((self.resize_hw[1], self.resize_hw[0]), resample)
        if self.crop:
            w, h = image.size
            top, left = (h - self.crop) // 2, (w - self.crop) // 2
            image = image.crop((left, top, left + self.crop, top + self.crop))
        pixels = np.asarray(image, dtype=np.float32)
        scale = np.float32(self.rescale) / np.asarray(self.std, np.float32)
        shift = np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray((pixels * scale - shift).transpose(2, 0, 1))


def _side(value: Any, key: str) -> int | tuple[int, int] | None:
    """An HF ``size``/``crop_size`` entry -> ``shortest_edge`` int, ``(h, w)``, or None."""
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, dict):
        if "shortest_edge" in value:
            return int(value["shortest_edge"])
        if "height" in value and "width" in value:
            return (int(value["height"]), int(value["width"]))
    raise FuretError(f"unsupported {key} {value!r} in preprocessor_config.json")


def _triple(value: Any, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if value is None:
        return default
    if isinstance(value, int | float):
        return (float(value),) * 3
    a, b, c = (float(v) for v in value)
    return (a, b, c)


def read_image_transform(model_dir: Path, default: ImageTransform) -> ImageTransform:
    """The preprocessing of ``model_dir/preprocessor_config.json``, ``default`` where absent.

    Keys read: ``do_resize``/``size``, ``do_center_crop``/``crop_size``, ``do_normalize``/
    ``image_mean``/``image_std``, ``do_rescale``/``rescale_factor``, ``resample``.
    """
    path = model_dir / "preprocessor_config.json"
    if not path.is_file():
        return default
    cfg = read_json(path)
    shortest, resize_hw = default.shortest_edge, default.resize_hw
    if not cfg.get("do_resize", True):
        shortest, resize_hw = None, None
    elif "size" in cfg:
        size = _side(cfg["size"], "size")
        shortest, resize_hw = (size, None) if isinstance(size, int) else (None, size)
    crop = default.crop
    if not cfg.get("do_center_crop", True):
        crop = None
    elif "crop_size" in cfg:
        hw = _side(cfg["crop_size"], "crop_size")
        if not isinstance(hw, tuple) or hw[0] != hw[1]:
            raise FuretError(f"{path}: furet needs a square crop_size, got {cfg['crop_size']!r}")
        crop = hw[0]
    mean = _triple(cfg.get("image_mean"), default.mean)
    std = _triple(cfg.get("image_std"), default.std)
    if not cfg.get("do_normalize", True):
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    rescale = float(cfg.get("rescale_factor", default.rescale))
    if not cfg.get("do_rescale", True):
        rescale = 1.0
    transform = ImageTransform(
        shortest_edge=shortest,
        resize_hw=resize_hw,
        crop=crop,
        mean=mean,
        std=std,
        rescale=rescale,
        resample=int(cfg.get("resample", default.resample)),
    )
    transform.size  # noqa: B018 - fail at load time, not on the first image
    return transform


def folder_spec(
    spec: EmbedderSpec, dim: int, transform: ImageTransform, where: Path
) -> EmbedderSpec:
    """``spec`` with what the loaded folder says (dimension, input size, normalisation); a size
    other than the registered one is logged, not refused (tiny test models, custom heads)."""
    loaded = dataclasses.replace(
        spec,
        dim=int(dim),
        input_size=transform.size,
        mean=transform.pixel_mean,
        std=transform.pixel_std,
    )
    if loaded.dim != spec.dim:
        log.warning(
            "%s: folder %s holds %d-d weights, expected %d-d",
            spec.name,
            where,
            loaded.dim,
            spec.dim,
        )
    return loaded
