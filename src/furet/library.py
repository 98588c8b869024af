"""The Python API, mirroring the CLI: ``furet.open(home).collection(name).search(...)``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from furet.catalog.database import open_catalog
from furet.catalog.repository import Catalog
from furet.catalog.schema import CollectionRow
from furet.embedders import create_embedder, get_spec
from furet.embedders.base import Embedder
from furet.errors import InvalidInputError, MediaError, NotFoundError
from furet.media.images import decode_bytes, decode_image
from furet.services.ingest import Ingestor, IngestReport, ProgressFn
from furet.services.layout import CollectionLayout
from furet.services.learning import Learning
from furet.services.search import SearchHit, query_vector, search_matrix
from furet.settings import Settings
from furet.vectors.segments import SegmentStore, VectorMatrix, gather


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    model: str
    items: int
    files: int
    errors: int
    disk_bytes: int

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


class Furet:
    """A data home: one catalog database and the vector segments of every collection."""

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.catalog = Catalog(open_catalog(settings.catalog_url()))
        self._collections: dict[int, Collection] = {}

    def embedder(self, model: str) -> Embedder:
        return create_embedder(model, self.settings.model_dir, self.settings.device)

    def collections(self) -> list[Collection]:
        return [Collection(self, row) for row in self.catalog.list_collections()]

    def collection(self, name: str) -> Collection:
        return self._cached(self.catalog.get_collection(name))

    def collection_by_id(self, collection_id: int) -> Collection:
        for row in self.catalog.list_collections():
            if row.collection_id == collection_id:
                return self._cached(row)
        raise NotFoundError(f"no collection {collection_id}")

    def _cached(self, row: CollectionRow) -> Collection:
        # One Collection object per collection keeps its vector matrix cached across calls.
        col = self._collections.get(row.collection_id)
        if col is None or col.row.name != row.name:
            col = self._collections[row.collection_id] = Collection(self, row)
        return col

    def learning(self, user: str = "local") -> Learning:
        """Classes, labels and rounds of ``user``."""
        return Learning(self, user)

    def create_collection(self, name: str, model: str | None = None) -> Collection:
        if not name or "/" in name or name.strip() != name:
            raise InvalidInputError(f"invalid collection name {name!r}")
        model = model or self.settings.default_model
        get_spec(model)
        return self._cached(self.catalog.create_collection(name, model))

    def ensure_collection(self, name: str, model: str | None = None) -> Collection:
        row = self.catalog.find_collection(name)
        if row is None:
            return self.create_collection(name, model)
        if model and model != row.model:
            raise InvalidInputError(
                f"collection {name!r} is indexed with {row.model!r}, not {model!r}"
            )
        return self._cached(row)


class Collection:
    """One collection: ingest files into it, search it."""

    def __init__(self, home: Furet, row: CollectionRow):
        self.home = home
        self.row = row
        self.layout = CollectionLayout(home.settings.home, row.collection_id)
        self._matrix: VectorMatrix | None = None
        self._matrix_key: tuple[object, ...] | None = None
        self._mean: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def model(self) -> str:
        return self.row.model

    @property
    def collection_id(self) -> int:
        return self.row.collection_id

    def store(self, model: str | None = None) -> SegmentStore:
        model = model or self.model
        return SegmentStore(self.layout.space(model), get_spec(model).dim)

    def ingest(
        self,
        paths: list[Path] | list[str],
        *,
        prune: bool = False,
        progress: ProgressFn | None = None,
    ) -> IngestReport:
        """Index new and changed files under ``paths``; ``prune`` forgets removed ones."""
        s = self.home.settings
        ingestor = Ingestor(
            self.home.catalog,
            self.layout,
            self.collection_id,
            self.home.embedder(self.model),
            max_pixels=s.max_image_pixels,
            batch_size=s.batch_size,
            workers=s.decode_workers,
            thumbnail_size=s.thumbnail_size,
            segment_items=s.segment_items,
            frame_interval=s.frame_interval,
        )
        report = IngestReport(self.name, self.model)
        ingestor.run([Path(p) for p in paths], prune=prune, report=report, progress=progress)
        self._matrix = None
        return report

    def matrix(self) -> VectorMatrix:
        """Live vectors of the collection's space, cached until the segments change."""
        store = self.store()
        key = tuple(
            (p.name, p.stat().st_mtime_ns) for p in sorted(store.root.glob("seg-*/tombstones.npy"))
        ) + tuple(store.names())
        if self._matrix is None or key != self._matrix_key:
            m = gather(store, store.dim)
            # Rows written by a crashed run and not yet reconciled are not in the catalog.
            members = self.home.catalog.segment_members(self.collection_id, self.model)
            known = np.concatenate(list(members.values())) if members else np.zeros(0, np.int64)
            keep = np.isin(m.item_ids, known)
            if not keep.all():
                m = VectorMatrix(m.item_ids[keep], m.vectors[keep])
            self._matrix, self._matrix_key, self._mean = m, key, None
        return self._matrix

    def mean_vector(self) -> np.ndarray:
        """``(dim,) float64`` mean of the collection's vectors (the classifier's background)."""
        m = self.matrix()
        if self._mean is None:
            self._mean = (
                m.vectors.mean(axis=0, dtype=np.float64) if len(m) else np.zeros(m.vectors.shape[1])
            )
        return self._mean

    def vectors_of(self, item_ids: list[int]) -> np.ndarray:
        """``(m, dim) float32`` vectors of ``item_ids``; unknown ids raise NotFoundError."""
        m = self.matrix()
        rows = m.rows_of(item_ids)
        missing = [i for i, r in zip(item_ids, rows, strict=True) if r < 0]
        if missing:
            raise NotFoundError(f"no item {missing[0]} in collection {self.name!r}")
        return m.vectors[rows].astype(np.float32)

    def embed_image(self, image: Path | bytes) -> np.ndarray:
        """``(dim,) float32`` vector of an image file or uploaded bytes."""
        emb = self.home.embedder(self.model)
        s = self.home.settings
        if isinstance(image, bytes):
            decoded = decode_bytes(image, s.max_image_pixels)
        else:
            if not image.is_file():
                raise InvalidInputError(f"{image} is not a file")
            try:
                decoded = decode_image(image, s.max_image_pixels)
            except MediaError as exc:
                raise MediaError(f"{image}: {exc}") from None
        return emb.embed_batch(emb.preprocess(decoded.image)[None])[0]

    def search(
        self,
        *,
        image: Path | bytes | None = None,
        item_id: int | None = None,
        item_ids: list[int] | None = None,
        k: int = 20,
        temporal_range: float = 0.0,
    ) -> list[SearchHit]:
        """Exact cosine top-``k`` for an image file/bytes, an item, or several items.

        The query items themselves are excluded from the results.
        """
        ids = list(item_ids or []) + ([item_id] if item_id is not None else [])
        queries = []
        if image is not None:
            queries.append(self.embed_image(image))
        if ids:
            queries.extend(self.vectors_of(ids))
        if not queries:
            raise InvalidInputError("give an image, an item id or item ids to search with")
        return search_matrix(
            self.matrix(),
            self.home.catalog,
            query_vector(np.stack(queries)),
            k,
            ids,
            temporal_range,
        )

    def errors(self) -> list[tuple[str, str]]:
        return self.home.catalog.errors(self.collection_id)

    def info(self) -> CollectionInfo:
        items, files, errors = self.home.catalog.counts(self.collection_id)
        return CollectionInfo(self.name, self.model, items, files, errors, self.layout.disk_bytes())


def open(home: Path | str | None = None, settings: Settings | None = None) -> Furet:
    """Open (creating if needed) the data home ``home`` (default ``FURET_HOME`` or the platform's
    user data directory)."""
    settings = settings or Settings()
    if home is not None:
        settings = settings.model_copy(update={"home": Path(home)})
    return Furet(settings)
