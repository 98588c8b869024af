"""Import and export of embeddings in clip-retrieval's layout.

A folder holds shards ``img_emb/img_emb_<N>.npy`` (``(n, dim)`` float16 or float32, one row per
image) and ``metadata/metadata_<N>.parquet`` (the same ``n`` rows: ``image_path``, optionally
``url`` and ``caption``), as ``clip-retrieval inference`` writes them. furet writes them the same
way, plus ``furet.json`` (the space's model name and dimension), which an import checks.

An import indexes the vectors of a collection embedded elsewhere (or a synthetic one) without
decoding an image: each row becomes an item whose file is ``image_path`` (status ``imported``,
no thumbnail until the file is ingested: the UI shows a placeholder, the item its ``url``).
Shards are read through memory maps and written ``IMPORT_SEGMENT`` rows a segment, each segment
committed in the catalog like an ingestion chunk, so a killed import resumes without duplicates:
paths the collection already has are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from furet.catalog.repository import Catalog, FileOutcome, ItemInfo, NewItem
from furet.errors import InvalidInputError
from furet.services.ingest import reconcile
from furet.services.layout import CollectionLayout
from furet.vectors.reading import read_block
from furet.vectors.segments import SegmentStore, VectorMatrix

#: Rows of one segment written by an import (ingestion's small segments suit decoding).
IMPORT_SEGMENT = 65_536
#: Rows of one exported shard.
EXPORT_SHARD = 1_000_000
MANIFEST = "furet.json"
_SHARD = re.compile(r"img_emb_(\d+)\.npy$")

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    collection: str
    model: str
    shards: int = 0
    rows: int = 0
    imported: int = 0
    skipped: int = 0  # paths the collection already had
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Shard:
    index: int
    vectors: Path
    metadata: Path


def shards(folder: Path) -> list[Shard]:
    """The folder's shards in order; a clear error when it is not clip-retrieval's layout."""
    emb = folder / "img_emb"
    if not emb.is_dir():
        raise InvalidInputError(
            f"{folder} has no img_emb/ folder: expected clip-retrieval's layout "
            "(img_emb/img_emb_0.npy and metadata/metadata_0.parquet)"
        )
    found = []
    for p in emb.iterdir():
        m = _SHARD.match(p.name)
        if m:
            n = int(m.group(1))
            meta = folder / "metadata" / f"metadata_{n}.parquet"
            if not meta.is_file():
                raise InvalidInputError(f"{p} has no metadata: {meta} is missing")
            found.append(Shard(n, p, meta))
    if not found:
        raise InvalidInputError(f"no img_emb_<N>.npy in {emb}")
    return sorted(found, key=lambda s: s.index)


def read_manifest(folder: Path) -> dict[str, object] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else None


def _shard_rows(shard: Shard, dim: int) -> tuple[np.ndarray, pa.Table]:
    try:
        vectors = np.load(shard.vectors, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{shard.vectors} is not a readable .npy array: {exc}") from None
    if vectors.ndim != 2 or vectors.dtype not in (np.float16, np.float32):
        raise InvalidInputError(
            f"{shard.vectors}: expected a (rows, dim) float16 or float32 array, got "
            f"{vectors.shape} {vectors.dtype}"
        )
    if vectors.shape[1] != dim:
        raise InvalidInputError(
            f"{shard.vectors} holds {vectors.shape[1]}-d vectors; the space is {dim}-d: "
            "import them with the model that made them (--model)"
        )
    meta = pq.read_table(shard.metadata)
    if "image_path" not in meta.column_names:
        raise InvalidInputError(f"{shard.metadata} has no image_path column")
    if meta.num_rows != vectors.shape[0]:
        raise InvalidInputError(
            f"{shard.metadata} has {meta.num_rows} rows for {vectors.shape[0]} vectors"
        )
    return vectors, meta


def _column(meta: pa.Table, name: str) -> list[str | None]:
    if name not in meta.column_names:
        return [None] * meta.num_rows
    return [None if v is None else str(v) for v in meta.column(name).to_pylist()]


def import_embeddings(
    catalog: Catalog,
    layout: CollectionLayout,
    collection_id: int,
    model: str,
    store: SegmentStore,
    folder: Path,
    report: ImportReport,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``folder``'s shards into the collection's ``model`` space (see the module)."""
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("model") not in (None, model):
        raise InvalidInputError(
            f"{folder} holds {manifest.get('model')} embeddings, not {model}: import them with "
            f"--model {manifest.get('model')} into a collection of that model"
        )
    parts = shards(folder)
    metas = [_shard_rows(s, store.dim) for s in parts]  # every shard checked before writing
    total = sum(v.shape[0] for v, _ in metas)
    report.shards = len(parts)
    done = 0
    with layout.writer_lock():
        reconcile(catalog, collection_id, model, store)
        known = set(catalog.file_states(collection_id))
        for vectors, meta in metas:
            paths = [str(p) for p in meta.column("image_path").to_pylist()]
            urls, captions = _column(meta, "url"), _column(meta, "caption")
            report.rows += len(paths)
            for start, stop in _chunks(len(paths)):
                rows = [i for i in range(start, stop) if paths[i] not in known]
                rows = _first_of_each(rows, paths)
                report.skipped += (stop - start) - len(rows)
                if rows:
                    block = np.asarray(vectors[rows], dtype=np.float32)
                    _commit(
                        catalog, store, collection_id, model, block, rows, paths, urls, captions
                    )
                    known.update(paths[i] for i in rows)
                    report.imported += len(rows)
                done += stop - start
                if progress:
                    progress(done, total)
    return report


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, IMPORT_SEGMENT):
        yield start, min(n, start + IMPORT_SEGMENT)


