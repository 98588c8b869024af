"""Shared fixtures: real data beside the clone (../shared/data), flowers ingested once."""

from __future__ import annotations

import csv
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import furet
from furet.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
FLOWERS = DATA / "oxford-flowers17"
VIDEOS = DATA / "mdn-cc0-videos"


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"test data {path} is absent (it lies beside the clone as ../shared/data in CI)"
        )
    return path


def flowers_labels() -> dict[str, str]:
    """Absolute image path -> label, from labels.csv."""
    root = need(FLOWERS)
    with open(root / "labels.csv", newline="") as f:
        return {str((root / r["path"]).resolve()): r["label"] for r in csv.DictReader(f)}


@pytest.fixture
def home(tmp_path: Path) -> furet.Furet:
    return furet.open(tmp_path / "home", Settings(home=tmp_path / "home"))


@pytest.fixture(scope="session")
def flowers_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[furet.Furet]:
    """A data home with oxford-flowers17 ingested once with the default model (lite0-pn; about
    a minute)."""
    need(FLOWERS)
    root = tmp_path_factory.mktemp("flowers-home")
    f = furet.open(root, Settings(home=root))
    f.ensure_collection("flowers").ingest([FLOWERS / "images"])
    yield f
