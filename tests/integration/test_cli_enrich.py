"""``furet enrich`` and ``furet tags ...`` as a user runs them: subprocesses, JSON, files, and
one-line errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import furet
from furet.services.learning import RoundSettings
from furet.services.teaching import TeachingPlan, teach
from furet.settings import Settings
from tests.integration.test_cli import furet_cli
from tests.synthetic import synthetic


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic collection 'syn' with the class 'c0' taught by the simulated user (rounds
    and a spot check, marks by cluster) and 'bare' (one positive, one round)."""
    root = tmp_path_factory.mktemp("cli-enrich") / "home"
    home = furet.open(root, Settings(home=root))
    syn = synthetic(home, "syn", 3000, segment_rows=1000)
    learning = home.learning("local")
    truth = {int(i): str(c) for i, c in zip(syn.item_ids, syn.cluster, strict=True)}
    plan = TeachingPlan(rounds=3, batch=20, spot_checks=1, spot_batch=40)
    teach(learning, "syn", truth, "0", name="c0", plan=plan)
    learning.create("bare", "syn", from_items=[int(syn.members(0)[0])])
    learning.round("bare", RoundSettings(page_size=1))
    return root


def test_enrich_then_read_the_tags(cli_home: Path, tmp_path: Path) -> None:
    out = furet_cli(cli_home, "enrich", "-c", "syn", "--class", "c0", "--json")
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert job["state"] == "done" and job["progress"] == {
        "done": 3000,
        "total": 3000,
        "fraction": 1.0,
    }
    (c,) = job["classes"]
    assert c["rule"] == {"precision": 0.9} and c["tags"] > 0 and c["estimated_precision"] >= 0.9

    out = furet_cli(cli_home, "tags", "list", "--class", "c0", "--limit", "5", "--json")
    assert out.returncode == 0, out.stderr
    page = json.loads(out.stdout)
    assert page["total"] == c["tags"] and len(page["items"]) == 5
    assert page["items"][0]["path"].startswith("/synthetic/")

    target = tmp_path / "tags.parquet"
    out = furet_cli(
        cli_home,
        "tags",
        "export",
        "--class",
        "c0",
        "--format",
        "parquet",
        "--all",
        "-o",
        str(target),
    )
    assert out.returncode == 0, out.stderr
    table = pq.read_table(target)
    assert table.num_rows >= c["tags"] and sum(table.column("decision").to_pylist()) == c["tags"]
    assert table.column("item_id")[0].as_py() == page["items"][0]["item_id"]
    assert f"{table.num_rows} row(s) written" in out.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["enrich", "-c", "syn", "--class", "nope"], "no class named 'nope'"),
        (["enrich", "--class", "bare"], "--threshold T"),
    ],
)
def test_one_line_errors(cli_home: Path, args: list[str], says: str) -> None:
    out = furet_cli(cli_home, *args)
    assert out.returncode == 1
    assert says in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") <= 2, out.stderr  # one message, wrapped at most
