"""Model discovery: the classes other users and institutions made that fire on an image or an
item, or that resemble one of my classes ("Découverte de modèles multi-établissement").

Only classes the caller may read are considered (``services.sharing``), and by default not
the caller's own (``include_mine``). Every class is scored in its own embedding space; classes
are ranked by their **standardised** score (``domain.resemblance``): how many standard
deviations above its usual score on its own collection a class puts the query, which is
comparable across classes that raw logits are not. An image is embedded once per space of the
candidate classes; an item is scored by the classes of the spaces its collection has (classes
of other spaces are counted in ``skipped``); a class is compared with the classes of its space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from furet.domain.resemblance import (
    RELATED,
    relative_on_positives,
    resemblance,
    standardised_scores,
    top_length,
    top_overlap,
    weight_cosine,
)
from furet.errors import InvalidInputError, ModelUnavailableError, NotFoundError
from furet.services.profiles import ProfileBuilder, Profiled, Profiles
from furet.services.search import query_vector
from furet.services.sharing import Sharing, VisibleClass
from furet.vectors.base import top_rows

if TYPE_CHECKING:
    from furet.library import Furet

#: Most classes one discovery answers with, and most similar images per class.
MAX_LIMIT = 100
MAX_SIMILAR = 20
#: Items of both top lists shown with a resemblance.
SHARED_SHOWN = 10


def actions(visible: VisibleClass, mine: bool) -> tuple[str, ...]:
    """What the caller can do with a class: ``use`` it (identify, enrich), ``edit`` it (label,
    rounds), ``share`` it, or ``fork`` it into a class of their own."""
    out = ["use"]
    if visible.right in ("edit", "own"):
        out.append("edit")
    if visible.right == "own":
        out.append("share")
    if not mine:
        out.append("fork")
    return tuple(out)


@dataclass(frozen=True)
class ClassRef:
    """A class as a discovery shows it: whose it is, how it is shared, what the caller may do."""

    class_id: int
    name: str
    owner: str
    collection: str
    space: str
    version: int
    right: str
    groups: dict[str, str]
    public: str | None
    origin: str | None
    mine: bool
    actions: tuple[str, ...]

    @classmethod
    def of(cls, p: Profiled, user_id: int) -> ClassRef:
        v = p.visible
        mine = v.row.owner_id == user_id
        return cls(
            v.class_id,
            v.name,
            v.owner,
            p.collection.name,
            p.space,
            p.version,
            v.right,
            dict(v.groups),
            v.public,
            v.origin,
            mine,
            actions(v, mine),
        )

    def as_json(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["actions"] = list(self.actions)
        return out


@dataclass(frozen=True)
class Similar:
    """A positive item of a found class, and its cosine similarity to the query."""

    item_id: int
    score: float


@dataclass(frozen=True)
class FiringEvidence:
    """Why a class was found for an image or an item."""

    logit: float  # x @ w + b of its latest version: > 0 is its own "positive" verdict
    probability: float  # sigmoid(logit)
    percentile: float  # share of its collection it scores lower than the query
    fires: bool  # logit >= 0
    #: For an item: whether the class's owner marked this very item positive.
    marked_positive: bool | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "logit": round(self.logit, 6),
            "probability": round(self.probability, 6),
            "percentile": round(self.percentile, 4),
            "fires": self.fires,
        }
        if self.marked_positive is not None:
            out["marked_positive"] = self.marked_positive
        return out


@dataclass(frozen=True)
class ResemblanceEvidence:
    """Why a class resembles the query class (``mine``: the query class)."""

    #: Its mean standardised score on my positives, as a share of that on its own (1: as
    #: high); and the same of my class on its positives. ``score`` is their mean.
    theirs_on_mine: float
    mine_on_theirs: float
    weight_cosine: float  # cosine of the two weight vectors
    #: Same collection only (else None): items both mark positive, share of my top
    #: ``top_k`` in theirs, and the first ``SHARED_SHOWN`` items in both (best of mine first).
    shared_positives: int | None = None
    top_overlap: float | None = None
    top_k: int | None = None
    shared_top: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "theirs_on_mine": round(self.theirs_on_mine, 4),
            "mine_on_theirs": round(self.mine_on_theirs, 4),
            "weight_cosine": round(self.weight_cosine, 4),
            "shared_positives": self.shared_positives,
            "top_overlap": None if self.top_overlap is None else round(self.top_overlap, 4),
            "top_k": self.top_k,
            "shared_top": self.shared_top,
        }


@dataclass(frozen=True)
class Found:
    """A discovered class, its ranking ``score`` (standardised) and the evidence for it."""

    cls: ClassRef
    score: float
    evidence: FiringEvidence | ResemblanceEvidence
    similar: list[Similar] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            **self.cls.as_json(),
            "score": round(self.score, 4),
            "evidence": self.evidence.as_json(),
            "similar": [{"item_id": s.item_id, "score": round(s.score, 6)} for s in self.similar],
        }


@dataclass
class DiscoveryResult:
    """Classes found for a query, best first, with how many were compared and why others
    were not (``untrained``, ``without_positives``, ``other_space``, ``model_unavailable``)."""

    query: dict[str, object]
    results: list[Found]
    compared: int
    skipped: dict[str, int]
    #: The class asked about (a ``class`` query), shown as ``query.class``.
    source: ClassRef | None = None

    def as_json(self) -> dict[str, object]:
        query = dict(self.query)
        if self.source is not None:
            query["class"] = self.source.as_json()
        return {
            "query": query,
            "results": [f.as_json() for f in self.results],
            "compared": self.compared,
            "skipped": dict(self.skipped),
        }


def _check(limit: int, similar: int = 0) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if not 0 <= similar <= MAX_SIMILAR:
        raise InvalidInputError(f"similar must be between 0 and {MAX_SIMILAR}, got {similar}")


def _skipped(profiles: Profiles, **more: int) -> dict[str, int]:
    out = {"untrained": profiles.untrained, "without_positives": profiles.without_positives}
    out.update(more)
    return {k: v for k, v in out.items() if v}


class Discovery:
    """Discovery for one user (``is_admin``: an administrator may read every class)."""

    def __init__(self, home: Furet, user_id: int, *, is_admin: bool = False):
        self.home = home
        self.user_id = user_id
        self.sharing = Sharing(home, user_id, is_admin=is_admin)
        self.profiles = ProfileBuilder(home)

    @classmethod
    def of(cls, home: Furet, user_id: int) -> Discovery:
        """For ``user_id``, an administrator or not as the catalog says (the CLI's users)."""
        return cls(home, user_id, is_admin=Sharing.of(home, user_id).is_admin)

    def candidates(self, collection_id: int | None = None, include_mine: bool = False) -> Profiles:
        """Profiles of the classes the caller may read (not their own unless
        ``include_mine``), on ``collection_id`` if given."""
        visible = self.sharing.visible(collection_id)
        if not include_mine:
            visible = [v for v in visible if v.row.owner_id != self.user_id]
        return self.profiles.profiles(visible)

    def _collection_id(self, collection: str | None) -> int | None:
        return self.home.collection(collection).collection_id if collection else None

    # -- an image or an item -----------------------------------------------------------------

    def image(
        self,
        images: Sequence[bytes | Path],
        *,
        collection: str | None = None,
        include_mine: bool = False,
        limit: int = 10,
        similar: int = 3,
    ) -> DiscoveryResult:
        """The classes that fire on ``images`` (1 or more pictures of one subject, averaged as
        a search query is), best first; ``collection``: only classes of that collection."""
        _check(limit, similar)
        if not images:
            raise InvalidInputError("give at least one image")
        found = self.candidates(self._collection_id(collection), include_mine)
        queries: dict[str, np.ndarray] = {}
        unavailable: set[str] = set()
        for p in found.profiled:
            if p.space in queries or p.space in unavailable:
                continue
            try:
                vectors = np.stack([p.collection.embed_image(img, p.space) for img in images])
            except ModelUnavailableError:
                unavailable.add(p.space)  # its weights are missing here: the others still count
                continue
            queries[p.space] = query_vector(vectors)
        scored = [p for p in found.profiled if p.space in queries]
        query: dict[str, object] = {"kind": "image", "images": len(images)}
        if collection:
            query["collection"] = collection
        results = self._fire(scored, queries, limit, similar)
        skipped = _skipped(found, model_unavailable=len(found.profiled) - len(scored))
        return DiscoveryResult(query, results, len(scored), skipped)

    def item(
        self,
        item_id: int,
        *,
        collection: str | None = None,
        include_mine: bool = False,
        limit: int = 10,
        similar: int = 3,
    ) -> DiscoveryResult:
        """The classes that fire on item ``item_id``, in every space its collection has;
        ``collection``: only classes of that collection."""
        _check(limit, similar)
        classes_of = self._collection_id(collection)
        col_id = self.home.catalog.item_collection(item_id)
        if col_id is None:
            raise NotFoundError(f"no item {item_id}")
        col = self.home.collection_by_id(col_id)
        spaces = set(col.spaces())
        found = self.candidates(classes_of, include_mine)
        queries: dict[str, np.ndarray] = {}
        for space in {p.space for p in found.profiled} & spaces:
            rows = col.matrix(space).rows_of([item_id])
            if rows[0] >= 0:  # an extra space may not have embedded it yet
                queries[space] = col.matrix(space).vectors[rows[0]].astype(np.float32)
        scored = [p for p in found.profiled if p.space in queries]
        results = self._fire(scored, queries, limit, similar, item_id=item_id)
        query: dict[str, object] = {"kind": "item", "item_id": item_id, "collection": col.name}
        skipped = _skipped(found, other_space=len(found.profiled) - len(scored))
        return DiscoveryResult(query, results, len(scored), skipped)

    def _fire(
        self,
        scored: list[Profiled],
        queries: dict[str, np.ndarray],
        limit: int,
        similar: int,
        item_id: int | None = None,
    ) -> list[Found]:
        if not scored:
            return []
        z = np.empty(len(scored))
        for space, q in queries.items():
            idx = [i for i, p in enumerate(scored) if p.space == space]
            z[idx] = standardised_scores([scored[i].profile for i in idx], q)[0]
        order = np.argsort(-z, kind="stable")[:limit]
        out = []
        for i in order.tolist():
            p = scored[i]
            q = queries[p.space]
            logit = float(q @ p.profile.w + p.profile.b)
            marked = None
            if item_id is not None:
                marked = bool(np.isin(item_id, p.positive_ids))
            evidence = FiringEvidence(
                logit,
                1 / (1 + math.exp(-min(max(logit, -500.0), 500.0))),
                float(p.profile.scale.percentile(logit)),
                logit >= 0,
                marked,
            )
            out.append(
                Found(ClassRef.of(p, self.user_id), float(z[i]), evidence, _similar(p, q, similar))
            )
        return out

    # -- a class -----------------------------------------------------------------------------

    def similar_classes(
        self,
        class_id: int,
        *,
        collection: str | None = None,
        include_mine: bool = False,
        limit: int = 10,
        min_score: float = RELATED,
    ) -> DiscoveryResult:
        """The classes that resemble class ``class_id`` (one the caller may read), best first:
        those of its space (of ``collection`` if given) whose resemblance is at least
        ``min_score``."""
        _check(limit)
        classes_of = self._collection_id(collection)
        source = self.profile_of(class_id)
        found = self.candidates(classes_of, include_mine)
        same = [p for p in found.profiled if p.space == source.space and p.class_id != class_id]
        query: dict[str, object] = {"kind": "class", "class_id": class_id}
        ref = ClassRef.of(source, self.user_id)
        other = sum(1 for p in found.profiled if p.space != source.space)
        skipped = _skipped(found, other_space=other)
        if not same:
            return DiscoveryResult(query, [], 0, skipped, ref)
        profiles = [p.profile for p in same]
        r = resemblance([source.profile], profiles)[0]
        theirs_on_mine = relative_on_positives([source.profile], profiles)[0]
        mine_on_theirs = relative_on_positives(profiles, [source.profile])[:, 0]
        cosine = weight_cosine([source.profile], profiles)[0]
        order = [i for i in np.argsort(-r, kind="stable").tolist() if r[i] >= min_score][:limit]
        tops = _TopLists(source)
        out = []
        for i in order:
            p = same[i]
            evidence = ResemblanceEvidence(
                float(theirs_on_mine[i]), float(mine_on_theirs[i]), float(cosine[i])
            )
            if p.collection.collection_id == source.collection.collection_id:
                mine_top, theirs_top = tops.of(source), tops.of(p)
                evidence = replace(
                    evidence,
                    shared_positives=len(np.intersect1d(source.positive_ids, p.positive_ids)),
                    top_overlap=top_overlap(mine_top, theirs_top),
                    top_k=len(mine_top),
                    shared_top=[
                        int(x) for x in mine_top[np.isin(mine_top, theirs_top)][:SHARED_SHOWN]
                    ],
                )
            out.append(Found(ClassRef.of(p, self.user_id), float(r[i]), evidence))
        return DiscoveryResult(query, out, len(same), skipped, ref)

    def profile_of(self, class_id: int) -> Profiled:
        """The profile of class ``class_id``, which the caller must be able to read; a class
        without a model yet (or without positives) cannot be compared."""
        visible = self.sharing.describe(class_id, "read")
        built = self.profiles.profiles([visible])
        if not built.profiled:
            what = "a positive" if built.without_positives else "a model"
            raise InvalidInputError(
                f"class {class_id} ({visible.owner}/{visible.name}) has no {what} yet: mark "
                "positives and run a round (furet class round NAME) before comparing it"
            )
        return built.profiled[0]


def _similar(p: Profiled, query: np.ndarray, n: int) -> list[Similar]:
    """The positives of ``p`` most similar to ``query`` (cosine), best first."""
    if n == 0 or len(p.positive_ids) == 0:
        return []
    m = p.collection.matrix(p.space)
    rows = m.rows_of(p.positive_ids)
    rows = rows[rows >= 0]
    scores = m.vectors[rows].astype(np.float32) @ query
    best = np.argsort(-scores, kind="stable")[:n]
    return [Similar(int(m.item_ids[rows[j]]), float(scores[j])) for j in best]


class _TopLists:
    """The ``top_length`` item ids each class scores highest on the source class's collection
    (scored by the collection's scan), computed once per class."""

    def __init__(self, source: Profiled):
        self.collection = source.collection
        self._tops: dict[int, np.ndarray] = {}

    def of(self, p: Profiled) -> np.ndarray:
        top = self._tops.get(p.class_id)
        if top is None:
            index = self.collection.index(p.space)
            scores = index.scores(p.profile.w, p.profile.b)
            rows = top_rows(scores, top_length(len(scores)))
            top = self._tops[p.class_id] = self.collection.matrix(p.space).item_ids[rows]
        return top
