"""The CLI as a user runs it: subprocesses, JSON shapes, errors without tracebacks."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FLOWERS, need


def furet_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "furet.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    imgs = root / "imgs"
    imgs.mkdir()
    for f in sorted((need(FLOWERS) / "images" / "pansy").glob("*.jpg"))[:8]:
        shutil.copy(f, imgs / f.name)
    (imgs / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = furet_cli(root / "home", "ingest", str(imgs), "--collection", "p")
    assert out.returncode == 0, out.stderr
    assert "8 items" in out.stdout and "broken.jpg" in out.stderr
    return root


def test_search_json_shape(cli_home: Path) -> None:
    out = furet_cli(cli_home / "home", "search", "-c", "p", "--item", "1", "-k", "5", "--json")
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert len(hits) == 5
    for h in hits:
        assert set(h) == {"item_id", "path", "kind", "score"} and h["kind"] == "image"
        assert isinstance(h["item_id"], int) and isinstance(h["score"], float)
        assert h["item_id"] != 1 and Path(h["path"]).is_file()


def test_search_by_image_file(cli_home: Path) -> None:
    img = next((cli_home / "imgs").glob("image_*.jpg"))
    out = furet_cli(cli_home / "home", "search", "-c", "p", "--image", str(img), "--json")
    assert json.loads(out.stdout)[0]["path"] == str(img.resolve())


def test_collections_info_errors(cli_home: Path) -> None:
    cols = json.loads(furet_cli(cli_home / "home", "collections", "--json").stdout)
    assert [c["name"] for c in cols] == ["p"] and cols[0]["items"] == 8
    info = json.loads(furet_cli(cli_home / "home", "info", "-c", "p", "--json").stdout)
    assert info["model"] == "lite0-pn" and info["errors"] == 1 and info["disk_bytes"] > 0
    errs = json.loads(furet_cli(cli_home / "home", "errors", "-c", "p", "--json").stdout)
    assert len(errs) == 1 and errs[0]["path"].endswith("broken.jpg") and errs[0]["reason"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("search", "-c", "nope", "--item", "1"), "no collection named 'nope'"),
        (("search", "-c", "p", "--item", "424242"), "no item 424242"),
        (("search", "-c", "p"), "give --image"),
        (("ingest", "/no/such/dir", "-c", "p"), "does not exist"),
        (("ingest", ".", "-c", "p", "--model", "nosuch"), "nosuch"),
    ],
)
def test_errors_are_one_line_without_traceback(
    cli_home: Path, args: tuple[str, ...], message: str
) -> None:
    out = furet_cli(cli_home / "home", *args)
    assert out.returncode == 1
    assert message in out.stderr and "Traceback" not in out.stderr
