"""Who may do what with a class: the access layer every class use case goes through.

A class is its owner's. The owner (or an administrator) grants it to groups (institutions),
each with a right, and may give every user a right on it (public):

- ``read``: see it, use it in identify, enrich a collection with it, fork it, export it;
- ``edit``: also label it and run its rounds;
- ``own`` (the owner and administrators): also rename, delete and change its sharing.

A caller's right on a class is the best of what they hold: ownership, the grants to their
groups, the public right. A class the caller may not see answers exactly as an absent one
(404, same message), so that ids of private classes do not leak; one they see but may not
change answers 403, saying which right it takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Literal, get_args

from furet.catalog.classes import ClassCatalog
from furet.catalog.schema import ClassRow
from furet.catalog.sharing import ClassCounts, Grant, ShareCatalog, check_access
from furet.errors import InvalidInputError, NotFoundError, PermissionDeniedError

if TYPE_CHECKING:
    from furet.library import Furet

Right = Literal["read", "edit", "own"]
#: What a grant may give: ownership is never granted.
Access = Literal["read", "edit"]
#: Which classes a listing shows: the caller's, those shared with their groups, public ones,
#: or every class they may see.
Scope = Literal["mine", "shared", "public", "all"]
SCOPES: tuple[str, ...] = get_args(Scope)


class Keep(Enum):
    """An argument left out: what it sets stays as it is."""

    KEEP = "keep"


_RANK: dict[str, int] = {"read": 1, "edit": 2, "own": 3}
_WHAT = {
    "read": "see it",
    "edit": "label it and run its rounds",
    "own": "rename it, delete it or change its sharing",
}


def at_least(right: str | None, need: str) -> bool:
    """Whether ``right`` allows what ``need`` does."""
    return right is not None and _RANK[right] >= _RANK[need]


def best(*rights: str | None) -> Right | None:
    """The strongest of ``rights`` (None when there is none)."""
    held = [r for r in rights if r is not None]
    if not held:
        return None
    top = max(held, key=_RANK.__getitem__)
    return top  # type: ignore[return-value]


@dataclass(frozen=True)
class VisibleClass:
    """A class the caller may see, with the caller's right on it and why others see it."""

    row: ClassRow
    right: Right
    owner: str
    #: group name -> right: every grant for the owner and administrators; for anyone else,
    #: the grants to their own groups only.
    groups: dict[str, str]
    public: str | None
    #: "owner/name" of the class this one was forked from.
    origin: str | None

    @property
    def class_id(self) -> int:
        return self.row.class_id

    @property
    def name(self) -> str:
        return self.row.name

    def as_json(self) -> dict[str, object]:
        return {
            "right": self.right,
            "owner": self.owner,
            "visibility": self.row.visibility,
            "groups": dict(self.groups),
            "public": self.public,
            "origin": self.origin,
            "origin_class_id": self.row.origin_class_id,
        }


