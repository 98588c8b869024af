"""Class profiles (``domain.resemblance``) of catalog classes, built once per model version.

A class is compared as of its latest model version: its weights, its score scale on its own
collection (the space it lives in) and the centroid of its positives (marked items and example
images) when that version was first profiled. Profiles are cached per data home and process,
keyed by the class, its version and its collection's vector generation, so a discovery
request over hundreds of classes reads their latest version numbers (one statement) and
builds only the profiles of classes retrained since.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select

from furet.catalog.classes import POSITIVE, ClassCatalog
from furet.catalog.schema import ClassVersionRow
from furet.domain.resemblance import ClassProfile, profile, score_scale
from furet.errors import NotFoundError
from furet.services.sharing import VisibleClass

if TYPE_CHECKING:
    from furet.library import Collection, Furet

#: Profiles kept per data home (a profile of a 1280-d class is ~11 KB).
CACHE_SIZE = 4096
#: Class ids per ``IN (...)`` list (SQLite caps the parameters of one statement).
_CHUNK = 500


@dataclass(frozen=True)
class Profiled:
    """A visible class with what comparisons need: its latest ``version`` and profile, its
    collection, and the item ids of its positives (``(p,) int64``, sorted)."""

    visible: VisibleClass
    version: int
    profile: ClassProfile
    collection: Collection
    positive_ids: np.ndarray

    @property
    def class_id(self) -> int:
        return self.visible.class_id

    @property
    def space(self) -> str:
        return self.visible.row.space


@dataclass(frozen=True)
class _Entry:
    profile: ClassProfile
    positive_ids: np.ndarray


class _Cache:
    """Least recently used profiles of one data home; thread-safe."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[object, ...], entry: _Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


_CACHES: weakref.WeakKeyDictionary[Furet, _Cache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _cache_of(home: Furet) -> _Cache:
    with _CACHES_LOCK:
        cache = _CACHES.get(home)
        if cache is None:
            cache = _CACHES[home] = _Cache(CACHE_SIZE)
        return cache


@dataclass
class Profiles:
    """The profiles of a listing of visible classes, and why the others have none."""

    profiled: list[Profiled]
    #: Classes without a model version yet (never trained: nothing to compare).
    untrained: int = 0
    #: Classes trained but without any positive left (every mark removed since).
    without_positives: int = 0


class ProfileBuilder:
    """Builds and caches the profiles of one data home's classes."""

    def __init__(self, home: Furet):
        self.home = home
        self.classes = ClassCatalog(home.catalog.sessions)
        self._cache = _cache_of(home)

    def latest_versions(self, class_ids: Iterable[int]) -> dict[int, int]:
        """Class id -> its latest version number, for those that have one (one statement per
        500 classes)."""
        ids = sorted(set(class_ids))
        out: dict[int, int] = {}
        with self.home.catalog.sessions() as s:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                q = (
                    select(ClassVersionRow.class_id, func.max(ClassVersionRow.version))
                    .where(ClassVersionRow.class_id.in_(chunk))
                    .group_by(ClassVersionRow.class_id)
                )
                out.update({int(c): int(v) for c, v in s.execute(q)})
        return out

    def profiles(self, classes: Sequence[VisibleClass]) -> Profiles:
        """The profiles of ``classes`` that have a model (in listing order)."""
        versions = self.latest_versions(c.class_id for c in classes)
        out = Profiles([])
        for visible in classes:
            version = versions.get(visible.class_id)
            if version is None:
                out.untrained += 1
                continue
            try:
                col = self.home.collection_by_id(visible.row.collection_id)
                entry, version = self._entry(visible, version, col)
            except NotFoundError:  # deleted meanwhile (class or version): not comparable now
                continue
            if entry is None:
                out.without_positives += 1
                continue
            out.profiled.append(Profiled(visible, version, entry.profile, col, entry.positive_ids))
        return out

    def _entry(
        self, visible: VisibleClass, version: int, col: Collection
    ) -> tuple[_Entry | None, int]:
        """The cached profile of ``version``, else one built from the latest version (which
        a concurrent round may have made newer), and the version it is of."""
        space = visible.row.space
        # The creation time tells apart a class from a later one that SQLite gave its id again.
        where = (col.collection_id, space, col.store(space).generation(), visible.row.created_at)
        key = (visible.class_id, version, *where)
        entry = self._cache.get(key)
        if entry is not None:
            return entry, version
        latest = self.classes.latest_version(visible.class_id)
        if latest is None:
            raise NotFoundError(f"class {visible.class_id} has no version any more")
        m = col.matrix(space)
        labels = self.classes.current_labels(visible.class_id)
        ids = np.array(sorted(i for i, v in labels.items() if v == POSITIVE), np.int64)
        rows = m.rows_of(ids)
        ids = ids[rows >= 0]
        _, examples = self.classes.examples(visible.class_id, m.vectors.shape[1])
        positives = np.concatenate([m.vectors[rows[rows >= 0]].astype(np.float32), examples])
        if len(positives) == 0 or len(m) == 0:
            return None, latest.version
        scale = score_scale(m.vectors, latest.weights, latest.bias)
        entry = _Entry(profile(latest.weights, latest.bias, scale, positives), ids)
        self._cache.put((visible.class_id, latest.version, *where), entry)
        return entry, latest.version
