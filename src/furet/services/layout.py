"""Where a collection's big data lives under the data home."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from furet.errors import FuretError


class CollectionLayout:
    """``home/collections/<id>/`` holds ``spaces/<model>/seg-*`` and ``thumbs/``."""

    def __init__(self, home: Path, collection_id: int):
        self.root = home / "collections" / str(collection_id)

    def space(self, model: str) -> Path:
        return self.root / "spaces" / model

    def thumbnail(self, item_id: int) -> Path:
        return self.root / "thumbs" / f"{item_id % 1000:03d}" / f"{item_id}.jpg"

    def disk_bytes(self) -> int:
        if not self.root.exists():
            return 0
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One writer per collection; a second ingestion fails fast with a clear message."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FuretError(
                    "another ingestion is writing to this collection; wait for it to finish"
                ) from None
            yield
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
