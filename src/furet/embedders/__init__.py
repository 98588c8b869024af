"""Embedders: pretrained networks that turn images (and texts) into vectors."""

from furet.embedders.base import Embedder, EmbedderSpec
from furet.embedders.registry import create_embedder, get_spec, list_embedders, register_embedder

__all__ = [
    "Embedder",
    "EmbedderSpec",
    "create_embedder",
    "get_spec",
    "list_embedders",
    "register_embedder",
]
