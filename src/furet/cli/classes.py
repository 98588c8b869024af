"""``furet class ...``: teach visual classes from the command line."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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

app = typer.Typer(
    help="Teach visual classes: create, label, run rounds. Classes belong to a user: the CLI "
    "acts as 'local' unless --user NAME (or $FURET_USER) names another, such as the browser "
    "account that made them.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Class name.")]


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
        labels = learning.label(name, positive, negative, unlabel, spread)
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
        result = learning.round(name, settings)
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
        s = learning.show(name)
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


@app.command("list")
def list_(home: HomeOpt = None, user: UserOpt = "local", as_json: JsonOpt = False) -> None:
    """The classes of a user (see --user)."""
    furet = open_home(home)
    learning = furet.learning(user)
    summaries = [learning.show(c.name) for c in learning.list_classes()]
    if as_json:
        print_json([s.as_json() for s in summaries])
        return
    others = _others(furet, user) if not summaries else {}
    if others:
        err_console.print(
            f"user {user!r} has no class; other users with classes: {_listed(others)}. "
            f"List theirs with: furet class list --user NAME",
            highlight=False,
            soft_wrap=True,
        )
    table = Table("name", "collection", "positives", "negatives", "versions")
    for s in summaries:
        table.add_row(
            s.name, s.collection, str(s.positives), str(s.negatives), str(len(s.versions))
        )
    console.print(table)


@app.command("export")
def export(name: NameArg, home: HomeOpt = None, user: UserOpt = "local") -> None:
    """Labels and model of a class, as JSON."""
    furet = open_home(home)
    learning = furet.learning(user)
    with named_class(furet, learning, name, user):
        print_json(learning.export(name))