def _first_of_each(rows: list[int], paths: list[str]) -> list[int]:
    """Rows whose path is not repeated by an earlier row (a path is one file, one item)."""
    seen: set[str] = set()
    out = []
    for i in rows:
        if paths[i] not in seen:
            seen.add(paths[i])
            out.append(i)
    return out


def _commit(
    catalog: Catalog,
    store: SegmentStore,
    collection_id: int,
    model: str,
    block: np.ndarray,
    rows: list[int],
    paths: list[str],
    urls: list[str | None],
    captions: list[str | None],
) -> None:
    if not np.isfinite(block).all():
        raise InvalidInputError("the embeddings contain NaN or infinite values")
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InvalidInputError("the embeddings contain all-zero vectors")
    block /= norms  # furet's vectors are unit length, whatever made them
    ids = catalog.allocate_ids(len(rows))
    segment = store.write(ids, block)
    outcomes = [
        FileOutcome(
            paths[i],
            0,
            0,
            (NewItem(int(item_id)),),
            url=urls[i],
            caption=captions[i],
            imported=True,
        )
        for item_id, i in zip(ids.tolist(), rows, strict=True)
    ]
    catalog.commit_files(collection_id, model, segment, outcomes)


def _exported_path(info: ItemInfo) -> str:
    """A keyframe shares its video's path: ``video#t=<seconds>`` makes it one row of its own."""
    return f"{info.path}#t={info.video_time}" if info.kind == "keyframe" else info.path


def export_embeddings(
    catalog: Catalog, m: VectorMatrix, model: str, folder: Path, progress: Progress | None = None
) -> int:
    """Write the space's live vectors ``m`` (float16, as stored) and their paths, URLs and
    captions to ``folder`` in clip-retrieval's layout; returns the rows written."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "img_emb").exists() and any((folder / "img_emb").iterdir()):
        raise InvalidInputError(f"{folder}/img_emb is not empty: export into a new folder")
    (folder / "img_emb").mkdir(exist_ok=True)
    (folder / "metadata").mkdir(exist_ok=True)
    n = len(m)
    for shard, start in enumerate(range(0, max(n, 1), EXPORT_SHARD)):
        ids = m.item_ids[start : start + EXPORT_SHARD]
        infos = catalog.item_infos(ids.tolist())
        np.save(
            folder / "img_emb" / f"img_emb_{shard}.npy",
            np.asarray(read_block(m.vectors, start, start + len(ids)), np.float16),
        )
        table = pa.table(
            {
                "image_path": [_exported_path(infos[int(i)]) for i in ids],
                "url": [infos[int(i)].url for i in ids],
                "caption": [infos[int(i)].caption for i in ids],
                "item_id": ids.astype(np.int64),
            }
        )
        pq.write_table(table, folder / "metadata" / f"metadata_{shard}.parquet")
        if progress:
            progress(min(n, start + EXPORT_SHARD), n)
    manifest = {
        "model": model,
        "dim": int(m.vectors.shape[1]),
        "rows": n,
        "format": "clip-retrieval",
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return n
