"""SIGKILL an ingestion half-way (a real subprocess), rerun: no duplicate, no lost item."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import furet
from furet.settings import Settings
from tests.conftest import FLOWERS, need


def committed_items(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute("select count(*) from items").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_kill_and_resume(tmp_path: Path) -> None:
    src = need(FLOWERS) / "images"
    imgs = tmp_path / "imgs"
    for label in ("daisy", "tulip"):
        shutil.copytree(src / label, imgs / label)
    n_files = len(list(imgs.rglob("*.jpg")))
    home = tmp_path / "home"
    env = {
        **os.environ,
        "FURET_HOME": str(home),
        "FURET_SEGMENT_ITEMS": "16",
        "FURET_BATCH_SIZE": "8",
    }
    cmd = [sys.executable, "-m", "furet.cli.main", "ingest", str(imgs), "-c", "c"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = home / "catalog.sqlite3"
    deadline = time.time() + 300
    while committed_items(db) < 40 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "ingestion finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = committed_items(db)
    assert 0 < done_before < n_files

    rerun = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr

    f = furet.open(home, Settings(home=home))
    col = f.collection("c")
    m = col.matrix()
    infos = f.catalog.item_infos(m.item_ids.tolist())
    paths = [infos[int(i)].path for i in m.item_ids]
    assert len(m) == n_files == col.info().items
    assert len(set(paths)) == n_files and len(np.unique(m.item_ids)) == n_files
    assert set(paths) == {str(p.resolve()) for p in imgs.rglob("*.jpg")}
    # Every segment on disk is committed: no orphan left behind after the rerun.
    members = f.catalog.segment_members(col.collection_id, col.model)
    assert set(col.store().names()) == set(members)
