"""Simulated institutions: users in groups, each teaching one label with the simulated
documentalist (``services.teaching``) and sharing the class with their group or the public.

The scenario of the discovery and communities checks (issue 13): the labels of a labelled
collection, each taught by its own user, users spread over a few groups, every class readable
by a curator who belongs to all of them. Everything goes through the real services (accounts,
learning, sharing), so the classes are ordinary catalog classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from furet.catalog.accounts import AccountStore
from furet.errors import NotFoundError
from furet.services.sharing import Sharing
from furet.services.teaching import TaughtClass, TeachingPlan, teach

if TYPE_CHECKING:
    from furet.library import Furet

GROUPS = ("ina", "bnf", "mnhn")
Audience = Literal["public", "group", "private"]


@dataclass(frozen=True)
class Teacher:
    """A user of ``group`` who taught ``label`` as class ``class_id``, shared to ``audience``."""

    user: str
    user_id: int
    group: str
    label: str
    class_id: int
    audience: Audience
    taught: TaughtClass


def plan_for(index: int, seed: int = 0) -> TeachingPlan:
    """Teachers differ: 3 to 5 rounds of Search, seeds of their own."""
    return TeachingPlan(rounds=3 + index % 3, batch=15, spot_checks=1, seed=seed + index)


def alternate(index: int) -> Audience:
    """Every other class public, the others shared with their owner's group."""
    return "public" if index % 2 == 0 else "group"


def account(home: Furet, name: str, groups: Sequence[str]) -> int:
    """The user ``name`` (created without a password, as CLI users are) in ``groups``."""
    accounts = AccountStore(home.catalog.sessions)
    try:
        user_id = accounts.find(name).user_id
    except NotFoundError:
        return accounts.create_user(name, None, groups=list(groups)).user_id
    accounts.update_user(user_id, groups=list(groups))
    return user_id


def share(home: Furet, user_id: int, class_id: int, group: str, audience: Audience) -> None:
    """Share a class of ``user_id`` with ``group`` (read), the public (read) or no one."""
    groups = {group: "read"} if audience == "group" else {}
    public = "read" if audience == "public" else None
    Sharing(home, user_id).share(class_id, groups=groups, public=public)


def teach_labels(
    home: Furet,
    collection: str,
    truth: Mapping[int, str],
    labels: Sequence[str],
    *,
    prefix: str = "teacher",
    groups: Sequence[str] = GROUPS,
    plan: Callable[[int], TeachingPlan] = plan_for,
    audience: Callable[[int], Audience] = alternate,
) -> list[Teacher]:
    """One user per label (``{prefix}-{label}``), the ``j``-th in group ``groups[j % G]``,
    teaching it with ``plan(j)`` and sharing it to ``audience(j)``."""
    out = []
    for j, label in enumerate(labels):
        user, group = f"{prefix}-{label}", groups[j % len(groups)]
        user_id = account(home, user, [group])
        taught = teach(home.learning(user, user_id=user_id), collection, truth, label, plan=plan(j))
        share(home, user_id, taught.row.class_id, group, audience(j))
        out.append(Teacher(user, user_id, group, label, taught.row.class_id, audience(j), taught))
    return out
