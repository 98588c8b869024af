"""``furet class share``, ``fork`` and ``list`` as a user runs them (subprocesses): rights,
owners, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import furet
from furet.catalog.accounts import AccountStore
from furet.catalog.classes import ClassCatalog
from furet.cli.main import main


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Done]:
    """The command line's ``main`` in this process (as ``furet --home HOME ARGS...``): the same
    parsing, output and one-line errors, without a Python start per command."""

    def run(home: Path, *args: str) -> Done:
        capsys.readouterr()
        argv = sys.argv
        sys.argv = ["furet", "--home", str(home), *args]
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.argv = argv
        out = capsys.readouterr()
        return Done(code, out.out, out.err)

    return run


def one_line_error(done: Done, *words: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """olga (ina) has a trained class 'daisy'; rita is in bnf, otto in no group."""
    path = tmp_path_factory.mktemp("share-cli") / "home"
    h = furet.open(path, furet.Settings(home=path))
    accounts = AccountStore(h.catalog.sessions)
    olga = accounts.create_user("olga", None, groups=["ina"]).user_id
    accounts.create_user("rita", None, groups=["bnf"])
    accounts.create_user("otto", None)
    col = h.catalog.create_collection("flowers", "lite0")
    classes = ClassCatalog(h.catalog.sessions)
    cid = classes.create_class(olga, col.collection_id, "daisy", "lite0").class_id
    classes.add_labels(cid, olga, [(1, 1), (2, 1), (3, -1)])
    classes.save_version(
        cid,
        n_pos=2,
        n_neg=1,
        n_weak=0,
        cv_score=None,
        weights=np.full(4, 0.5, np.float32),
        bias=0.0,
        params={"mode": "search"},
        created_by=olga,
    )
    return path


def listed(cli: Callable[..., Done], home: Path, user: str, *extra: str) -> list[dict[str, object]]:
    done = cli(home, "class", "list", "--user", user, "--json", *extra)
    assert done.returncode == 0, done.stderr
    out: list[dict[str, object]] = json.loads(done.stdout)
    return out


def test_share_list_and_fork(home: Path, cli: Callable[..., Done]) -> None:
    assert listed(cli, home, "rita") == []
    done = cli(home, "class", "share", "daisy", "--group", "bnf", "--user", "olga")
    assert done.returncode == 0, done.stderr
    assert "shared with bnf (read)" in done.stdout
    (seen,) = listed(cli, home, "rita")
    assert seen["name"] == "daisy" and seen["owner"] == "olga" and seen["right"] == "read"
    assert seen["groups"] == {"bnf": "read"} and seen["positives"] == 2
    assert listed(cli, home, "otto") == []
    table = cli(home, "class", "list", "--user", "rita")
    assert "olga/daisy" in table.stdout and "read" in table.stdout

    # Options change what they name; the rest stays.
    done = cli(
        home, "class", "share", "daisy", "--group", "ina:edit", "--public", "read",
        "--user", "olga", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["groups"] == {"bnf": "read", "ina": "edit"} and shown["public"] == "read"
    assert [c["right"] for c in listed(cli, home, "otto", "--scope", "public")] == ["read"]
    assert listed(cli, home, "otto", "--scope", "mine") == []
    done = cli(home, "class", "share", "daisy", "--group", "ina:none", "--public", "none",
               "--user", "olga")  # fmt: skip
    assert "shared with bnf (read)" in done.stdout and listed(cli, home, "otto") == []

    # rita reads it by OWNER/NAME, and forks it (by name, then by id).
    shown_by_rita = cli(home, "class", "show", "olga/daisy", "--user", "rita", "--json")
    assert json.loads(shown_by_rita.stdout)["positives"] == 2
    done = cli(home, "class", "fork", "olga/daisy", "--user", "rita")
    assert done.returncode == 0, done.stderr
    assert "forked olga/daisy as 'daisy'" in done.stdout and "model v1" in done.stdout
    class_id = str(seen["class_id"])
    done = cli(home, "class", "fork", class_id, "--as", "my daisy", "--user", "rita", "--json")
    fork = json.loads(done.stdout)
    assert fork["name"] == "my daisy" and fork["origin"] == "olga/daisy"
    mine = {c["name"]: c for c in listed(cli, home, "rita", "--scope", "mine")}
    assert set(mine) == {"daisy", "my daisy"} and mine["daisy"]["origin"] == "olga/daisy"
    exported = json.loads(cli(home, "class", "export", "daisy", "--user", "rita").stdout)
    assert {h["user"] for h in exported["history"]} == {"olga"}  # who made each mark, kept


def test_errors_are_one_line(home: Path, cli: Callable[..., Done]) -> None:
    one_line_error(cli(home, "class", "share", "daisy", "--group", "nope", "--user", "olga"),
                   "no group named 'nope'")  # fmt: skip
    one_line_error(cli(home, "class", "share", "daisy", "--public", "all", "--user", "olga"),
                   "--public must be")  # fmt: skip
    one_line_error(
        cli(home, "class", "share", "daisy", "--public", "read", "--private", "--user", "olga"),
        "not both",
    )
    # Not the owner: rita may read olga's class, not share it.
    cli(home, "class", "share", "daisy", "--group", "bnf", "--user", "olga")
    one_line_error(
        cli(home, "class", "share", "olga/daisy", "--private", "--user", "rita"), "owner olga"
    )
    one_line_error(cli(home, "class", "fork", "olga/daisy", "--user", "otto"), "no class")
    one_line_error(cli(home, "class", "fork", "nobody/daisy", "--user", "otto"), "no class")
    one_line_error(cli(home, "class", "fork", "daisy", "--user", "otto"), "OWNER/NAME")
    one_line_error(
        cli(home, "class", "label", "olga/daisy", "--positive", "1", "--user", "rita"),
        "edit",
    )
    one_line_error(cli(home, "class", "list", "--scope", "x", "--user", "rita"), "--scope")


def test_a_real_process_prints_one_line(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "furet.cli.main", "--home", str(home), "class", "fork", "x/y"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: no class 'x/y'") and done.stderr.count("\n") == 1
