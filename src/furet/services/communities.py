"""User communities: the users and groups whose classes are closest to mine, and the users who
made classes like one class ("Découverte de communautés d'utilisateurs").

Built on the class resemblance of ``domain.resemblance`` and the closeness of
``domain.communities``, over the classes the caller may read only: a private class of another
user never counts, and one shared with a group counts for that group's members only. A
group's classes are those its members own (that the caller may read); classes are compared
within their embedding space.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from furet.catalog.schema import GroupRow, MembershipRow
from furet.domain.communities import Closeness, closeness
from furet.domain.resemblance import RELATED, resemblance
from furet.errors import InvalidInputError
from furet.services.discovery import MAX_LIMIT, ClassRef, Discovery
from furet.services.profiles import Profiled

if TYPE_CHECKING:
    from furet.library import Furet


@dataclass(frozen=True)
class ClassPair:
    """One of my classes (or the class asked about), a class of theirs, their resemblance."""

    mine: ClassRef
    theirs: ClassRef
    score: float

    def as_json(self) -> dict[str, object]:
        return {
            "mine": self.mine.as_json(),
            "theirs": self.theirs.as_json(),
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Neighbour:
    """A user or group close to the query, with the class pairs that make it so (best first).

    ``score``: the mean over the query's classes of the best related resemblance with one of
    theirs; ``classes``: how many of their classes were compared."""

    kind: str  # "user" | "group"
    id: int
    name: str
    score: float
    pairs: list[ClassPair]
    classes: int

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "score": round(self.score, 4),
            "classes": self.classes,
            "pairs": [p.as_json() for p in self.pairs],
        }


@dataclass
class Community:
    """The neighbours of a user or a class; ``compared``: the query's classes and theirs that
    were compared; ``skipped``: classes that could not be (untrained, without positives)."""

    query: dict[str, object]
    users: list[Neighbour]
    groups: list[Neighbour]
    compared: dict[str, int]
    skipped: dict[str, int]
    #: The class asked about (a ``class`` query), shown as ``query.class``.
    source: ClassRef | None = None

    def as_json(self) -> dict[str, object]:
        query = dict(self.query)
        if self.source is not None:
            query["class"] = self.source.as_json()
        return {
            "query": query,
            "users": [n.as_json() for n in self.users],
            "groups": [n.as_json() for n in self.groups],
            "compared": dict(self.compared),
            "skipped": dict(self.skipped),
        }


def _matrix(mine: Sequence[Profiled], theirs: Sequence[Profiled]) -> np.ndarray:
    """``(len(mine), len(theirs))`` resemblances; -inf between classes of different spaces."""
    r = np.full((len(mine), len(theirs)), -np.inf)
    for space in {p.space for p in mine} & {p.space for p in theirs}:
        rows = [i for i, p in enumerate(mine) if p.space == space]
        cols = [j for j, p in enumerate(theirs) if p.space == space]
        block = resemblance([mine[i].profile for i in rows], [theirs[j].profile for j in cols])
        r[np.ix_(rows, cols)] = block
    return r


class Communities:
    """Communities seen by one user (``is_admin``: an administrator may read every class)."""

    def __init__(self, home: Furet, user_id: int, *, is_admin: bool = False):
        self.home = home
        self.user_id = user_id
        self.discovery = Discovery(home, user_id, is_admin=is_admin)

    @classmethod
    def of(cls, home: Furet, user_id: int) -> Communities:
        """For ``user_id``, an administrator or not as the catalog says (the CLI's users)."""
        return cls(home, user_id, is_admin=Discovery.of(home, user_id).sharing.is_admin)

    def of_user(self, *, limit: int = 10, min_score: float = RELATED) -> Community:
        """The users and groups whose classes are closest to the caller's."""
        _check(limit)
        found = self.discovery.candidates(None, include_mine=True)
        mine = [p for p in found.profiled if p.visible.row.owner_id == self.user_id]
        theirs = [p for p in found.profiled if p.visible.row.owner_id != self.user_id]
        name = self.discovery.sharing.store.user_name(self.user_id)
        query: dict[str, object] = {"kind": "user", "user_id": self.user_id, "name": name}
        skipped = {"untrained": found.untrained, "without_positives": found.without_positives}
        return self._rank(query, mine, theirs, limit, min_score, skipped)

    def of_class(self, class_id: int, *, limit: int = 10, min_score: float = RELATED) -> Community:
        """The users (and groups) who made classes like ``class_id`` (one the caller may
        read), its owner aside."""
        _check(limit)
        source = self.discovery.profile_of(class_id)
        owner = source.visible.row.owner_id
        found = self.discovery.candidates(None, include_mine=True)
        theirs = [p for p in found.profiled if p.visible.row.owner_id != owner]
        query: dict[str, object] = {"kind": "class", "class_id": class_id}
        skipped = {"untrained": found.untrained, "without_positives": found.without_positives}
        community = self._rank(query, [source], theirs, limit, min_score, skipped)
        community.source = ClassRef.of(source, self.user_id)
        return community

    def _rank(
        self,
        query: dict[str, object],
        mine: list[Profiled],
        theirs: list[Profiled],
        limit: int,
        min_score: float,
        skipped: dict[str, int],
    ) -> Community:
        r = _matrix(mine, theirs)
        owners = [p.visible.row.owner_id for p in theirs]
        names = self.discovery.sharing.store.user_names(owners)
        per_user = Counter(owners)
        users = [
            self._neighbour("user", c, names[c.who], mine, theirs, None, per_user[c.who])
            for c in closeness(r, owners, min_score)[:limit]
        ]
        # A class counts for every group its owner belongs to: one column per (group, class).
        membership = self._groups_of(set(owners))
        columns: list[int] = []
        keys: list[int] = []
        group_names: dict[int, str] = {}
        for j, owner in enumerate(owners):
            for group_id, group in membership.get(owner, []):
                columns.append(j)
                keys.append(group_id)
                group_names[group_id] = group
        per_group = Counter(keys)
        groups = [
            self._neighbour("group", c, group_names[c.who], mine, theirs, columns, per_group[c.who])
            for c in closeness(r[:, columns], keys, min_score)[:limit]
        ]
        compared = {"mine": len(mine), "theirs": len(theirs)}
        return Community(query, users, groups, compared, {k: v for k, v in skipped.items() if v})

    def _neighbour(
        self,
        kind: str,
        c: Closeness[int],
        name: str,
        mine: list[Profiled],
        theirs: list[Profiled],
        columns: list[int] | None,
        count: int,
    ) -> Neighbour:
        """``columns``: the class (index into ``theirs``) of each column of ``c``'s matrix
        (None: the columns are ``theirs``)."""
        pairs = [
            ClassPair(
                ClassRef.of(mine[link.mine], self.user_id),
                ClassRef.of(
                    theirs[link.theirs if columns is None else columns[link.theirs]],
                    self.user_id,
                ),
                link.score,
            )
            for link in c.links
        ]
        return Neighbour(kind, int(c.who), name, c.score, pairs, count)

    def _groups_of(self, user_ids: set[int]) -> dict[int, list[tuple[int, str]]]:
        """User id -> the (group id, name) of each group the user belongs to."""
        out: dict[int, list[tuple[int, str]]] = {}
        if not user_ids:
            return out
        q = (
            select(MembershipRow.user_id, GroupRow.group_id, GroupRow.name)
            .join(GroupRow, GroupRow.group_id == MembershipRow.group_id)
            .where(MembershipRow.user_id.in_(sorted(user_ids)))
            .order_by(GroupRow.name)
        )
        with self.home.catalog.sessions() as s:
            for user_id, group_id, name in s.execute(q):
                out.setdefault(int(user_id), []).append((int(group_id), str(name)))
        return out


def _check(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
