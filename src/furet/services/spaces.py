"""Re-embedding a collection in another space, from its original files (no re-ingestion)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import groupby
from pathlib import Path

import numpy as np

from furet.catalog.repository import Catalog, ItemInfo
from furet.embedders import get_spec
from furet.embedders.base import Embedder
from furet.errors import FuretError
from furet.media.images import decode_image
from furet.media.video import frames_at
from furet.services.ingest import ProgressFn, reconcile
from furet.services.layout import CollectionLayout
from furet.vectors.segments import SegmentStore


def _sources(items: list[ItemInfo], max_pixels: int, side: int) -> Iterator[tuple[int, object]]:
    """``(item_id, PIL image or None)`` for every item, decoding each file once."""
    for path, group in groupby(items, key=lambda i: i.path):
        members = list(group)
        try:
            if members[0].kind == "keyframe":
                frames = frames_at(Path(path), [m.video_time or 0.0 for m in members], 2 * side)
                yield from zip((m.item_id for m in members), frames, strict=True)
            else:
                image = decode_image(Path(path), max_pixels, side).image
                yield from ((m.item_id, image) for m in members)
        except (FuretError, OSError):
            # The file changed or vanished since ingestion: the next ingest will redo it.
            yield from ((m.item_id, None) for m in members)


def reembed(
    catalog: Catalog,
    layout: CollectionLayout,
    collection_id: int,
    space: str,
    make_embedder: Callable[[], Embedder],
    *,
    max_pixels: int,
    batch_size: int = 32,
    segment_items: int = 256,
    progress: ProgressFn | None = None,
) -> int:
    """Give every item of the collection a vector in ``space``; returns the count.

    ``make_embedder`` builds the space's embedder, called only when some item needs a vector:
    a complete space needs no weights.
    """
    done = 0
    with layout.writer_lock():
        todo = catalog.items_without_space(collection_id, space)
        # Weights first: a space whose embedder cannot load leaves no folder behind.
        embedder = make_embedder() if todo else None
        dim = embedder.spec.dim if embedder else get_spec(space).dim
        store = SegmentStore(layout.space(space), dim)
        reconcile(catalog, collection_id, space, store)
        if embedder is None:
            return 0
        side = round(embedder.spec.input_size * 256 / 224)
        ids: list[int] = []
        pixels: list[np.ndarray] = []
        vectors: list[np.ndarray] = []

        def flush(final: bool) -> None:
            nonlocal done
            if pixels and (final or len(pixels) >= batch_size):
                vectors.append(embedder.embed_batch(np.stack(pixels)))
                pixels.clear()
            if ids and (final or len(ids) >= segment_items) and not pixels:
                segment = store.write(np.asarray(ids, np.int64), np.concatenate(vectors))
                catalog.commit_embeddings(space, segment, ids)
                done += len(ids)
                ids.clear()
                vectors.clear()

        for n, (item_id, image) in enumerate(_sources(todo, max_pixels, side), 1):
            if image is not None:
                ids.append(item_id)
                pixels.append(embedder.preprocess(image))  # type: ignore[arg-type]
                flush(False)
            if progress:
                progress(n, len(todo))
        flush(True)
    return done
