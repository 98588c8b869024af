"""Communities of users: who made classes close to mine, from class-to-class resemblances.

The closeness of another user (or group) to me is the mean, over my classes, of the best
resemblance between that class and one of theirs, counting only *related* pairs (resemblance at
least ``min_score``; an unrelated class adds 0). So a user who taught the same concepts as I
did comes first, one class in common counts for more than many weak likenesses, and their
number of classes does not inflate it (only the best of theirs for each of mine counts).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from furet.errors import InvalidInputError

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Link:
    """A related pair: row ``mine`` and column ``theirs`` of the resemblance matrix."""

    mine: int
    theirs: int
    score: float


@dataclass(frozen=True)
class Closeness(Generic[K]):
    """How close ``who`` is, and the related pairs that make it so (best first)."""

    who: K
    score: float
    links: list[Link]


def closeness(r: np.ndarray, owners: Sequence[K], min_score: float) -> list[Closeness[K]]:
    """Rank the owners of the columns of ``r`` (``(mine, theirs)`` resemblances; column ``j``
    is a class of ``owners[j]``) by closeness to the rows; owners without any related pair are
    left out. Ties keep the order owners first appear in."""
    r = np.asarray(r, np.float64)
    if r.ndim != 2 or r.shape[1] != len(owners):
        raise InvalidInputError(f"{len(owners)} owners for a resemblance matrix {r.shape}")
    if r.shape[0] == 0:
        return []
    columns: dict[K, list[int]] = {}
    for j, who in enumerate(owners):
        columns.setdefault(who, []).append(j)
    out: list[Closeness[K]] = []
    for who, cols in columns.items():
        block = r[:, cols]
        best = block.argmax(axis=1)
        links = [
            Link(i, cols[int(j)], float(block[i, j]))
            for i, j in enumerate(best)
            if block[i, j] >= min_score
        ]
        if links:
            total = sum(link.score for link in links)
            links.sort(key=lambda link: -link.score)
            out.append(Closeness(who, total / r.shape[0], links))
    out.sort(key=lambda c: -c.score)  # stable: first-seen order among ties
    return out