class Sharing:
    """The classes one user may see and what they may do with them."""

    def __init__(self, home: Furet, user_id: int, *, is_admin: bool = False):
        self.home = home
        self.user_id = user_id
        self.is_admin = is_admin
        self.classes = ClassCatalog(home.catalog.sessions)
        self.store = ShareCatalog(home.catalog.sessions)
        self._groups: frozenset[int] | None = None

    @classmethod
    def of(cls, home: Furet, user_id: int) -> Sharing:
        """For ``user_id``, an administrator or not as the catalog says (the CLI's users)."""
        return cls(home, user_id, is_admin=ShareCatalog(home.catalog.sessions).is_admin(user_id))

    @property
    def my_groups(self) -> frozenset[int]:
        """Ids of the caller's groups (read once per ``Sharing``)."""
        if self._groups is None:
            self._groups = self.store.groups_of(self.user_id)
        return self._groups

    # -- rights ------------------------------------------------------------------------------

    def _right_on(self, row: ClassRow, grants: tuple[Grant, ...] | None = None) -> Right | None:
        """``grants``: the class's, when already read (else read only if they matter)."""
        if self.is_admin or row.owner_id == self.user_id:
            return "own"
        if grants is None:
            grants = self.store.grants(row.class_id)
        mine = self.my_groups
        return best(row.public_right, *(g.access for g in grants if g.group_id in mine))

    def right(self, class_id: int) -> Right | None:
        """The caller's right on ``class_id``; None when they may not see it (or it is absent)."""
        try:
            row = self.classes.get_class_by_id(class_id)
        except NotFoundError:
            return None
        return self._right_on(row)

    def require(self, class_id: int, need: Right) -> ClassRow:
        """The class ``class_id`` if the caller's right allows ``need``.

        NotFoundError when they may not see it (the same as an absent class);
        PermissionDeniedError when they see it with too weak a right."""
        try:
            row = self.classes.get_class_by_id(class_id)
        except NotFoundError:
            row = None
        right = None if row is None else self._right_on(row)
        if row is None or right is None:
            raise NotFoundError(
                f"you have no class {class_id}, and none you may see has that id; list those "
                "you may see with GET /v1/classes (or: furet class list)"
            )
        if not at_least(right, need):
            owner = self.store.user_name(row.owner_id)
            if need == "own":
                ask = f"only its owner {owner} or an administrator may {_WHAT[need]}"
            else:
                ask = (
                    f"ask {owner} for the {need} right (to {_WHAT[need]}), or fork it to make "
                    f"your own copy (POST /v1/classes/{class_id}/fork, or: furet class fork "
                    f"{owner}/{row.name})"
                )
            raise PermissionDeniedError(
                f"you may {right} class {class_id} ({owner}/{row.name}); {ask}"
            )
        return row

    # -- listings ----------------------------------------------------------------------------

    def _visible(self, row: ClassRow, owner: str, grants: tuple[Grant, ...]) -> VisibleClass:
        right = self._right_on(row, grants)
        assert right is not None
        if right == "own":
            groups = {g.group: g.access for g in grants}
        else:
            groups = {g.group: g.access for g in grants if g.group_id in self.my_groups}
        return VisibleClass(row, right, owner, groups, row.public_right, row.origin)

    def describe(self, class_id: int, need: Right = "read") -> VisibleClass:
        """The class ``class_id`` as :meth:`visible` lists it (after :meth:`require`)."""
        row = self.require(class_id, need)
        return self._visible(row, self.store.user_name(row.owner_id), self.store.grants(class_id))

    def visible(
        self, collection_id: int | None = None, *, scope: Scope = "all"
    ) -> list[VisibleClass]:
        """Every class the caller may see (on ``collection_id`` if given): theirs first by name,
        then the others by owner and name. An administrator sees every class.

        ``scope``: ``mine`` (owned), ``shared`` (others' granted to one of the caller's
        groups), ``public`` (others' with a public right), ``all``."""
        if scope not in SCOPES:
            raise InvalidInputError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        rows = self.store.visible_rows(
            self.user_id, is_admin=self.is_admin, collection_id=collection_id
        )
        out = []
        for row, owner, grants in rows:
            mine = row.owner_id == self.user_id
            if scope == "mine" and not mine:
                continue
            if scope == "public" and (mine or row.public_right is None):
                continue
            if scope == "shared" and (
                mine or not any(g.group_id in self.my_groups for g in grants)
            ):
                continue
            out.append(self._visible(row, owner, grants))
        return out

    def counts(self, classes: list[VisibleClass]) -> dict[int, ClassCounts]:
        """Marks and versions of each listed class, in a few statements for the whole list."""
        return self.store.counts(c.class_id for c in classes)

    # -- changes -----------------------------------------------------------------------------

    def share(
        self,
        class_id: int,
        *,
        groups: Mapping[str, str] | None = None,
        public: str | Keep | None = Keep.KEEP,
    ) -> VisibleClass:
        """Grant the class to exactly ``groups`` (group name -> 'read' | 'edit'; {} for none)
        and set its public right ('read', 'edit' or None: not public); either left out stays
        as it is. Owner or admin only. Takes effect from the next request of every server
        process."""
        self.require(class_id, "own")
        if groups is None or public is Keep.KEEP:
            now = self.describe(class_id, "own")
            groups = now.groups if groups is None else groups
            public = now.public if public is Keep.KEEP else public
        clean = {
            str(name).strip(): check_access(a, f"the right of group {name!r}")
            for name, a in groups.items()
        }
        if any(not name for name in clean):
            raise InvalidInputError("a group name may not be empty")
        self.store.set_sharing(class_id, clean, public, self.user_id)
        return self.describe(class_id)

    def fork(self, class_id: int, name: str | None = None) -> ClassRow:
        """A copy of a class the caller may read, as a new class of theirs: its current labels
        (each with who made it), example images and latest model version, with a link to its
        origin. Without ``name`` the copy takes the origin's name (``NAME (fork)`` when the
        caller has one so named)."""
        source = self.require(class_id, "read")
        origin = f"{self.store.user_name(source.owner_id)}/{source.name}"
        return self.store.copy_class(
            class_id,
            self.user_id,
            name if name is not None else source.name,
            origin,
            exact_name=name is not None,
        )
