"""Typed settings, read once at the edge (``FURET_`` environment prefix)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("furet", appauthor=False))


class Settings(BaseSettings):
    """Everything configurable. ``home`` holds the catalog database and the vector segments."""

    model_config = SettingsConfigDict(env_prefix="FURET_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    #: SQLAlchemy URL of the catalog; default a SQLite file in ``home``.
    database_url: str | None = None
    #: The space of a collection ingested without ``--model``: lite0, power-normalised
    #: (``furet.embedders.power``, chosen by benchmarks/learning.py).
    default_model: str = "lite0-pn"
    model_dir: Path | None = None
    device: str = "cpu"
    #: Images with more pixels than this are refused (decompression bombs).
    max_image_pixels: int = 89_478_485
    #: Pixels of all the images of one request together (a request over it gets 413).
    max_request_pixels: int = 120_000_000
    #: Pixels being decoded at once in one process (requests beyond it wait, then get 503).
    max_decode_pixels: int = 180_000_000
    #: Uploads larger than this many bytes are refused.
    max_upload_bytes: int = 20 * 1024 * 1024
    #: Images per inference call; small batches stay in cache (lite0 on a CPU: 1-8 is best).
    batch_size: int = 8
    decode_workers: int = 2
    thumbnail_size: int = 256
    #: Items written per segment (and per catalog commit) during ingestion.
    segment_items: int = 256
    #: Seconds between keyframes inside a long video shot (besides each shot's middle frame).
    frame_interval: float = 2.0
    #: How rounds and searches score a space: ``exact`` (float16 scan), ``int8`` (int8 first
    #: pass, float32 head), ``compressed`` (PCA-reduced int8 pass, exact re-rank of each
    #: ranking's candidates) or ``auto`` (int8 from 20k vectors on, compressed from 200k).
    scan: str = "auto"
    #: Where a space's full vectors live: ``memory`` (gathered), ``mapped`` (one memory-mapped
    #: file, see ``furet.vectors.mapped``) or ``auto`` (mapped from ``mapped_min_bytes`` on).
    matrix: Literal["auto", "memory", "mapped"] = "auto"
    mapped_min_bytes: int = Field(default=1 << 30, ge=0)
    #: How search by example finds neighbours: ``exact`` (the scan), ``faiss`` (an HNSW graph,
    #: candidates re-scored exactly) or ``auto`` (faiss from 50k items on).
    knn: Literal["auto", "exact", "faiss"] = "auto"
    #: Threads of one int8 pass; 0: the cores, shared among ``furet serve --workers``.
    scan_threads: int = 0
    #: Largest space (items) for which ingestion keeps an exact k-NN graph, over which rounds
    #: smooth their ranking by the marks (``furet.domain.propagation``); 0: no graph.
    graph_max_items: int = Field(default=200_000, ge=0)
    #: Rows a mass enrichment scores (and commits) at a time: the unit of its resumption.
    enrich_block_rows: int = Field(default=65_536, ge=1)

    #: Key signing the browser session cookie; default: generated once into ``home/session.key``.
    session_secret: str | None = None
    #: Send the session cookie only over HTTPS (set it when served behind TLS).
    cookie_secure: bool = False
    #: Seconds a browser session stays valid.
    session_max_age: int = 14 * 24 * 3600
    #: Requests per UTC day per account (all its keys and sessions), unless set per user.
    default_daily_quota: int = 10_000
    #: Unrevoked API keys a member may hold at once (administrators: no limit).
    max_keys_per_member: int = 10
    #: Origins (``https://host:port``) besides the server's own from which browser sessions may
    #: send unsafe requests (a reverse proxy that rewrites ``Host``).
    allowed_origins: list[str] = Field(default_factory=list)

    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'catalog.sqlite3'}"
