"""``furet import`` and ``furet export embeddings``: embeddings in clip-retrieval's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from furet.cli.common import (
    CollectionOpt,
    HomeOpt,
    JsonOpt,
    console,
    err_console,
    open_home,
    print_json,
    progress_bar,
)


def import_embeddings(
    collection: CollectionOpt,
    embeddings: Annotated[
        Path,
        typer.Option(
            help="Folder with img_emb/img_emb_N.npy and metadata/metadata_N.parquet "
            "(image_path, optional url and caption), as clip-retrieval writes them."
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help="The model that made the vectors (default: the collection's, or lite0-pn)."
        ),
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Index embeddings made elsewhere, without decoding an image (resumable: paths the
    collection already has are skipped)."""
    furet = open_home(home)
    with progress_bar("import", "{:.0f} rows/s", quiet=as_json) as progress:
        report = furet.import_embeddings(collection, embeddings, model=model, progress=progress)
    if as_json:
        print_json(report.__dict__)
        return
    console.print(
        f"{report.collection}: {report.rows} rows in {report.shards} shards, {report.imported} "
        f"imported, {report.skipped} already there, in {report.seconds:.1f} s ({report.model})",
        highlight=False,
        soft_wrap=True,
    )
    for warning in report.warnings:
        err_console.print(f"note: {warning}", highlight=False, soft_wrap=True)


def export_embeddings(
    collection: CollectionOpt,
    folder: Annotated[Path, typer.Argument(help="A new (or empty) folder to write.")],
    space: Annotated[
        str | None, typer.Option(help="Embedding space (default: the collection's model).")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a space's vectors and paths in clip-retrieval's layout (``furet import`` reads it)."""
    col = open_home(home).collection(collection)
    with progress_bar("export", "{:.0f} rows/s", quiet=as_json) as progress:
        rows = col.export_embeddings(folder, space, progress)
    out = {
        "collection": collection,
        "space": space or col.model,
        "rows": rows,
        "folder": str(folder),
    }
    if as_json:
        print_json(out)
        return
    console.print(
        f"{collection}: {rows} vectors ({out['space']}) written to {folder}", highlight=False
    )


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``furet import`` and ``furet export embeddings``."""
    app.command("import")(import_embeddings)
    export_app.command("embeddings")(export_embeddings)
