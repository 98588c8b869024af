"""``furet user ...``: accounts and API keys of the web server; ``furet serve``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from furet.catalog.accounts import AccountStore
from furet.cli.common import HomeOpt, JsonOpt, console, open_home, print_json

app = typer.Typer(help="Accounts and API keys of the web server.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")


def _accounts(home: HomeOpt) -> tuple[AccountStore, int]:
    furet = open_home(home)
    return AccountStore(furet.catalog.sessions), furet.settings.default_daily_quota


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (login).")],
    admin: Annotated[bool, typer.Option("--admin", help="Administrator role.")] = False,
    password: Annotated[
        str | None, typer.Option(help="Password (prompted, hidden, when omitted).")
    ] = None,
    quota: Annotated[int | None, typer.Option(help="Requests per UTC day.")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Group (repeatable).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an account."""
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    accounts, default = _accounts(home)
    account = accounts.create_user(
        name,
        password,
        role="admin" if admin else "member",
        daily_quota=quota,
        groups=group or [],
    )
    if as_json:
        print_json(account.as_json(default))
        return
    console.print(f"user {account.name} ({account.role}) created, id {account.user_id}")


@app.command("list")
def list_users(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List the accounts."""
    accounts, default = _accounts(home)
    users = [a.as_json(default) for a in accounts.list_users()]
    if as_json:
        print_json(users)
        return
    table = Table("user_id", "name", "role", "daily_quota", "groups", "disabled")
    for u in users:
        table.add_row(
            str(u["user_id"]),
            str(u["name"]),
            str(u["role"]),
            str(u["daily_quota"]),
            ", ".join(u["groups"]),  # type: ignore[arg-type]
            "yes" if u["disabled"] else "",
        )
    console.print(table)


@key_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="User name.")],
    key_name: Annotated[str, typer.Option(help="A name to tell the key apart.")] = "default",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key for a user and print it (the only time it is shown)."""
    accounts, _ = _accounts(home)
    key, secret = accounts.create_key(accounts.find(name).user_id, key_name)
    if as_json:
        print_json({**key.as_json(), "key": secret})
        return
    console.print(secret, highlight=False, soft_wrap=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes. Each holds the collections' vectors in memory; one per "
            "core serves the most concurrent users.",
        ),
    ] = 1,
    home: HomeOpt = None,
) -> None:
    """Run the HTTP API and the browser UI (uvicorn)."""
    from furet.web.serving import serve as run_server

    run_server(open_home(home).settings, host, port, workers)
