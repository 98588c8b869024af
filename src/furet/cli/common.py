"""What every CLI command shares: the data home option, consoles, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import furet
from furet.settings import Settings

console = Console()
err_console = Console(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data home (default: $FURET_HOME or the user data dir)."),
]
CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
UserOpt = Annotated[
    str,
    typer.Option(
        "--user",
        envvar="FURET_USER",
        help="Whose classes: a user or browser account name. The CLI's own user is 'local'; "
        "classes made in the browser belong to the account that made them.",
    ),
]


class State:
    home: Path | None = None
    device: str | None = None
    model_path: Path | None = None


state = State()


def open_home(home: Path | None = None) -> furet.Furet:
    settings = Settings()
    if state.device:
        settings = settings.model_copy(update={"device": state.device})
    if state.model_path:
        settings = settings.model_copy(update={"model_dir": state.model_path})
    return furet.open(home or state.home, settings)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def progress_bar(
    label: str, rate_format: str, *, quiet: bool
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (off with ``quiet`` or when stderr is no terminal); yields the
    ``progress(done, total)`` callback that moves it. ``rate_format`` shows the rate, e.g.
    ``"{:.1f} files/s"``."""
    with Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None, rate="")

        def progress(done: int, total: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = rate_format.format(done / elapsed) if elapsed > 0 and done else ""
            bar.update(task, completed=done, total=total, rate=rate)

        yield progress
