"""``furet enrich`` (apply classes to a whole collection) and ``furet tags ...`` (read them)."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from furet.catalog.schema import ClassRow
from furet.cli import classes
from furet.cli.common import (
    HomeOpt,
    JsonOpt,
    UserOpt,
    console,
    err_console,
    open_home,
    print_json,
    progress_bar,
)
from furet.errors import InvalidInputError
from furet.library import Furet
from furet.services.enrichment import Enrichment, Rule
from furet.services.enrichment_jobs import Job
from furet.services.tag_queries import FORMATS

tags_app = typer.Typer(
    help="Read the tags of mass enrichments: a class's tagged items, counts, the classes of an "
    "item, exports, jobs.",
    no_args_is_help=True,
)

ClassesOpt = Annotated[
    list[str],
    typer.Option("--class", help="Class name, OWNER/NAME or id (repeatable)."),
]
ClassOpt = Annotated[str, typer.Option("--class", help="Class name, OWNER/NAME or id.")]
OptCollection = Annotated[
    str | None,
    typer.Option("--collection", "-c", help="Collection (default: the class's)."),
]


def register(app: typer.Typer) -> None:
    """Add ``furet enrich`` and ``furet tags`` to the ``furet`` command line."""
    app.command("enrich")(enrich)
    app.add_typer(tags_app, name="tags")


def _enrichment(furet: Furet, user: str) -> Enrichment:
    return furet.enrichment(user)


def _refs(furet: Furet, e: Enrichment, names: list[str], user: str) -> list[ClassRow]:
    refs: list[ClassRow] = []
    for name in names:
        with classes.named_class(furet, e.learning, name, user):
            refs.append(classes.resolve(furet, e.learning, name, "read"))
    return refs


def _fmt(x: object, spec: str = ".3f") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return format(x, spec) if isinstance(x, float) else str(x)


def _print_job(job: Job) -> None:
    out = job.as_json()
    progress = out["progress"]
    assert isinstance(progress, dict)
    table = Table(
        "class",
        "version",
        "rule",
        "threshold",
        "tags",
        "est. precision",
        "scored now",
        title=f"enrichment {job.job_id} · {job.collection} · {job.state}",
    )
    for c in job.classes:
        table.add_row(
            c.name if c.owner == job.user else f"{c.owner}/{c.name}",
            str(c.version),
            f"{c.rule} {c.value:g}",
            _fmt(c.threshold),
            _fmt(c.tags),
            _fmt(c.precision),
            str(c.scored),
        )
    console.print(table)
    for c in job.classes:
        if c.warning:
            err_console.print(f"[yellow]warning:[/] {c.name}: {c.warning}", highlight=False)
    if job.error:
        err_console.print(f"[red]error:[/] {job.error}", highlight=False, soft_wrap=True)


def enrich(
    class_names: ClassesOpt,
    collection: OptCollection = None,
    precision: Annotated[
        float | None,
        typer.Option(help="Tag at the threshold calibrated for this precision (default 0.9)."),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Tag every item scoring at least this logit.")
    ] = None,
    top: Annotated[int | None, typer.Option(help="Tag the N best items of each class.")] = None,
    version: Annotated[
        int | None, typer.Option(help="Class version (one --class only; default the latest).")
    ] = None,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Apply classes to every item of a collection and store their tags (resumable: run it
    again after an interruption; incremental: new items and new versions only)."""
    rule = Rule.of(precision=precision, threshold=threshold, top=top)
    furet = open_home(home)
    e = _enrichment(furet, user)
    refs = _refs(furet, e, class_names, user)
    job = e.submit(refs, collection=collection, rule=rule, version=version)
    with progress_bar("enrich", "{:,.0f} items/s", quiet=as_json) as progress:
        job = e.run(job.job_id, progress)
    if as_json:
        print_json(job.as_json())
        return
    _print_job(job)


