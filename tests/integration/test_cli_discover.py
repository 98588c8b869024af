"""``furet discover`` and ``furet community`` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

import furet
from furet.services.institutions import account, share
from furet.services.learning import Marks, RoundSettings
from furet.settings import Settings
from tests.conftest import FLOWERS, need
from tests.integration.test_cli import furet_cli


@dataclass(frozen=True)
class Home:
    root: Path
    images: Path
    sunflowers: list[int]
    ann_sun: int


def _teach(home: furet.Furet, user_id: int, pos: list[int], neg: list[int]) -> int:
    learning = home.learning(user_id=user_id)
    row = learning.create("sun", "f", from_items=pos[:1])
    learning.mark(row, Marks(positive=pos[1:], negative=neg))
    learning.round(row, RoundSettings(page_size=3))
    return row.class_id


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """10 sunflowers and 10 daisies; ann (ina) and ben (ina) each taught sunflowers, ann's
    public, ben's shared with ina; carl (no group) taught nothing."""
    root = tmp_path_factory.mktemp("cli-discover")
    images = root / "imgs"
    for kind in ("sunflower", "daisy"):
        (images / kind).mkdir(parents=True)
        for f in sorted((need(FLOWERS) / "images" / kind).glob("*.jpg"))[:10]:
            shutil.copy(f, images / kind / f.name)
    out = furet_cli(root / "home", "ingest", str(images), "-c", "f")
    assert out.returncode == 0, out.stderr
    home = furet.open(root / "home", Settings(home=root / "home"))
    col = home.collection("f")
    infos = home.catalog.item_infos(col.matrix().item_ids.tolist())
    sun = sorted(i for i, info in infos.items() if "/sunflower/" in info.path)
    daisy = sorted(i for i, info in infos.items() if "/daisy/" in info.path)
    ann, ben = account(home, "ann", ["ina"]), account(home, "ben", ["ina"])
    account(home, "carl", [])
    ann_sun = _teach(home, ann, sun[:6], daisy[:5])
    ben_sun = _teach(home, ben, sun[3:9], daisy[4:9])
    share(home, ann, ann_sun, "ina", "public")
    share(home, ben, ben_sun, "ina", "group")
    return Home(root, images, sun, ann_sun)


def test_discover_an_item_and_an_image(cli_home: Home) -> None:
    home = cli_home.root / "home"
    item = cli_home.sunflowers[-1]
    out = furet_cli(home, "discover", "--item", str(item), "--user", "carl", "--json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert [r["owner"] for r in body["results"]] == ["ann"]  # ben's is for ina only
    first = body["results"][0]
    assert first["class_id"] == cli_home.ann_sun and first["actions"] == ["use", "fork"]
    assert first["evidence"]["percentile"] > 0.5
    image = sorted((cli_home.images / "sunflower").glob("*.jpg"))[-1]
    out = furet_cli(home, "discover", "--image", str(image), "--user", "ben", "-c", "f")
    assert out.returncode == 0, out.stderr
    assert "ann/sun" in out.stdout and "ben/sun" not in out.stdout  # not ben's own
    assert "use, fork" in out.stdout


def test_discover_similar_classes_and_communities(cli_home: Home) -> None:
    home = cli_home.root / "home"
    args = ("--user", "ben", "--json", "--min-score", "0.2")
    out = furet_cli(home, "discover", "--class", "sun", *args)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["query"]["class"]["owner"] == "ben"
    assert [r["owner"] for r in body["results"]] == ["ann"]
    assert body["results"][0]["evidence"]["shared_positives"] == 3
    out = furet_cli(home, "community", *args)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert [n["name"] for n in body["users"]] == ["ann"]
    assert [g["name"] for g in body["groups"]] == ["ina"]
    out = furet_cli(home, "community", "--class", "ann/sun", "--user", "carl", "--min-score", "0")
    assert out.returncode == 0, out.stderr
    assert "no neighbour" in out.stdout  # carl may not read ben's class
    out = furet_cli(home, "community", "--user", "carl")
    assert "no trained class" in out.stdout


def test_discover_errors_are_one_line(cli_home: Home) -> None:
    home = cli_home.root / "home"
    for args in (
        ("discover", "--item", "1", "--class", "sun", "--user", "ben"),
        ("discover", "--class", "ben/sun", "--user", "carl"),  # ina's only
        ("community", "--class", "nope", "--user", "ben"),
    ):
        out = furet_cli(home, *args)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert out.stderr.startswith("error:") and "Traceback" not in out.stderr, args
        assert len(out.stderr.strip().splitlines()) <= 3, out.stderr  # one wrapped line
