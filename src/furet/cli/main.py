"""The ``furet`` command line: parses, calls the Python API, renders. No logic here."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from furet.cli import classes, discover, duplicates, embeddings, enrich, users
from furet.cli.common import (
    CollectionOpt,
    HomeOpt,
    JsonOpt,
    UserOpt,
    console,
    err_console,
    open_home,
    print_json,
    progress_bar,
    state,
)
from furet.errors import FuretError
from furet.services.evaluation import evaluate as run_evaluation

app = typer.Typer(
    help="furet: large-scale visual search and interactive learning of visual classes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(classes.app, name="class")
app.add_typer(users.app, name="user")
app.command()(users.serve)
enrich.register(app)  # furet enrich, furet tags ...
discover.register(app)  # furet discover, furet community
export_app = typer.Typer(
    help="Export what classes found, or a collection's embeddings.", no_args_is_help=True
)
app.add_typer(export_app, name="export")
embeddings.register(app, export_app)  # furet import, furet export embeddings
duplicates.register(app)  # furet duplicates


@app.callback()
def main_options(
    home: HomeOpt = None,
    device: Annotated[
        str | None, typer.Option(help="cpu or cuda (default: $FURET_DEVICE or cpu).")
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option(help="Folder of local model weights (default: $FURET_MODEL_DIR)."),
    ] = None,
) -> None:
    state.home, state.device, state.model_path = home, device, model_path


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive).")],
    collection: CollectionOpt,
    model: Annotated[
        str | None, typer.Option(help="Embedder (default lite0-pn: lite0, power-normalised).")
    ] = None,
    prune: Annotated[bool, typer.Option(help="Forget files that no longer exist.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Index the images under PATHS into a collection (incremental and resumable).

    The collection is created by its first ingest; one that fails creates nothing."""
    furet = open_home(home)
    with progress_bar("ingest", "{:.1f} files/s", quiet=as_json) as progress:
        report = furet.ingest(collection, paths, model=model, prune=prune, progress=progress)
    if as_json:
        print_json(
            {
                **report.__dict__,
                "failed": [list(f) for f in report.failed],
                "space_errors": [list(e) for e in report.space_errors],
                "graph_notes": [list(e) for e in report.graph_notes],
            }
        )
        if report.space_errors:
            raise typer.Exit(1)
        return
    for path, reason in report.failed:
        err_console.print(f"[yellow]skipped[/] {path}: {reason}", highlight=False, soft_wrap=True)
    console.print(
        f"{report.collection}: {report.scanned} files scanned, {report.added} added, "
        f"{report.updated} updated, {report.unchanged} unchanged, {report.removed} removed, "
        f"{len(report.failed)} failed; {report.items_added} items in {report.seconds:.1f} s "
        f"({report.images_per_second:.1f} items/s)",
        highlight=False,
        soft_wrap=True,
    )
    if report.failed:
        console.print(f"list the failures with: furet errors --collection {collection}")
    for space, reason in report.graph_notes:
        console.print(
            f"note: space {space} has no k-NN graph ({reason}): its rounds rank by the model "
            "alone (FURET_GRAPH_MAX_ITEMS raises the limit)",
            highlight=False,
            soft_wrap=True,
        )
    for space, reason in report.space_errors:
        err_console.print(
            f"[red]error:[/] space {space} was not updated: {reason}\n"
            f"  once fixed, the next ingest (or: furet embed --collection {collection} "
            f"--model {space}) embeds what it is missing",
            highlight=False,
            soft_wrap=True,
        )
    if report.space_errors:
        raise typer.Exit(1)