@tags_app.command("list")
def list_tags(
    class_name: ClassOpt,
    collection: OptCollection = None,
    min_score: Annotated[
        float | None,
        typer.Option(help="Lowest score shown (default: the class's threshold)."),
    ] = None,
    offset: Annotated[int, typer.Option(help="Skip this many.")] = 0,
    limit: Annotated[int, typer.Option(help="Items shown.")] = 20,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """A class's tagged items, best first."""
    furet = open_home(home)
    e = _enrichment(furet, user)
    (ref,) = _refs(furet, e, [class_name], user)
    page = e.tags.page(ref, collection=collection, min_score=min_score, offset=offset, limit=limit)
    if as_json:
        print_json(page.as_json())
        return
    s = page.summary.as_json()
    table = Table(
        "rank",
        "item_id",
        "score",
        "tag",
        "path",
        title=f"{class_name} v{s['version']} on {s['collection']}: {page.total} item(s) "
        f"scoring >= {_fmt(page.min_score)} (threshold {_fmt(s['threshold'])}, "
        f"est. precision {_fmt(s['estimated_precision'])})",
    )
    for rank, t in enumerate(page.items, offset + 1):
        where = "" if t.info is None else t.info.path
        if t.info is not None and t.info.kind == "keyframe":
            where += f" @ {t.info.video_time:.2f}s"
        table.add_row(
            str(rank), str(t.item_id), f"{t.score:.3f}", "yes" if t.decision else "", where
        )
    console.print(table)
    if not s["up_to_date"]:
        console.print(
            "the collection changed since: run furet enrich again to tag its new items",
            highlight=False,
        )


@tags_app.command("counts")
def counts(
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection name.")],
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """How many items each class tags in a collection, with its estimated precision."""
    found = _enrichment(open_home(home), user).tags.counts(collection)
    if as_json:
        print_json([s.as_json() for s in found])
        return
    table = Table("class", "version", "rule", "threshold", "tags", "est. precision", "up to date")
    for s in found:
        j = s.as_json()
        table.add_row(
            s.cls.name if s.owner == user else f"{s.owner}/{s.cls.name}",
            str(s.tagging.version),
            f"{s.tagging.rule} {s.tagging.value:g}",
            _fmt(j["threshold"]),
            str(j["tags"]),
            _fmt(j["estimated_precision"]),
            "yes" if s.up_to_date else "no",
        )
    console.print(table)


@tags_app.command("item")
def item(
    item_id: Annotated[int, typer.Argument(help="Item id.")],
    all_rows: Annotated[
        bool, typer.Option("--all", help="Also classes that score it below their threshold.")
    ] = False,
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """The classes that tag one item."""
    found = _enrichment(open_home(home), user).tags.of_item(item_id, all_rows=all_rows)
    if as_json:
        print_json(found)
        return
    table = Table("class", "owner", "score", "tag", "threshold")
    for t in found:
        table.add_row(
            str(t["name"]),
            str(t["owner"]),
            _fmt(t["score"]),
            "yes" if t["decision"] else "",
            _fmt(t["threshold"]),
        )
    console.print(table)


@tags_app.command("segments")
def segments(
    class_name: ClassOpt,
    collection: OptCollection = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    home: HomeOpt = None,
    user: UserOpt = "local",
) -> None:
    """Time-coded video segments where a class's tags fire (adjacent keyframes merged)."""
    if fmt not in ("csv", "json"):
        raise InvalidInputError("--format must be csv or json")
    furet = open_home(home)
    e = _enrichment(furet, user)
    (ref,) = _refs(furet, e, [class_name], user)
    rows = [
        {
            "video": s.video,
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "max_score": round(s.max_score, 4),
        }
        for s in e.tags.segments(ref, collection)
    ]
    if fmt == "json":
        print_json(rows)
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=["video", "start", "end", "max_score"])
    writer.writeheader()
    writer.writerows(rows)


@tags_app.command("export")
def export(
    class_names: ClassesOpt,
    collection: OptCollection = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Every row kept, below the threshold too.")
    ] = False,
    home: HomeOpt = None,
    user: UserOpt = "local",
) -> None:
    """Export tags with file paths (and, for video keyframes, time and segment)."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None and sys.stdout.isatty():
        raise InvalidInputError("Parquet is binary: give --output FILE")
    furet = open_home(home)
    e = _enrichment(furet, user)
    refs = _refs(furet, e, class_names, user)
    if output is None:
        e.tags.export(refs, collection, fmt, sys.stdout.buffer, all_rows)
        sys.stdout.buffer.flush()
        return
    tmp = output.with_name(f".{output.name}.tmp")
    with open(tmp, "wb") as f:
        n = e.tags.export(refs, collection, fmt, f, all_rows)
    tmp.replace(output)
    err_console.print(f"{n} row(s) written to {output}", highlight=False)


@tags_app.command("jobs")
def jobs(home: HomeOpt = None, user: UserOpt = "local", as_json: JsonOpt = False) -> None:
    """The user's enrichment jobs, newest first."""
    found = _enrichment(open_home(home), user).my_jobs()
    if as_json:
        print_json([j.as_json() for j in found])
        return
    table = Table("enrichment", "state", "collection", "classes", "progress", "created")
    for j in found:
        table.add_row(
            j.job_id,
            j.state,
            j.collection,
            ", ".join(c.name for c in j.classes),
            f"{j.done}/{j.total if j.total is not None else '?'}",
            j.created_at,
        )
    console.print(table)


@tags_app.command("job")
def job(
    job_id: Annotated[str, typer.Argument(help="Enrichment id.")],
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """One enrichment job: its state, progress and results."""
    found = _enrichment(open_home(home), user).job(job_id)
    if as_json:
        print_json(found.as_json())
        return
    _print_job(found)


@tags_app.command("resume")
def resume(
    job_id: Annotated[str, typer.Argument(help="Enrichment id (interrupted, failed, cancelled).")],
    home: HomeOpt = None,
    user: UserOpt = "local",
    as_json: JsonOpt = False,
) -> None:
    """Run again what an ended job did not do (only the rows its classes' tags lack)."""
    e = _enrichment(open_home(home), user)
    job = e.run(e.resume(job_id).job_id)
    if as_json:
        print_json(job.as_json())
        return
    _print_job(job)


@tags_app.command("cancel")
def cancel(
    job_id: Annotated[str, typer.Argument(help="Enrichment id.")],
    home: HomeOpt = None,
    user: UserOpt = "local",
) -> None:
    """Stop a running job after its current block (what it committed stays)."""
    found = _enrichment(open_home(home), user).cancel(job_id)
    console.print(f"enrichment {found.job_id}: cancel requested ({found.state})", highlight=False)
