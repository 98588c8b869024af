"""``furet duplicates``: groups of near-identical images of a collection."""

from __future__ import annotations

from typing import Annotated

import typer

from furet.cli.common import CollectionOpt, HomeOpt, JsonOpt, console, open_home, print_json
from furet.domain.duplicates import MIN_COSINE, THRESHOLD
from furet.services.duplicates import find_duplicates


def duplicates(
    collection: CollectionOpt,
    threshold: Annotated[
        float, typer.Option(help="Pixel agreement (correlation of the thumbnails) to keep a pair.")
    ] = THRESHOLD,
    min_cosine: Annotated[
        float, typer.Option(help="Embedding cosine from which neighbours are compared.")
    ] = MIN_COSINE,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Group near-identical images (re-encoded, resized, lightly cropped copies)."""
    furet = open_home(home)
    col = furet.collection(collection)
    found = find_duplicates(col, threshold=threshold, min_cosine=min_cosine)
    infos = furet.catalog.item_infos([i for g in found.groups for i in g])
    groups = [
        [{"item_id": i, "path": infos[i].path} for i in g if i in infos] for g in found.groups
    ]
    if as_json:
        print_json({**found.__dict__, "groups": groups})
        return
    for n, g in enumerate(groups, 1):
        console.print(
            f"group {n}: " + "  ".join(f"{x['item_id']} {x['path']}" for x in g),
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"{collection}: {len(groups)} groups of near-duplicates ({found.candidates} neighbour "
        f"pairs compared, {found.unchecked} without thumbnails)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("duplicates")(duplicates)
