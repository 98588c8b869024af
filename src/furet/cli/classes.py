"""``furet class ...``: teach visual classes from the command line."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.table import Table

from furet.catalog.schema import ClassRow
from furet.cli.common import (
    CollectionOpt,
    HomeOpt,
    JsonOpt,
    UserOpt,
    console,
    err_console,
    open_home,
    print_json,
)
from furet.errors import InvalidInputError, NotFoundError
from furet.library import Furet
from furet.services.learning import Learning, RoundSettings
from furet.services.sharing import SCOPES, Right, Scope, VisibleClass

app = typer.Typer(
    help="Teach visual classes: create, label, run rounds, share, fork. Classes belong to a "
    "user: the CLI acts as 'local' unless --user NAME (or $FURET_USER) names another, such as "
    "the browser account that made them. A class of another user that is shared with you (or "
    "public) is named OWNER/NAME or by its id.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Class name (or OWNER/NAME, or id, if shared).")]


def resolve(furet: Furet, learning: Learning, ref: str, need: Right) -> ClassRow:
    """The class ``ref`` names for this user: one of theirs by name, else OWNER/NAME or an id
    of a class they may see, with the right ``need`` (see ``services.sharing``)."""
    try:
        return learning.get(ref)
    except NotFoundError:
        owner, slash, name = ref.partition("/")
        if ref.isdigit():
            return learning.get_by_id(int(ref), need)
        if not (slash and owner and name):
            raise
    unseen = NotFoundError(
        f"no class {ref!r} that user {learning.sharing.store.user_name(learning.user_id)!r} "
        "may see; list them with: furet class list"
    )
    try:
        row = learning.classes.get_class(learning.sharing.store.user_id(owner), name)
    except NotFoundError:
        raise unseen from None
    try:
        return learning.get_by_id(row.class_id, need)
    except NotFoundError:
        raise unseen from None


def _others(furet: Furet, user: str, name: str | None = None) -> dict[str, int]:
    """The other users with a class (named ``name``), and how many each has."""
    return {u: n for u, n in furet.class_owners(name).items() if u != user}


def _listed(owners: dict[str, int]) -> str:
    return ", ".join(f"{u} ({n})" for u, n in owners.items())


@contextmanager
def named_class(furet: Furet, learning: Learning, name: str, user: str) -> Iterator[None]:
    """A class ``name`` the user does not have, but others do, says whose it is."""
    try:
        yield
    except NotFoundError:
        if any(c.name == name for c in learning.list_classes()):
            raise  # the class was found: something else was not
        others = _others(furet, user, name)
        if not others:
            raise
        raise NotFoundError(
            f"user {user!r} has no class named {name!r}; users with a class of that name: "
            f"{', '.join(others)}. Act as one of them with --user, e.g. --user {next(iter(others))}"
        ) from None


@app.command("create")
def create(
    name: NameArg,
    collection: CollectionOpt,
    from_item: Annotated[list[int] | None, typer.Option(help="First positive item(s).")] = None,
    from_image: Annotated[Path | None, typer.Option(help="First positive image file.")] = None,
    space: Annotated[
        str | None, typer.Option(help="Embedding space (default: ingestion model).")
    ] = None,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Create a class from an image of the collection (or a file)."""
    if not from_item and from_image is None:
        raise InvalidInputError("give --from-item ITEM_ID or --from-image FILE")
    learning = open_home(home).learning(user)
    row = learning.create(
        name, collection, from_items=from_item or [], from_image=from_image, space=space
    )
    if as_json:
        print_json(learning.show(row.name).as_json())
        return
    console.print(
        f"created class {row.name!r} on collection {collection!r}; next: "
        f"furet class round {row.name}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("label")
def label(
    name: NameArg,
    positive: Annotated[list[int] | None, typer.Option(help="Positive item id(s).")] = None,
    negative: Annotated[list[int] | None, typer.Option(help="Negative item id(s).")] = None,
    unlabel: Annotated[list[int] | None, typer.Option(help="Remove the mark of item(s).")] = None,
    spread: Annotated[
        float | None,
        typer.Option(help="Spread marks on video keyframes to their shot within N seconds."),
    ] = None,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Mark items positive or negative (a later mark wins; the history keeps both)."""
    furet = open_home(home)
    learning = furet.learning(user)
    with named_class(furet, learning, name, user):
        cls = resolve(furet, learning, name, "edit")
        labels = learning.label(cls, positive, negative, unlabel, spread)
    pos = sum(1 for v in labels.values() if v > 0)
    if as_json:
        print_json({"class": name, "positives": pos, "negatives": len(labels) - pos})
        return
    console.print(f"{name}: {pos} positive, {len(labels) - pos} negative", highlight=False)


@app.command("round")
def round_(
    name: NameArg,
    mode: Annotated[
        str,
        typer.Option(help="search, most_useful, ambiguous, discovery, refine or classify_random."),
    ] = "search",
    page_size: Annotated[int, typer.Option(help="Items on the page.")] = 15,
    discovery_rate: Annotated[float, typer.Option(help="Discovery: random share.")] = 0.3,
    sampling_min: Annotated[float, typer.Option(help="Discovery: lowest probability.")] = 0.2,
    sampling_max: Annotated[float, typer.Option(help="Discovery: highest probability.")] = 0.8,
    seed: Annotated[int | None, typer.Option(help="Random seed (reproducible pages).")] = None,
    temporal_range: Annotated[
        float, typer.Option(help="Fold video keyframes closer than N seconds.")
    ] = 0.0,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Retrain the class on its marks, rank the collection, show the next page."""
    settings = RoundSettings(
        mode, page_size, discovery_rate, sampling_min, sampling_max, seed, temporal_range
    )
    furet = open_home(home)
    learning = furet.learning(user)
    with named_class(furet, learning, name, user):
        result = learning.round(resolve(furet, learning, name, "edit"), settings)
    if as_json:
        print_json(result.as_json())
        return
    table = Table(
        "item_id",
        "score",
        "p",
        "verdict",
        "mark",
        "path",
        title=f"{name} v{result.version} · {result.mode} · {result.round_ms:.0f} ms",
    )
    for p in result.page:
        mark = {1: "+", -1: "-", 0: ""}[p.label]
        where = p.path if p.kind != "keyframe" else f"{p.path} @ {p.video_time:.2f}s"
        table.add_row(
            str(p.item_id),
            f"{p.score:.3f}",
            f"{p.probability:.2f}",
            "pos" if p.verdict else "neg",
            mark,
            where,
        )
    console.print(table)


@app.command("show")
def show(
    name: NameArg, home: HomeOpt = None, user: UserOpt = "local", as_json: JsonOpt = False
) -> None:
    """Labels, versions and the spot-check estimate of a class."""
    furet = open_home(home)
    learning = furet.learning(user)
    with named_class(furet, learning, name, user):
        s = learning.show(resolve(furet, learning, name, "read"))
    if as_json:
        print_json(s.as_json())
        return
    console.print(
        f"class {s.name} (collection {s.collection}, space {s.space}, {s.visibility})\n"
        f"  {s.positives} positive, {s.negatives} negative, "
        f"{len(s.examples)} external example(s), {len(s.versions)} version(s)",
        highlight=False,
    )
    if s.versions:
        v = s.versions[-1]
        console.print(
            f"  latest: v{v['version']} trained on {v['n_pos']}+/{v['n_neg']}- "
            f"(cv AP {v['cv_score'] if v['cv_score'] is not None else 'n/a'})",
            highlight=False,
        )
    if s.precision is not None:
        p = s.precision
        # NaN: the model called none of the marked spot-checked items positive.
        said = (
            "not enough marks (mark the images the model calls positive on a Classify Random page)"
            if math.isnan(p.value)
            else f"{p.value:.2f} [{p.low:.2f}, {p.high:.2f}] 95% CI"
        )
        console.print(f"  precision (spot-check of {s.spot_checked}): {said}", highlight=False)


ScopeOpt = Annotated[
    str,
    typer.Option(
        help="mine, shared (others' shared with my groups), public (others' public ones) or all."
    ),
]


def _shown_name(v: VisibleClass, user_id: int) -> str:
    """How a command names the class: its name if it is the user's, else OWNER/NAME."""
    return v.name if v.row.owner_id == user_id else f"{v.owner}/{v.name}"


def _sharing_said(v: VisibleClass) -> str:
    parts = [f"{g} ({a})" for g, a in v.groups.items()]
    if v.public:
        parts.append(f"everyone ({v.public})")
    return ", ".join(parts) or "private"


@app.command("list")
def list_(
    home: HomeOpt = None,
    user: UserOpt = "local",
    scope: ScopeOpt = "all",
    as_json: JsonOpt = False,
) -> None:
    """The classes a user may see (see --user): theirs, those shared with their groups, and
    public ones, each with its owner and the user's right on it."""
    if scope not in SCOPES:
        raise InvalidInputError(f"--scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    furet = open_home(home)
    learning = furet.learning(user)
    shown = learning.sharing.visible(scope=cast(Scope, scope))
    summaries = [learning.show(v.row) for v in shown]
    if as_json:
        print_json([{**s.as_json(), **v.as_json()} for s, v in zip(summaries, shown, strict=True)])
        return
    others = _others(furet, user) if not shown and scope in ("all", "mine") else {}
    if others:
        err_console.print(
            f"user {user!r} has no class; other users with classes: {_listed(others)}. "
            f"List theirs with: furet class list --user NAME",
            highlight=False,
            soft_wrap=True,
        )
    forks = any(v.origin for v in shown)
    table = Table("name", "right", "shared with", "collection", "marks", "versions")
    if forks:
        table.add_column("origin")
    for s, v in zip(summaries, shown, strict=True):
        cells = [
            _shown_name(v, learning.user_id),
            v.right,
            _sharing_said(v),
            s.collection,
            f"{s.positives}+ {s.negatives}-",
            str(len(s.versions)),
        ]
        table.add_row(*cells, *([v.origin or ""] if forks else []))
    console.print(table)


GroupOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--group",
        help="G, G:read, G:edit or G:none (removes it); repeat for several groups. Other "
        "groups keep their rights.",
    ),
]


def _group_spec(spec: str) -> tuple[str, str | None]:
    """``G`` or ``G:read|edit|none`` as (group, right or None to remove)."""
    name, colon, right = spec.rpartition(":")
    if not colon or right not in ("read", "edit", "none"):
        name, right = spec, "read"
    if not name.strip():
        raise InvalidInputError(f"--group {spec!r}: give a group name, e.g. --group ina:read")
    return name.strip(), None if right == "none" else right


@app.command("share")
def share(
    name: NameArg,
    group: GroupOpt = None,
    public: Annotated[
        str | None,
        typer.Option(help="What every user may do with it: read, edit, or none."),
    ] = None,
    private: Annotated[
        bool,
        typer.Option("--private", help="Drop every grant (groups and public) first."),
    ] = False,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Share a class with groups (institutions) or everyone, or make it private again; without
    options, say how it is shared. Owner or administrator only."""
    if public is not None and public not in ("read", "edit", "none"):
        raise InvalidInputError(f"--public must be read, edit or none, got {public!r}")
    if private and public not in (None, "none"):
        raise InvalidInputError("give --public or --private, not both")
    furet = open_home(home)
    learning = furet.learning(user)
    with named_class(furet, learning, name, user):
        cls = resolve(furet, learning, name, "own")
    sharing = learning.sharing
    shown = sharing.describe(cls.class_id, "own")
    if group or public is not None or private:
        groups: dict[str, str] = {} if private else dict(shown.groups)
        right = None if private else shown.public
        for spec in group or []:
            g, access = _group_spec(spec)
            if access is None:
                groups.pop(g, None)
            else:
                groups[g] = access
        if public is not None:
            right = None if public == "none" else public
        shown = sharing.share(cls.class_id, groups=groups, public=right)
    if as_json:
        print_json({"class_id": shown.class_id, "name": shown.name, **shown.as_json()})
        return
    console.print(
        f"{_shown_name(shown, learning.user_id)} ({shown.row.visibility}): shared with "
        f"{_sharing_said(shown)}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("fork")
def fork(
    ref: Annotated[str, typer.Argument(help="CLASS_ID or OWNER/NAME of a class you may read.")],
    new_name: Annotated[
        str | None, typer.Option("--as", help="Name of the copy (default: the origin's).")
    ] = None,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Copy a class you may read (its current labels, example images and latest model) into
    your classes, with a link to its origin."""
    if not ref.isdigit() and "/" not in ref:
        raise InvalidInputError(
            f"name the class to fork as CLASS_ID or OWNER/NAME (e.g. alice/{ref}); "
            "see furet class list"
        )
    furet = open_home(home)
    learning = furet.learning(user)
    source = resolve(furet, learning, ref, "read")
    row = learning.sharing.fork(source.class_id, new_name)
    summary = learning.show(row)
    if as_json:
        print_json({**summary.as_json(), "origin": row.origin, "origin_class_id": source.class_id})
        return
    model = f"model v{summary.versions[-1]['version']}" if summary.versions else "no model yet"
    console.print(
        f"forked {row.origin} as {row.name!r} (class {row.class_id}): {summary.positives} "
        f"positive, {summary.negatives} negative, {model}; next: furet class round "
        f"{row.name!r}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("export")
def export(name: NameArg, home: HomeOpt = None, user: UserOpt = "local") -> None:
    """Labels and model of a class, as JSON."""
    furet = open_home(home)
    learning = furet.learning(user)
    with named_class(furet, learning, name, user):
        print_json(learning.export(resolve(furet, learning, name, "read")))
