"""What a user hits first on the command line: failed ingests, unreadable folders, a device
that is not there, a space whose weights are missing, classes of another user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import furet
from furet.catalog.accounts import AccountStore
from furet.embedders import create_embedder, list_embedders
from furet.errors import FuretError, InvalidInputError
from furet.services.learning import Learning
from tests.conftest import FLOWERS, need
from tests.unit.test_hf_embedders import build_tiny_clip, build_tiny_models


def furet_cli(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "furet.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def copy_flowers(dest: Path, n: int, kind: str = "pansy") -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted((need(FLOWERS) / "images" / kind).glob("*.jpg"))[:n]:
        shutil.copy(f, dest / f.name)
    return dest


def collections_of(home: Path) -> list[str]:
    out = furet_cli(home, "collections", "--json")
    assert out.returncode == 0, out.stderr
    return [c["name"] for c in json.loads(out.stdout)]


def errors_of(home: Path, collection: str) -> dict[str, str]:
    out = furet_cli(home, "errors", "-c", collection, "--json")
    assert out.returncode == 0, out.stderr
    return {e["path"]: e["reason"] for e in json.loads(out.stdout)}


# -- 13: a failed ingest creates nothing ----------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (("/no/such/path",), "does not exist"),
        (("{imgs}", "/no/such/path"), "does not exist"),
        (("{imgs}", "--model", "nosuch"), "unknown model 'nosuch'"),
        # Weights that are not there (an empty model folder and hub cache).
        (("{imgs}", "--model", "clip-vit-b32"), "clip-vit-b32"),
    ],
)
def test_failed_first_ingest_leaves_no_collection(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    imgs = copy_flowers(tmp_path / "imgs", 1)
    env = {"FURET_MODEL_DIR": str(tmp_path / "models"), "HF_HOME": str(tmp_path / "hf")}
    argv = [a.format(imgs=imgs) for a in args]
    out = furet_cli(tmp_path / "home", "ingest", *argv, "-c", "nx", env=env)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert collections_of(tmp_path / "home") == []
    assert not (tmp_path / "home" / "collections").exists() or not any(
        (tmp_path / "home" / "collections").iterdir()
    )


def test_first_ingest_that_fails_midway_takes_its_collection_away(tmp_path: Path) -> None:
    """Past the checks, a run that commits nothing (here: its collection's writer lock is
    held) deletes the collection it created; the next one starts clean."""
    import fcntl

    imgs = copy_flowers(tmp_path / "imgs", 2)
    home = furet.open(tmp_path / "home")
    # A fresh home gives its first collection the id 1.
    lock_dir = tmp_path / "home" / "collections" / "1"
    lock_dir.mkdir(parents=True)
    fd = os.open(lock_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(FuretError, match="another ingestion"):
            home.ingest("nx", [imgs])
    finally:
        os.close(fd)
    assert [c.name for c in home.collections()] == []
    assert not lock_dir.exists()
    report = home.ingest("nx", [imgs])
    assert report.added == 2 and home.collection("nx").info().items == 2


# -- 14: an unreadable sub-directory is an error row ----------------------------------------

# Run as an unprivileged process even as root: without CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH, root meets a chmod 000 folder as anyone does. Dropping capabilities
# needs no privilege (capset may always shrink the sets); a non-root user has none to drop.
DROP_DAC = """
import ctypes, os, sys

class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

