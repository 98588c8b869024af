"""Interactive learning of visual classes: create, label, run rounds, show, export."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from furet.catalog.classes import NEGATIVE, POSITIVE, UNLABELLED, ClassCatalog, RoundState
from furet.catalog.schema import ClassRow
from furet.domain.classifier import (
    CV_MIN_PER_CLASS,
    WEAK_NEGATIVES,
    LinearModel,
    first_page_model,
    fit_linear,
    sample_weak_negatives,
)
from furet.domain.metrics import Estimate
from furet.domain.modes import ModeSettings, get_mode, precision_estimate, select_page
from furet.domain.propagation import (
    SMOOTHED_MODES,
    Propagation,
    expansion,
    propagation_boost,
    with_expansion,
)
from furet.domain.temporal import Segment, merge_segments, spread_to_shot
from furet.errors import InvalidInputError
from furet.services.keyframes import keyframe_ref
from furet.services.search import FOLD_OVERFETCH, fold_hits, hit_of
from furet.services.sharing import Right, Sharing
from furet.vectors.exact import ExactIndex, rows_float32

if TYPE_CHECKING:
    from furet.library import Collection, Furet


#: Seeds of a round's random draws: 0 to 2**32 - 1, as most generators take.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class RoundSettings:
    mode: str = "search"
    page_size: int = 15
    discovery_rate: float = 0.3
    sampling_min: float = 0.2
    sampling_max: float = 0.8
    seed: int | None = None
    #: Seconds: keyframes of one video closer than this to a better-scored one are folded.
    temporal_range: float = 0.0

    def mode_settings(self) -> ModeSettings:
        return ModeSettings(self.discovery_rate, self.sampling_min, self.sampling_max)


#: What ranked a round's page, so what its items show first (``RoundResult.score_kind``).
SIMILARITY = "similarity"  # a class's first page: nearest neighbours of its positives
PROBABILITY = "probability"  # every page ranked by the class model


@dataclass(frozen=True)
class PageItem:
    item_id: int
    path: str
    score: float  # logit: > 0 means the model says positive
    probability: float
    label: int  # current mark: +1, -1 or 0
    kind: str = "image"
    video_time: float | None = None
    shot: int | None = None
    folded: int = 0
    #: Cosine similarity to the positives' mean, on a page ranked by it (else None).
    similarity: float | None = None
    #: Logits the marks propagated over the k-NN graph added to ``score`` to rank the page
    #: (None: not smoothed, the page is ranked by ``score`` or ``similarity``).
    propagation: float | None = None

    @property
    def verdict(self) -> bool:
        return self.score >= 0

    def as_json(self) -> dict[str, object]:
        """Named as search hits are (``kind``; ``video``, ``time``, ``shot`` for keyframes)."""
        out: dict[str, object] = {
            "item_id": self.item_id,
            "path": self.path,
            "kind": self.kind,
            "score": self.score,
            "probability": self.probability,
            "label": self.label,
            "verdict": "positive" if self.verdict else "negative",
        }
        if self.similarity is not None:
            out["similarity"] = self.similarity
        if self.propagation is not None:
            out["propagation"] = self.propagation
        if self.kind == "keyframe":
            out.update(video=self.path, time=self.video_time, shot=self.shot, folded=self.folded)
        return out


@dataclass
class RoundResult:
    class_name: str
    version: int
    mode: str
    page: list[PageItem]
    n_pos: int
    n_neg: int
    n_weak: int
    cv_score: float | None
    round_ms: float
    collection_size: int
    #: ``similarity`` (first page) or ``probability``: the score that ranked the page.
    score_kind: str = PROBABILITY

    def as_json(self) -> dict[str, object]:
        out = {k: v for k, v in self.__dict__.items() if k != "page"}
        out["page"] = [p.as_json() for p in self.page]
        return out


@dataclass
class ClassSummary:
    name: str
    class_id: int
    collection: str
    space: str
    visibility: str
    positives: int
    negatives: int
    examples: list[str]
    versions: list[dict[str, object]] = field(default_factory=list)
    precision: Estimate | None = None
    spot_checked: int = 0

    def as_json(self) -> dict[str, object]:
        out = dict(self.__dict__)
        if self.precision is not None:
            # NaN (the model called none of the marked spot-checked items positive) is no JSON.
            p = self.precision
            out["precision"] = {
                "value": None if math.isnan(p.value) else p.value,
                "low": p.low,
                "high": p.high,
            }
        return out


@dataclass(frozen=True)
class Marks:
    """Marks to record on a class: items marked positive, negative, or unmarked.

    ``spread_range``: a mark on a video keyframe also goes to the keyframes of its shot within
    that many seconds (None: no spreading).
    """

    positive: list[int] = field(default_factory=list)
    negative: list[int] = field(default_factory=list)
    unlabel: list[int] = field(default_factory=list)
    spread_range: float | None = None


#: A round reuses the latest version's cross-validated score until the class's label events
#: (marks, changes, unmarks) grew by this fraction of its marks since that score was computed:
#: the score moves slowly, and computing it is about half of a fit's cost.
CV_REFRESH = 0.1


def cv_still_fresh(state: RoundState) -> bool:
    """Whether the latest version's cross-validated score may stand for this round's."""
    if state.latest_cv is None or state.latest_cv_events is None:
        return False
    grown = state.label_events - state.latest_cv_events
    return 0 <= grown <= CV_REFRESH * len(state.labels)


class Learning:
    """Use cases of the classes of one user (the CLI acts as user ``local``)."""

    def __init__(
        self,
        home: Furet,
        user: str = "local",
        *,
        user_id: int | None = None,
        is_admin: bool | None = None,
    ):
        """``user_id``: an authenticated account's id (skips looking ``user`` up);
        ``is_admin``: whether it is an administrator (None: as the catalog says)."""
        self.home = home
        self.classes = ClassCatalog(home.catalog.sessions)
        self.user_id = user_id if user_id is not None else self.classes.ensure_user(user)
        self._is_admin = is_admin
        self._sharing: Sharing | None = None

    @property
    def sharing(self) -> Sharing:
        """What this user may see and do with every class (``services.sharing``)."""
        if self._sharing is None:
            if self._is_admin is None:
                self._sharing = Sharing.of(self.home, self.user_id)
            else:
                self._sharing = Sharing(self.home, self.user_id, is_admin=self._is_admin)
        return self._sharing

    # -- classes -----------------------------------------------------------------------------

    def create(
        self,
        name: str,
        collection: str,
        *,
        from_items: list[int] | None = None,
        from_image: Path | bytes | None = None,
        space: str | None = None,
    ) -> ClassRow:
        """A new class whose first positives are ``from_items`` and/or ``from_image``."""
        col = self.home.collection(collection)
        if from_items:
            col.vectors_of(from_items, space)  # raises NotFoundError for a foreign or unknown item
        vector = col.embed_image(from_image, space) if from_image is not None else None
        row = self.classes.create_class(self.user_id, col.collection_id, name, space or col.model)
        if from_items:
            self.classes.add_labels(row.class_id, self.user_id, [(i, POSITIVE) for i in from_items])
        if vector is not None:
            source = str(from_image) if isinstance(from_image, Path) else "upload"
            self.classes.add_example(row.class_id, source, vector)
        return row

    def get(self, name: str | ClassRow) -> ClassRow:
        """The class ``name`` of this user (a row already fetched is returned as it is)."""
        if isinstance(name, ClassRow):
            return name
        return self.classes.get_class(self.user_id, name)

    def get_by_id(self, class_id: int, need: Right = "own") -> ClassRow:
        """The class ``class_id`` if this user's right on it allows ``need`` (``read``,
        ``edit`` or ``own``): see :meth:`Sharing.require` (404 for a class they may not see,
        as for an absent one; 403 for too weak a right)."""
        return self.sharing.require(class_id, need)

    def delete(self, name: str | ClassRow) -> None:
        """Delete a class with its labels, examples and versions."""
        self.classes.delete_class(self.get(name).class_id)

    def rename(self, name: str | ClassRow, new_name: str) -> ClassRow:
        """Rename one of this user's classes (names are unique per user)."""
        return self.classes.rename_class(self.get(name).class_id, new_name.strip())

    def list_classes(self) -> list[ClassRow]:
        return self.classes.list_classes(self.user_id)

    def _collection(self, cls: ClassRow) -> Collection:
        return self.home.collection_by_id(cls.collection_id)

    # -- labels ------------------------------------------------------------------------------

    def label(
        self,
        name: str | ClassRow,
        positives: list[int] | None = None,
        negatives: list[int] | None = None,
        unlabel: list[int] | None = None,
        spread_range: float | None = None,
    ) -> dict[int, int]:
        """Mark items (see :meth:`mark`); returns the class's current marks."""
        cls = self.get(name)
        self.mark(cls, Marks(positives or [], negatives or [], unlabel or [], spread_range))
        return self.classes.current_labels(cls.class_id)

    def counts(self, cls: ClassRow, labels: dict[int, int] | None = None) -> tuple[int, int]:
        """Positives and negatives of the class; positives count its example images (an
        uploaded image a class was created from is a positive of every round, as a mark is)."""
        if labels is None:
            labels = self.classes.current_labels(cls.class_id)
        sources, _ = self.classes.examples(cls.class_id, 0)
        pos = sum(1 for v in labels.values() if v == POSITIVE)
        return pos + len(sources), sum(1 for v in labels.values() if v == NEGATIVE)

    def mark(self, name: str | ClassRow, marks: Marks) -> None:
        """Record ``marks``; a later mark of the same item wins, the history keeps both."""
        cls = self.get(name)
        pos, neg, rem = list(marks.positive), list(marks.negative), list(marks.unlabel)
        if marks.spread_range is not None:
            pos, neg = self._spread(pos, neg, marks.spread_range)
        both = set(pos) & set(neg)
        if both:
            raise InvalidInputError(f"item(s) {sorted(both)} marked both positive and negative")
        ids = pos + neg
        if ids:
            self._collection(cls).require_items(ids, cls.space)  # of the class's collection only
        values = [(i, POSITIVE) for i in pos] + [(i, NEGATIVE) for i in neg]
        values += [(i, UNLABELLED) for i in rem]
        if not values:
            raise InvalidInputError("give --positive and/or --negative item ids")
        self.classes.add_labels(cls.class_id, self.user_id, values)

    def _spread(
        self, pos: list[int], neg: list[int], spread_range: float
    ) -> tuple[list[int], list[int]]:
        explicit = set(pos) | set(neg)
        extra: dict[int, list[int]] = {POSITIVE: [], NEGATIVE: []}
        for value, ids in ((POSITIVE, pos), (NEGATIVE, neg)):
            for item_id in ids:
                refs = [
                    r
                    for r in map(keyframe_ref, self.home.catalog.siblings(item_id))
                    if r is not None
                ]
                me = next((r for r in refs if r.item_id == item_id), None)
                if me is not None:
                    extra[value] += [
                        i for i in spread_to_shot(me, refs, spread_range) if i not in explicit
                    ]
        return (
            pos + sorted(set(extra[POSITIVE])),
            neg + sorted(set(extra[NEGATIVE]) - set(extra[POSITIVE])),
        )

    # -- rounds ------------------------------------------------------------------------------

    def fit(
        self, cls: ClassRow, col: Collection, state: RoundState, reuse_cv: bool
    ) -> tuple[LinearModel, np.ndarray]:
        """The class model on the current labels; returns it and the ``(n,) int8`` label array.
        ``reuse_cv``: take the latest version's cross-validated score (see ``cv_still_fresh``).

        While no negative is marked, the weak negatives are drawn with the class's own seed:
        the same items from round to round (until marked), so that rounds are reproducible and
        each fit reuses the products of the previous one (see ``GramCache``).
        """
        m = col.matrix(cls.space)
        labels = state.labels
        labelled = np.zeros(len(m), np.int8)
        if labels:
            rows = m.rows_of(list(labels))
            ok = rows >= 0
            labelled[rows[ok]] = np.fromiter(labels.values(), np.int8, len(labels))[ok]
        graph = col.graph(cls.space)
        # Query expansion: while no negative is marked, the positives' nearest neighbours too.
        extra = np.empty(0, np.int64) if graph is None else expansion(graph[0], labelled)
        taken = with_expansion(labelled, extra)
        pos_rows = np.flatnonzero(taken == POSITIVE)
        pos = np.concatenate([rows_float32(m.vectors, pos_rows), state.examples])
        if len(pos) == 0:
            raise InvalidInputError(
                f"class {cls.name!r} has no positive yet: mark one with "
                f"furet class label {cls.name} --positive ITEM_ID"
            )
        neg_rows = np.flatnonzero(labelled == NEGATIVE)
        weak_rows = (
            sample_weak_negatives(taken, WEAK_NEGATIVES, np.random.default_rng(cls.class_id))
            if neg_rows.size == 0
            else neg_rows[:0]
        )
        not_items = np.full(len(state.examples), -1, np.int64)  # examples: never reused
        model = fit_linear(
            pos,
            rows_float32(m.vectors, neg_rows),
            rows_float32(m.vectors, weak_rows),
            background=col.mean_vector(cls.space),
            cross_validate=not reuse_cv,
            gram_cache=col.gram_cache,
            cache_key=(cls.class_id, cls.space, col.store(cls.space).generation()),
            row_ids=(
                np.concatenate([m.item_ids[pos_rows], not_items]),
                m.item_ids[neg_rows],
                m.item_ids[weak_rows],
            ),
        )
        model = replace(model, n_pos=model.n_pos - int(extra.size))  # the user's positives
        if reuse_cv and min(model.n_pos, model.n_neg) >= CV_MIN_PER_CLASS:
            model = replace(model, cv_score=state.latest_cv)
        return model, labelled

    def round(self, name: str | ClassRow, settings: RoundSettings | None = None) -> RoundResult:
        """Fit the class on its marks, score the whole collection, return the next page."""
        settings = settings or RoundSettings()
        get_mode(settings.mode)
        if not 1 <= settings.page_size <= 1000:
            raise InvalidInputError("page size must be between 1 and 1000")
        if settings.seed is not None and not 0 <= settings.seed <= MAX_SEED:
            raise InvalidInputError(f"the seed must be between 0 and {MAX_SEED}")
        t0 = time.perf_counter()
        cls = self.get(name)
        col = self._collection(cls)
        rng = np.random.default_rng(settings.seed)
        m = col.matrix(cls.space)
        state = self.classes.round_state(cls.class_id, m.vectors.shape[1])
        reuse_cv = cv_still_fresh(state)
        model, labelled = self.fit(cls, col, state, reuse_cv)
        index = col.index(cls.space)
        first = None
        if settings.mode == "search" and not state.trained and model.n_neg == 0:
            # Before the first model, the page is the nearest neighbours of the positives, and
            # shows that similarity: the model's probabilities would contradict its order.
            positives = np.concatenate([m.vectors[labelled == POSITIVE], state.examples])
            first = first_page_model(positives)
            ranking = index.scores(first.w)
        else:
            # Only Ambiguous ranks by the distance to the boundary: the others need the head.
            ranking = index.scores(model.w, model.b, boundary=settings.mode == "ambiguous")
            if settings.mode == "refine":  # it reviews the marks: their exact scores
                marked = np.flatnonzero(labelled != 0)
                ranking[marked] = index.rescore(marked, model.w, model.b)
        graph = col.graph(cls.space)
        boost = None
        if graph is not None and first is None and settings.mode in SMOOTHED_MODES:
            # The marks spread over the collection's k-NN graph.
            boost = propagation_boost(labelled, graph[0], Propagation(), graph[1])
            ranking = ranking + boost
        folding = settings.temporal_range > 0
        fetch = settings.page_size * (FOLD_OVERFETCH if folding else 1)
        rows = select_page(settings.mode, ranking, labelled, fetch, settings.mode_settings(), rng)
        ids = m.item_ids[rows].tolist()
        infos = self.home.catalog.item_infos(ids)
        row_of = dict(zip(ids, rows.tolist(), strict=True))
        logit = dict(zip(ids, index.rescore(rows, model.w, model.b).tolist(), strict=True))
        lift = None if boost is None else dict(zip(ids, boost[rows].tolist(), strict=True))
        similar = (
            dict(zip(ids, index.rescore(rows, first.w, first.b).tolist(), strict=True))
            if first is not None
            else None
        )
        # Folding keeps the best-ranked keyframe of a span: rank by what ranked the page.
        ranked = similar or (logit if lift is None else {i: logit[i] + lift[i] for i in ids})
        hits = [hit_of(infos[i], ranked[i]) for i in ids]
        if folding:
            hits = fold_hits(hits, settings.temporal_range, settings.page_size)
        page = []
        for h in hits:
            score = round(logit[h.item_id], 6)
            page.append(
                PageItem(
                    h.item_id,
                    h.path,
                    score,
                    float(1 / (1 + np.exp(-score))),
                    int(labelled[row_of[h.item_id]]),
                    h.kind,
                    h.video_time,
                    h.shot,
                    h.folded,
                    None if similar is None else h.score,
                    None if lift is None else round(lift[h.item_id], 6),
                )
            )
        round_ms = (time.perf_counter() - t0) * 1e3
        params: dict[str, object] = {"mode": settings.mode, "page_size": settings.page_size}
        if model.cv_score is not None:  # the label events its cross-validation saw
            params["cv_events"] = state.latest_cv_events if reuse_cv else state.label_events
        if settings.mode == "classify_random":
            # Kept so that the user's later marks of these items estimate precision.
            params["spot_check"] = {str(p.item_id): p.verdict for p in page}
        version = self.classes.save_version(
            cls.class_id,
            n_pos=model.n_pos,
            n_neg=model.n_neg,
            n_weak=model.n_weak,
            cv_score=model.cv_score,
            weights=model.w,
            bias=model.b,
            params=params,
            created_by=self.user_id,
        )
        return RoundResult(
            cls.name,
            version,
            settings.mode,
            page,
            model.n_pos,
            model.n_neg,
            model.n_weak,
            model.cv_score,
            round_ms,
            len(m),
            PROBABILITY if first is None else SIMILARITY,
        )

    # -- exploitation ------------------------------------------------------------------------

    def segments(
        self, name: str, collection: str | None = None, threshold: float = 0.0
    ) -> list[Segment]:
        """Time-coded segments where the class's latest model fires (score >= ``threshold``,
        a logit: 0 is the decision boundary) over the keyframes of ``collection``."""
        cls = self.get(name)
        latest = self.classes.latest_version(cls.class_id)
        if latest is None:
            raise InvalidInputError(
                f"class {name!r} has no model yet: run furet class round {name} first"
            )
        col = self.home.collection(collection) if collection else self._collection(cls)
        if cls.space not in col.spaces():
            raise InvalidInputError(
                f"class {name!r} lives in space {cls.space!r}, which collection {col.name!r} "
                f"lacks: furet embed --collection {col.name} --model {cls.space}"
            )
        m = col.matrix(cls.space)
        infos = self.home.catalog.item_infos(m.item_ids.tolist())
        rows, refs = [], []
        for row, item_id in enumerate(m.item_ids.tolist()):
            info = infos.get(item_id)
            ref = None if info is None else keyframe_ref(info)
            if ref is not None:
                rows.append(row)
                refs.append(ref)
        if not refs:
            return []
        scores = ExactIndex(m.vectors[np.asarray(rows)]).scores(latest.weights, latest.bias)
        return merge_segments(refs, scores, threshold)

    # -- reports -----------------------------------------------------------------------------

    def spot_check(self, cls: ClassRow) -> tuple[Estimate | None, int]:
        """Precision estimate from every Classify Random page the user has since marked."""
        labels = self.classes.current_labels(cls.class_id)
        verdicts: dict[int, bool] = {}
        for v in self.classes.versions(cls.class_id):
            check = v.params.get("spot_check")
            if isinstance(check, dict):
                verdicts.update({int(k): bool(b) for k, b in check.items()})
        marked = [i for i in verdicts if i in labels]
        if not marked:
            return None, 0
        said = np.array([verdicts[i] for i in marked])
        truth = np.array([labels[i] == POSITIVE for i in marked])
        return precision_estimate(said, said != truth), len(marked)

    def show(self, name: str | ClassRow) -> ClassSummary:
        cls = self.get(name)
        labels = self.classes.current_labels(cls.class_id)
        sources, _ = self.classes.examples(cls.class_id, 1)
        precision, checked = self.spot_check(cls)
        listed = self.classes.versions(cls.class_id)
        makers = self.sharing.store.user_names(v.created_by for v in listed if v.created_by)
        versions = [
            {
                "version": v.version,
                "created_at": v.created_at.isoformat(),
                "n_pos": v.n_pos,
                "n_neg": v.n_neg,
                "n_weak": v.n_weak,
                "cv_score": v.cv_score,
                "mode": v.params.get("mode"),
                "created_by": makers.get(v.created_by) if v.created_by else None,
            }
            for v in listed
        ]
        return ClassSummary(
            cls.name,
            cls.class_id,
            self._collection(cls).name,
            cls.space,
            cls.visibility,
            sum(1 for v in labels.values() if v == POSITIVE),
            sum(1 for v in labels.values() if v == NEGATIVE),
            sources,
            versions,
            precision,
            checked,
        )

    def export(self, name: str | ClassRow) -> dict[str, object]:
        """Labels (current and history) and the latest model, as plain JSON data."""
        cls = self.get(name)
        col = self._collection(cls)
        labels = self.classes.current_labels(cls.class_id)
        infos = self.home.catalog.item_infos(labels)
        latest = self.classes.latest_version(cls.class_id)
        history = self.classes.label_history(cls.class_id)
        users = self.sharing.store.user_names(h.user_id for h in history)
        return {
            "class": self.show(cls).as_json(),
            "origin": cls.origin,
            "labels": [
                {
                    "item_id": i,
                    "path": infos[i].path if i in infos else None,
                    "label": "positive" if v == POSITIVE else "negative",
                }
                for i, v in sorted(labels.items())
            ],
            "history": [
                {
                    "item_id": h.item_id,
                    "value": h.value,
                    "user_id": h.user_id,
                    "user": users[h.user_id],
                    "at": h.created_at.isoformat(),
                }
                for h in history
            ],
            "model": None
            if latest is None
            else {
                "version": latest.version,
                "space": cls.space,
                "collection": col.name,
                "dim": int(latest.weights.size),
                "weights": [round(float(x), 7) for x in latest.weights],
                "bias": latest.bias,
                "score": "x @ weights + bias, x the L2-normalised embedding; > 0 is positive",
            },
        }
