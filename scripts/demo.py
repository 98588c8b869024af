"""`make demo`: ingest a sample collection and show the main job working.

Without --images, a sample set is built from the public-domain / CC0 photographs that
scikit-image ships inside its wheel (astronaut, cat, coffee, rocket...), each with a few
crops and flips so that similarity search has something to find.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageOps
from rich.console import Console
from rich.table import Table

import furet
from furet.catalog.accounts import AccountStore
from furet.errors import FuretError, NotFoundError
from furet.settings import Settings

DEMO_USER = "demo"
#: Where the demo account's generated password is kept (0600), beside the data it guards.
CREDENTIALS = "demo-credentials.txt"
PHOTOS = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "motorcycle_left.png",
    "retina.jpg",
    "ihc.png",
    "grass.png",
    "gravel.png",
    "brick.png",
    "camera.png",
    "coins.png",
    "moon.png",
    "page.png",
    "text.png",
    "cell.png",
    "color.png",
]


def build_samples(target: Path) -> Path:
    """Write the sample set (originals + 3 variants each) under ``target``; returns it."""
    import skimage

    source = Path(skimage.__file__).parent / "data"
    target.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        stem = Path(name).stem
        if (target / f"{stem}.jpg").exists():
            continue
        img = Image.open(source / name).convert("RGB")
        w, h = img.size
        variants = {
            stem: img,
            f"{stem}_crop": img.crop((w // 10, h // 10, w - w // 10, h - h // 10)),
            f"{stem}_mirror": ImageOps.mirror(img),
            f"{stem}_corner": img.crop((0, 0, w * 3 // 4, h * 3 // 4)),
        }
        for vname, v in variants.items():
            v.save(target / f"{vname}.jpg", "JPEG", quality=90)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--home", type=Path, default=Path("demo-home"))
    ap.add_argument("--images", type=Path, default=None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--no-serve", action="store_true", help="stop after the search")
    args = ap.parse_args()
    console = Console()
    if not args.no_serve and (taken := port_taken(args.host, args.port)):
        console.print(
            f"[red]error:[/] cannot listen on {args.host}:{args.port} ({taken}); choose another "
            f"port: make demo PORT={args.port + 1} (or HOST=... for another address)"
        )
        return 1
    images = args.images or build_samples(args.home / "samples")
    name = "flowers" if args.images and "flowers" in str(args.images) else "demo"
    try:
        home = furet.open(args.home, Settings(home=args.home))
        col = home.ensure_collection(name)  # the default space; an old demo keeps its own
        console.print(f"[bold]furet ingest[/] {images} --collection {name}")
        report = col.ingest([images])
        console.print(
            f"  {report.added} added, {report.unchanged} unchanged, {len(report.failed)} failed, "
            f"{report.items_added} items in {report.seconds:.1f} s"
        )
        m = col.matrix()
        query = int(m.item_ids[len(m.item_ids) // 2])
        qpath = home.catalog.item_infos([query])[query].path
        console.print(f"\n[bold]furet search[/] --collection {name} --item {query}  ({qpath})")
        table = Table("rank", "item_id", "score", "path")
        for rank, hit in enumerate(col.search(item_id=query, k=10), 1):
            table.add_row(str(rank), str(hit.item_id), f"{hit.score:.4f}", hit.path)
        console.print(table)
        console.print(
            f"\nData home: {args.home.resolve()}  (try: .venv/bin/furet --home "
            f"{args.home} info --collection {name})"
        )
    except FuretError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    if args.no_serve:
        return 0
    return serve(args.home, args.host, args.port, console)


def port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None when it can."""
    try:
        with socket.create_server((host, port)):
            return None
    except OSError as exc:
        return os.strerror(exc.errno) if exc.errno else str(exc)


def ensure_demo_account(home: Path) -> tuple[str, bool]:
    """The demo administrator's password, and whether it was made just now.

    At the first start of a demo home a random password is generated, kept in
    ``home/demo-credentials.txt`` (0600) and printed once; later starts reuse it."""
    store = furet.open(home, Settings(home=home))
    accounts = AccountStore(store.catalog.sessions)
    path = home / CREDENTIALS
    try:
        account = accounts.find(DEMO_USER)
    except NotFoundError:
        account = None
    if account is not None and path.is_file():
        return path.read_text().split("\n")[1], False
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{DEMO_USER}\n{password}\n")
    if account is None:
        accounts.create_user(DEMO_USER, password, role="admin")
    else:  # its password file was deleted: a new password
        accounts.update_user(account.user_id, password=password)
    return password, True


def serve(home: Path, host: str, port: int, console: Console) -> int:
    """Create the demo account (once) and serve the UI until interrupted."""
    password, new = ensure_demo_account(home)
    if new:
        login = f"log in as {DEMO_USER} / [bold]{password}[/] (generated now, shown once)"
    else:
        login = f"log in as {DEMO_USER} with the password in {home / CREDENTIALS}"
    shown = f"[{host}]" if ":" in host else host
    console.print(f"\n[bold]furet serve[/] on http://{shown}:{port}  ({login}; Ctrl-C to stop)")
    cli = [sys.executable, "-m", "furet.cli.main", "--home", str(home)]
    try:
        return subprocess.call([*cli, "serve", "--host", host, "--port", str(port)])
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