class Data(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

libc = ctypes.CDLL(None, use_errno=True)
header, data = Header(0x20080522, 0), (Data * 2)()
if libc.capget(ctypes.byref(header), data) != 0:
    sys.exit(77)
keep = ~((1 << 1) | (1 << 2)) & 0xFFFFFFFF  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
for d in data:
    d.effective &= keep
    d.permitted &= keep
    d.inheritable &= keep
if libc.capset(ctypes.byref(header), data) != 0:
    sys.exit(77)
try:
    os.listdir(sys.argv[1])
    sys.exit(77)  # this file system lets us list it anyway: nothing to test here
except PermissionError:
    pass
from furet.cli.main import main
sys.argv = ["furet", *sys.argv[2:]]
main()
"""


def furet_unprivileged(locked: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-c", DROP_DAC, str(locked), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode == 77:
        pytest.skip("cannot make a folder unreadable to this process")
    return out


def test_unreadable_subdirectory_is_an_error_row_and_not_pruned(tmp_path: Path) -> None:
    imgs = copy_flowers(tmp_path / "imgs", 2)
    sub = copy_flowers(imgs / "sub", 1, "tulip")
    home = tmp_path / "home"
    first = furet_cli(home, "ingest", str(imgs), "-c", "u")
    assert first.returncode == 0 and "3 added" in first.stdout, first.stderr

    sub.chmod(0)
    try:
        out = furet_unprivileged(sub, home, "ingest", str(imgs), "-c", "u", "--prune")
    finally:
        sub.chmod(0o755)
    assert out.returncode == 0, out.stderr
    # Reported like an unreadable file, and what it holds is not taken for deleted.
    assert f"skipped {sub}: unreadable directory (Permission denied)" in out.stderr
    assert "0 removed, 1 failed" in out.stdout, out.stdout
    assert errors_of(home, "u") == {str(sub): "unreadable directory (Permission denied)"}
    info = json.loads(furet_cli(home, "info", "-c", "u", "--json").stdout)
    assert info["items"] == 3 and info["errors"] == 1

    # Readable again: the error row goes away.
    again = furet_cli(home, "ingest", str(imgs), "-c", "u")
    assert again.returncode == 0 and "0 failed" in again.stdout, again.stdout
    assert errors_of(home, "u") == {}


# -- 15: a device that is not there ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize("name", [s.name for s in list_embedders()])
def test_missing_cuda_device_is_the_same_clear_error_for_every_embedder(
    name: str, tiny_models: Path
) -> None:
    # cuda:64 exists nowhere: on a CPU-only torch and on a GPU machine alike it must be refused
    # before any weights load, with the message of resolve_device.
    model_path = None if name == "lite0" else tiny_models
    with pytest.raises(InvalidInputError, match="cuda:64"):
        create_embedder(name, model_path=model_path, device="cuda:64")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cli_device_cuda_on_cpu_only_torch_is_one_line(tmp_path: Path) -> None:
    imgs = copy_flowers(tmp_path / "imgs", 2)
    out = furet_cli(tmp_path / "home", "--device", "cuda", "ingest", str(imgs), "-c", "g")
    assert out.returncode == 1, out.stderr
    assert "sees no CUDA GPU" in out.stderr and "--device cpu" in out.stderr
    assert "Traceback" not in out.stderr and "AssertionError" not in out.stderr
    # The failed ingest created nothing (point 13).
    cols = furet_cli(tmp_path / "home", "collections", "--json")
    assert json.loads(cols.stdout) == []


# -- 16: an extra space whose weights are missing -------------------------------------------


def test_missing_weights_of_an_extra_space_fail_that_space_only(tmp_path: Path) -> None:
    imgs = copy_flowers(tmp_path / "imgs", 3)
    models = tmp_path / "models"
    build_tiny_clip(models / "clip-vit-b32")
    env = {"FURET_MODEL_DIR": str(models), "HF_HOME": str(tmp_path / "hf")}
    home = tmp_path / "home"
    assert furet_cli(home, "ingest", str(imgs), "-c", "s", env=env).returncode == 0
    out = furet_cli(home, "embed", "-c", "s", "--model", "clip-vit-b32", env=env)
    assert out.returncode == 0 and "3 items embedded" in out.stdout, out.stderr
    shutil.rmtree(models / "clip-vit-b32")  # the weights are gone

    # Nothing to embed: the space's weights are not needed, the prune is counted.
    first = sorted(imgs.glob("*.jpg"))[0]
    first.unlink()
    out = furet_cli(home, "ingest", str(imgs), "-c", "s", "--prune", env=env)
    assert out.returncode == 0, out.stderr
    assert "0 added, 0 updated, 2 unchanged, 1 removed, 0 failed" in out.stdout, out.stdout

    # A new file needs a clip vector: that space fails, the ingest and its summary do not.
    shutil.copy(sorted((FLOWERS / "images" / "tulip").glob("*.jpg"))[0], imgs / "new.jpg")
    out = furet_cli(home, "ingest", str(imgs), "-c", "s", "--prune", env=env)
    assert out.returncode == 1
    assert "1 added, 0 updated, 2 unchanged, 0 removed, 0 failed" in out.stdout, out.stdout
    assert "space clip-vit-b32 was not updated" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    out = furet_cli(home, "ingest", str(imgs), "-c", "s", "--json", env=env)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["unchanged"] == 3 and [e[0] for e in report["space_errors"]] == ["clip-vit-b32"]
    col = furet.open(home).collection("s")
    assert len(col.matrix()) == 3 and len(col.matrix("clip-vit-b32")) == 2

    # Weights back: the next ingest completes the space.
    build_tiny_clip(models / "clip-vit-b32")
    out = furet_cli(home, "ingest", str(imgs), "-c", "s", env=env)
    assert out.returncode == 0, out.stderr
    col = furet.open(home).collection("s")
    assert sorted(col.matrix("clip-vit-b32").item_ids) == sorted(col.matrix().item_ids)


# -- 17: classes of another user (the browser's) --------------------------------------------


@pytest.fixture(scope="module")
def browser_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose account ``demo`` made a class in the browser (as the web layer does)."""
    root = tmp_path_factory.mktemp("classes")
    imgs = copy_flowers(root / "imgs", 3)
    home = furet.open(root / "home")
    home.ensure_collection("p").ingest([imgs])
    account = AccountStore(home.catalog.sessions).create_user("demo", "demo-password-1")
    first = int(home.collection("p").matrix().item_ids[0])
    Learning(home, user_id=account.user_id).create("pansies", "p", from_items=[first])
    return root / "home"


def test_class_list_points_at_the_users_that_have_classes(browser_classes: Path) -> None:
    out = furet_cli(browser_classes, "class", "list")
    assert out.returncode == 0
    assert "user 'local' has no class; other users with classes: demo (1)" in out.stderr
    assert "--user" in out.stderr
    mine = furet_cli(browser_classes, "class", "list", "--user", "demo", "--json")
    assert [c["name"] for c in json.loads(mine.stdout)] == ["pansies"]
    env = furet_cli(browser_classes, "class", "list", "--json", env={"FURET_USER": "demo"})
    assert [c["name"] for c in json.loads(env.stdout)] == ["pansies"]


@pytest.mark.parametrize(
    "args",
    [
        ("class", "show", "pansies"),
        ("class", "round", "pansies"),
        ("class", "label", "pansies", "--positive", "1"),
        ("class", "export", "pansies"),
        ("export", "segments", "--class", "pansies"),
    ],
)
def test_a_class_of_another_user_says_whose_it_is(
    browser_classes: Path, args: tuple[str, ...]
) -> None:
    out = furet_cli(browser_classes, *args)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "user 'local' has no class named 'pansies'" in out.stderr, out.stderr
    assert "users with a class of that name: demo." in out.stderr
    assert "--user demo" in out.stderr
    # A name nobody has keeps the plain message.
    out = furet_cli(browser_classes, "class", "show", "tulips")
    assert out.returncode == 1 and "no class named 'tulips'" in out.stderr
    assert "demo" not in out.stderr


def test_user_option_is_documented(browser_classes: Path) -> None:
    group = furet_cli(browser_classes, "class", "--help").stdout
    assert "--user" in group and "browser" in group
    help_ = furet_cli(browser_classes, "class", "list", "--help").stdout
    assert "--user" in help_ and "FURET_USER" in help_ and "browser" in help_
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "--user" in readme


def test_a_model_folder_not_made_yet_is_no_lite0_error(tmp_path: Path) -> None:
    """``$FURET_MODEL_DIR`` set for the Hugging Face models but not created yet: lite0 still
    uses its package's weights (it was read as a weights file: 'lite0 weights not found')."""
    imgs = copy_flowers(tmp_path / "imgs", 1)
    env = {"FURET_MODEL_DIR": str(tmp_path / "models")}
    out = furet_cli(tmp_path / "home", "ingest", str(imgs), "-c", "m", env=env)
    assert out.returncode == 0 and "1 added" in out.stdout, out.stderr
