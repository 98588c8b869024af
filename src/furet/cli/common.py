"""What every CLI command shares: the data home option, consoles, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

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
