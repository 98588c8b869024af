"""``furet discover`` and ``furet community``: the classes others made that fire on an image, an
item or resemble a class, and the users and groups whose classes are closest to a user's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from furet.cli.common import HomeOpt, JsonOpt, UserOpt, console, open_home, print_json
from furet.domain.resemblance import RELATED
from furet.errors import InvalidInputError, NotFoundError
from furet.library import Furet
from furet.services.communities import Communities, Community
from furet.services.discovery import Discovery, DiscoveryResult, FiringEvidence
from furet.services.sharing import Sharing

ClassOpt = Annotated[
    str | None,
    typer.Option(
        "--class",
        help="A class of yours by name, or another's you may read as OWNER/NAME.",
    ),
]
LimitOpt = Annotated[int, typer.Option(min=1, max=100, help="Most classes or neighbours.")]
MinScoreOpt = Annotated[
    float,
    typer.Option(
        help="Least resemblance between two classes (1: as high as on its own positives).",
    ),
]


def resolve_class(furet: Furet, user_id: int, name: str) -> int:
    """The id of the class ``name`` (the user's) or ``OWNER/NAME`` (one they may read)."""
    owner, sep, short = name.rpartition("/")
    if not sep:
        return furet.learning(user_id=user_id).get(name).class_id
    for visible in Sharing.of(furet, user_id).visible():
        if visible.owner == owner and visible.name == short:
            return visible.class_id
    raise NotFoundError(
        f"no class {name!r} that you may read; list them with: furet class list --user USER"
    )


def _shared(groups: dict[str, str], public: str | None) -> str:
    parts = [f"{g} ({r})" for g, r in groups.items()]
    if public is not None:
        parts.append(f"public ({public})")
    return ", ".join(parts) or "private"


def _print_discovery(result: DiscoveryResult) -> None:
    if not result.results:
        skipped = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in result.skipped.items())
        console.print(
            f"no class found among the {result.compared} compared"
            + (f" (skipped: {skipped})" if skipped else ""),
            highlight=False,
        )
        return
    firing = isinstance(result.results[0].evidence, FiringEvidence)
    table = Table("#", "class", "id", "right", "shared", "score", "evidence", "you may")
    for rank, found in enumerate(result.results, 1):
        ref, ev = found.cls, found.evidence
        if isinstance(ev, FiringEvidence):
            shown = f"p={ev.probability:.2f}, top {100 * (1 - ev.percentile):.1f}%"
        else:
            shown = f"{ev.theirs_on_mine:.2f} / {ev.mine_on_theirs:.2f}"
            if ev.top_overlap is not None:
                shown += f", top {ev.top_k} overlap {ev.top_overlap:.0%}"
        table.add_row(
            str(rank),
            f"{ref.owner}/{ref.name}",
            str(ref.class_id),
            ref.right,
            _shared(ref.groups, ref.public),
            f"{found.score:.2f}",
            shown,
            ", ".join(ref.actions),
        )
    console.print(table)
    what = (
        "score: standard deviations above the class's mean on its collection"
        if firing
        else "score: resemblance (theirs on your positives / yours on theirs, relative to "
        "each class on its own positives)"
    )
    console.print(f"{what}; fork one with POST /v1/classes/ID/fork", highlight=False)


def discover(
    image: Annotated[Path | None, typer.Option(help="An image file.")] = None,
    item: Annotated[int | None, typer.Option(help="An item id.")] = None,
    class_name: ClassOpt = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Only classes of this collection.")
    ] = None,
    include_mine: Annotated[bool, typer.Option(help="Also your own classes.")] = False,
    limit: LimitOpt = 10,
    min_score: MinScoreOpt = RELATED,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """The classes others made (shared with your groups, or public) that fire on an image or
    an item, or that resemble one of your classes, best first."""
    if sum(x is not None for x in (image, item, class_name)) != 1:
        raise InvalidInputError("give one of --image FILE, --item ID or --class NAME")
    furet = open_home(home)
    user_id = furet.learning(user).user_id
    discovery = Discovery.of(furet, user_id)
    if image is not None:
        result = discovery.image(
            [image], collection=collection, include_mine=include_mine, limit=limit
        )
    elif item is not None:
        result = discovery.item(item, collection=collection, include_mine=include_mine, limit=limit)
    else:
        assert class_name is not None
        class_id = resolve_class(furet, user_id, class_name)
        result = discovery.similar_classes(
            class_id,
            collection=collection,
            include_mine=include_mine,
            limit=limit,
            min_score=min_score,
        )
    if as_json:
        print_json(result.as_json())
        return
    _print_discovery(result)


def _print_community(community: Community) -> None:
    if not community.users and not community.groups:
        mine = community.compared.get("mine", 0)
        why = (
            "you have no trained class yet: teach one (furet class round NAME) first"
            if mine == 0
            else f"no class you may read is related to the {mine} compared"
        )
        console.print(f"no neighbour: {why}", highlight=False)
        return
    table = Table("kind", "who", "score", "classes", "closest pairs (yours ~ theirs)")
    for n in community.users + community.groups:
        pairs = "; ".join(
            f"{p.mine.name} ~ {p.theirs.owner}/{p.theirs.name} ({p.score:.2f})" for p in n.pairs[:3]
        )
        table.add_row(n.kind, n.name, f"{n.score:.2f}", str(n.classes), pairs)
    console.print(table)


def community(
    class_name: ClassOpt = None,
    limit: LimitOpt = 10,
    min_score: MinScoreOpt = RELATED,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """The users and groups whose classes are closest to yours (or, with --class, who made
    classes like that one), with the class pairs that make them close."""
    furet = open_home(home)
    user_id = furet.learning(user).user_id
    communities = Communities.of(furet, user_id)
    if class_name is not None:
        class_id = resolve_class(furet, user_id, class_name)
        result = communities.of_class(class_id, limit=limit, min_score=min_score)
    else:
        result = communities.of_user(limit=limit, min_score=min_score)
    if as_json:
        print_json(result.as_json())
        return
    _print_community(result)


def register(app: typer.Typer) -> None:
    """Add ``discover`` and ``community`` to the ``furet`` command line."""
    app.command()(discover)
    app.command()(community)