@app.command()
def search(
    collection: CollectionOpt,
    image: Annotated[Path | None, typer.Option(help="Query image file.")] = None,
    item: Annotated[list[int] | None, typer.Option(help="Query item id (repeatable).")] = None,
    text: Annotated[str | None, typer.Option(help="Text query (spaces with a text tower).")] = None,
    space: Annotated[
        str | None, typer.Option(help="Embedding space (default: ingestion model).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 20,
    temporal_range: Annotated[
        float, typer.Option(help="Fold video keyframes closer than this many seconds.")
    ] = 0.0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Exact cosine search by an image or item(s) of the collection."""
    if image is None and not item and text is None:
        raise FuretError("give --image FILE, --item ITEM_ID or --text TEXT")
    hits = (
        open_home(home)
        .collection(collection)
        .search(
            image=image,
            item_ids=item or [],
            k=k,
            temporal_range=temporal_range,
            text=text,
            space=space,
        )
    )
    if as_json:
        print_json([h.as_json() for h in hits])
        return
    table = Table("rank", "item_id", "score", "path")
    for rank, h in enumerate(hits, 1):
        where = h.path
        if h.kind == "keyframe":
            where += f" @ {h.video_time:.2f}s (shot {h.shot}, +{h.folded} folded)"
        table.add_row(str(rank), str(h.item_id), f"{h.score:.4f}", where)
    console.print(table)


@app.command()
def embed(
    collection: CollectionOpt,
    model: Annotated[str, typer.Option(help="Embedder of the new space (see furet models).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an embedding space to a collection: re-embed its items from the original files."""
    col = open_home(home).collection(collection)
    done = col.add_space(model)
    info = col.info()
    if as_json:
        print_json(
            {"collection": collection, "model": model, "embedded": done, "spaces": info.spaces}
        )
        return
    console.print(
        f"{collection}: {done} items embedded with {model}; spaces: {', '.join(info.spaces)}",
        highlight=False,
    )


@app.command()
def collections(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List the collections of the data home."""
    infos = [c.info() for c in open_home(home).collections()]
    if as_json:
        print_json([i.as_json() for i in infos])
        return
    table = Table("name", "model", "items", "errors", "disk")
    for i in infos:
        table.add_row(i.name, i.model, str(i.items), str(i.errors), human_bytes(i.disk_bytes))
    console.print(table)


@app.command()
def info(collection: CollectionOpt, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Items, errors, model and disk size of a collection."""
    i = open_home(home).collection(collection).info()
    if as_json:
        print_json(i.as_json())
        return
    console.print(
        f"collection {i.name}\n  model   {i.model}\n  items   {i.items}\n  files   {i.files}\n"
        f"  errors  {i.errors}\n  disk    {human_bytes(i.disk_bytes)}",
        highlight=False,
    )


@app.command()
def errors(collection: CollectionOpt, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Files that could not be ingested, with the reason."""
    errs = open_home(home).collection(collection).errors()
    if as_json:
        print_json([{"path": p, "reason": r} for p, r in errs])
        return
    for path, reason in errs:
        console.print(f"{path}\t{reason}", highlight=False, soft_wrap=True)
    console.print(f"{len(errs)} file(s) in error", highlight=False)


@app.command()
def models(as_json: JsonOpt = False) -> None:
    """The registered embedders."""
    from furet.embedders import list_embedders

    specs = list_embedders()
    if as_json:
        print_json([{"name": s.name, "dim": s.dim, "weights": s.weights} for s in specs])
        return
    table = Table("name", "dim", "text", "weights")
    for s in specs:
        table.add_row(s.name, str(s.dim), "yes" if s.has_text else "", s.weights)
    console.print(table)


@app.command()
def evaluate(
    collection: CollectionOpt,
    labels: Annotated[
        Path, typer.Option(help="CSV 'path,label', paths relative to the ingested folder.")
    ],
    rounds: Annotated[int, typer.Option(help="Rounds per query.")] = 5,
    batch: Annotated[int, typer.Option(help="Items shown per round.")] = 15,
    mode: Annotated[str, typer.Option(help="Selection mode.")] = "search",
    seeds_per_class: Annotated[int, typer.Option(help="Seed images per class.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    root: Annotated[
        Path | None,
        typer.Option(help="Folder the CSV paths are relative to (default: the CSV's folder)."),
    ] = None,
    test_fraction: Annotated[
        float,
        typer.Option(
            help="Share of each label held out, never shown: test_ap and marks_to_ap (e.g. 0.3)."
        ),
    ] = 0.0,
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes", help="Comma-separated labels to evaluate (default: all of them)."
        ),
    ] = None,
    propagation: Annotated[
        bool,
        typer.Option(
            "--propagation/--no-propagation",
            help="Smooth each round's ranking over the k-NN graph, as rounds do where the "
            "space has one (--no-propagation: the model alone).",
        ),
    ] = True,
    scan: Annotated[
        str,
        typer.Option(
            help="Index scoring the rounds: exact (the reference), int8, compressed, auto."
        ),
    ] = "exact",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulated-user evaluation: how fast each labelled class is learned."""
    col = open_home(home).collection(collection)
    chosen = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    result, n = run_evaluation(
        col,
        labels,
        rounds=rounds,
        batch=batch,
        mode=mode,
        seeds_per_class=seeds_per_class,
        seed=seed,
        root=root,
        test_fraction=test_fraction,
        scan=scan,
        classes=chosen,
        propagation=propagation,
    )
    out: dict[str, object] = {
        "collection": collection,
        "items": n,
        "rounds": result.rounds,
        "batch": result.batch,
        "mode": result.mode,
        "queries": result.queries,
        "shown_precision": round(result.shown_precision, 4),
        "final_ap": round(result.final_ap, 4),
        "round_ms_p50": round(result.round_ms_p50, 2),
        "per_round_precision": [round(p, 4) for p in result.per_round_precision],
        "propagation": result.propagated,
    }
    extra = {k: v for k, v in result.summary().items() if k not in out}
    out.update(extra)
    if as_json:
        print_json(out)
        return
    more = "".join(f"  {k} {v}" for k, v in extra.items() if k not in {"ap_target"})
    console.print(
        f"{collection}: {result.queries} queries over {n} items, {result.rounds} rounds of "
        f"{result.batch}, mode {result.mode}\n  shown_precision {result.shown_precision:.3f}  "
        f"final_ap {result.final_ap:.3f}  round_ms_p50 {result.round_ms_p50:.1f}\n {more}",
        highlight=False,
    )


@export_app.command("segments")
def export_segments(
    class_name: Annotated[str, typer.Option("--class", help="Class name.")],
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Collection (default: the class's).")
    ] = None,
    threshold: Annotated[float, typer.Option(help="Score (logit) above which it fires.")] = 0.0,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    home: HomeOpt = None,
    user: UserOpt = "local",
) -> None:
    """Time-coded video segments where a class fires, merged across adjacent keyframes."""
    if fmt not in ("csv", "json"):
        raise FuretError("--format must be csv or json")
    furet = open_home(home)
    learning = furet.learning(user)
    with classes.named_class(furet, learning, class_name, user):
        segs = learning.segments(class_name, collection, threshold)
    rows = [
        {
            "video": s.video,
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "max_score": round(s.max_score, 4),
        }
        for s in segs
    ]
    if fmt == "json":
        print_json(rows)
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=["video", "start", "end", "max_score"])
    writer.writeheader()
    writer.writerows(rows)


def main() -> None:
    """Entry point: FuretError becomes a one-line message and exit status 1, no traceback."""
    try:
        app()  # standalone: click prints usage errors itself and exits 2
    except FuretError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
