"""Registry of embedders by name (after timm's ``register_model`` / ``create_model``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from furet.embedders.base import Embedder, EmbedderSpec
from furet.errors import NotFoundError, RegistryError

#: A builder makes an embedder from an optional local weights path and a device name.
Builder = Callable[[Path | None, str], Embedder]

_SPECS: dict[str, EmbedderSpec] = {}
_BUILDERS: dict[str, Builder] = {}


def register_embedder(spec: EmbedderSpec) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` under ``spec.name``; a duplicate name raises."""

    def wrap(builder: Builder) -> Builder:
        if spec.name in _SPECS:
            raise RegistryError(f"embedder {spec.name!r} is already registered")
        _SPECS[spec.name] = spec
        _BUILDERS[spec.name] = builder
        return builder

    return wrap


def _load_builtin() -> None:
    # Importing the modules runs their @register_embedder decorators. The Hugging Face ones
    # import transformers only inside their builders, so listing models stays fast.
    from furet.embedders import clip, dinov2, efficientnet_lite, mclip  # noqa: F401


def list_embedders() -> list[EmbedderSpec]:
    _load_builtin()
    return [_SPECS[k] for k in sorted(_SPECS)]


def get_spec(name: str) -> EmbedderSpec:
    _load_builtin()
    try:
        return _SPECS[name]
    except KeyError:
        known = ", ".join(sorted(_SPECS))
        raise NotFoundError(f"unknown model {name!r}; known models: {known}") from None


_CACHE: dict[tuple[str, str, str], Embedder] = {}


def create_embedder(name: str, model_path: Path | None = None, device: str = "cpu") -> Embedder:
    """Build (once per process) the embedder registered as ``name`` on ``device``.

    The device is checked before any weights load, the same way for every embedder: asking for
    CUDA where torch has none raises ``InvalidInputError``.
    """
    from furet.embedders.device import resolve_device  # imports torch: not at listing time

    get_spec(name)
    device = str(resolve_device(device))
    key = (name, str(model_path or ""), device)
    if key not in _CACHE:
        _CACHE[key] = _BUILDERS[name](model_path, device)
    return _CACHE[key]
