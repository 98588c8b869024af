"""Mass enrichment is resumable and incremental (issue 13, section 1): a real ``furet enrich``
killed with SIGKILL half-way resumes without duplicates; new items, re-embedded items, deleted
items and a class's new version are tagged by the next run, which scores only them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import furet
from furet.services.enrichment import Rule, tag_store
from furet.services.learning import Learning, RoundSettings
from furet.settings import Settings
from tests.synthetic import MODEL, Synthetic, add_items, clustered, synthetic

THRESHOLD = 0.5  # a logit; rows are kept from min(threshold, 0) = 0
#: Items of the killed run, and rows per block (a commit each).
N, BLOCK = 30_000, 125


def _teach(learning: Learning, syn: Synthetic, name: str, cluster: int) -> None:
    members = syn.members(cluster)
    others = syn.item_ids[syn.cluster != cluster]
    learning.create(name, syn.col.name, from_items=[int(i) for i in members[:20]])
    learning.label(name, negatives=[int(i) for i in others[:20]])
    learning.round(name, RoundSettings(page_size=1))


def _home(root: Path, **settings: object) -> furet.Furet:
    return furet.open(root, Settings(home=root, **settings))  # type: ignore[arg-type]


def _expected(home: furet.Furet, syn: Synthetic, name: str) -> dict[int, float]:
    """Item -> exact float32 score for every live item scoring >= 0 (the rows kept)."""
    learning = home.learning("local")
    version = learning.classes.latest_version(learning.get(name).class_id)
    assert version is not None
    m = syn.col.matrix()
    s = m.vectors.astype(np.float32) @ version.weights + np.float32(version.bias)
    keep = s >= 0
    return dict(zip(m.item_ids[keep].tolist(), s[keep].tolist(), strict=True))


def _got(home: furet.Furet, syn: Synthetic, name: str) -> dict[int, float]:
    """Item -> score of the class's live rows, as the tags queries read them."""
    _, rows = home.enrichment("local").tags.rows(home.learning("local").get(name), syn.col)
    return dict(zip(rows.item_ids.tolist(), rows.scores.tolist(), strict=True))


def _raw_rows(home: furet.Furet, syn: Synthetic, class_id: int) -> list[int]:
    """Every row of the class's current tagging, straight from its part files."""
    tags = tag_store(syn.col, MODEL)
    t = tags.state().taggings[class_id]
    ids: list[int] = []
    for part in t.parts:
        table = pq.read_table(tags.parts / f"{part}.parquet", filters=[("class_id", "=", class_id)])
        ids += table.column("item_id").to_pylist()
    return ids


def _same(got: dict[int, float], want: dict[int, float]) -> None:
    # Only an item within float32 rounding of the floor may differ (another product order).
    for i in set(got) ^ set(want):
        assert abs(want.get(i, got.get(i, 0.0))) < 1e-4, i
    common = set(got) & set(want)
    assert all(abs(got[i] - want[i]) < 1e-4 for i in common)


def _job_files(home: Path) -> list[dict[str, object]]:
    out = []
    for p in sorted((home / "enrichments").glob("*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue  # being replaced
    return out


def test_killed_enrichment_resumes_without_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "home"
    home = _home(root)
    syn = synthetic(home, "syn", N, segment_rows=1000)
    learning = home.learning("local")
    _teach(learning, syn, "a", 0)
    _teach(learning, syn, "b", 1)
    env = {**os.environ, "FURET_HOME": str(root), "FURET_ENRICH_BLOCK_ROWS": str(BLOCK)}
    cmd = [sys.executable, "-m", "furet.cli.main", "enrich", "-c", "syn", "--class", "a"]
    cmd += ["--class", "b", "--threshold", str(THRESHOLD), "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    done, total = 0, 1
    while proc.poll() is None and time.monotonic() < deadline:
        jobs = _job_files(root)
        if jobs and jobs[0]["total"]:
            done, total = int(jobs[0]["done"]), int(jobs[0]["total"])  # type: ignore[call-overload]
            if done >= total // 10:
                break
        time.sleep(0.005)
    assert proc.poll() is None, "the enrichment ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (killed,) = home.enrichment("local").my_jobs()
    assert killed.state == "interrupted" and 0 < killed.done < killed.total == N

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    job = json.loads(rerun.stdout)
    assert job["state"] == "done"
    # Only what the killed run had not committed was scored again (a block at most redone).
    assert 0 < job["progress"]["total"] <= N - killed.done + BLOCK
    for name in ("a", "b"):
        cls = learning.get(name)
        raw = _raw_rows(home, syn, cls.class_id)
        assert len(raw) == len(set(raw)), "an item has two rows"
        summary, _ = home.enrichment("local").tags.rows(cls, syn.col)
        got = _got(home, syn, name)
        _same(got, _expected(home, syn, name))
        assert summary.tagging.threshold == THRESHOLD
        assert summary.tagging.estimate["tags"] == sum(s >= THRESHOLD for s in got.values())


@pytest.fixture
def tagged(tmp_path: Path) -> tuple[furet.Furet, Synthetic]:
    home = _home(tmp_path / "home", enrich_block_rows=700)
    syn = synthetic(home, "syn", 5000, segment_rows=900, seed=1)
    learning = home.learning("local")
    _teach(learning, syn, "a", 0)
    _teach(learning, syn, "b", 1)
    e = home.enrichment("local")
    job = e.run(e.submit(["a", "b"], rule=Rule.of(threshold=THRESHOLD)).job_id)
    assert job.state == "done" and job.total == 5000
    assert [c.scored for c in job.classes] == [5000, 5000]
    return home, syn


def test_new_items_are_tagged_incrementally(tagged: tuple[furet.Furet, Synthetic]) -> None:
    home, syn = tagged
    e = home.enrichment("local")
    again = e.run(e.submit(["a", "b"], rule=Rule.of(threshold=THRESHOLD)).job_id)
    assert again.total == 0 and [c.scored for c in again.classes] == [0, 0]
    assert e.tags.summary("a").up_to_date

    x, _, _ = clustered(1200, syn.vectors.shape[1], 8, np.random.default_rng(9), syn.centres)
    new = add_items(syn.col, x, 600)
    assert not e.tags.summary("a").up_to_date  # the collection changed since
    job = e.run(e.submit(["a", "b"], rule=Rule.of(threshold=THRESHOLD)).job_id)
    assert job.total == 1200 and [c.scored for c in job.classes] == [1200, 1200]
    for name in ("a", "b"):
        got = _got(home, syn, name)
        _same(got, _expected(home, syn, name))
        assert set(got) & set(new.tolist()), "new items were tagged"
        assert e.tags.summary(name).up_to_date


def test_changed_and_deleted_items(tagged: tuple[furet.Furet, Synthetic]) -> None:
    home, syn = tagged
    e = home.enrichment("local")
    a = home.learning("local").get("a")
    _, rows = e.tags.rows(a, syn.col)
    changed, deleted = int(rows.item_ids[0]), int(rows.item_ids[1])
    # Re-embed ``changed`` with a vector far from the class; delete ``deleted``.
    store = syn.col.store()
    members = home.catalog.segment_members(syn.col.collection_id, MODEL)
    old_seg = next(s for s, ids in members.items() if changed in ids)
    far = -syn.centres[0:1].astype(np.float16)
    seg = store.write(np.array([changed]), far)
    home.catalog.commit_embeddings(MODEL, seg, [changed])
    store.tombstone(old_seg, [changed])
    del_seg = next(s for s, ids in members.items() if deleted in ids)
    store.tombstone(del_seg, [deleted])
    _, rows = e.tags.rows(a, syn.col)
    assert rows.score_of(changed) is None and rows.score_of(deleted) is None
    job = e.run(e.submit(["a"], rule=Rule.of(threshold=THRESHOLD)).job_id)
    assert job.total == 1  # only the new vector
    _, rows = e.tags.rows(a, syn.col)
    assert rows.score_of(changed) is None  # scored again: now below the floor
    assert rows.score_of(deleted) is None


def test_a_new_version_retags_only_its_class(tagged: tuple[furet.Furet, Synthetic]) -> None:
    home, syn = tagged
    e = home.enrichment("local")
    learning = home.learning("local")
    _, before_b = e.tags.rows(learning.get("b"), syn.col)
    learning.label("a", positives=[int(i) for i in syn.members(0)[20:40]])
    learning.round("a", RoundSettings(page_size=1))
    job = e.run(e.submit(["a", "b"], rule=Rule.of(threshold=THRESHOLD)).job_id)
    assert {c.name: c.scored for c in job.classes} == {"a": 5000, "b": 0}
    assert job.classes[0].version == 2
    summary, _ = e.tags.rows(learning.get("a"), syn.col)
    assert summary.tagging.version == 2
    _same(_got(home, syn, "a"), _expected(home, syn, "a"))
    _, after_b = e.tags.rows(learning.get("b"), syn.col)
    assert after_b.item_ids.tolist() == before_b.item_ids.tolist()
    # Another rule for b alone starts a new tagging of b; the old parts of a's version 1 are gone.
    job = e.run(e.submit(["b"], rule=Rule.of(top=10)).job_id)
    assert job.classes[0].scored == 5000 and job.classes[0].tags == 10
    tags = tag_store(syn.col, MODEL)
    listed = {p for t in tags.state().taggings.values() for p in t.parts}
    assert {p.stem for p in tags.parts.glob("*.parquet")} == listed


def test_cancel_between_blocks_then_resume(tagged: tuple[furet.Furet, Synthetic]) -> None:
    home, _ = tagged
    e = home.enrichment("local")
    job = e.submit(["a"], rule=Rule.of(threshold=1.0))  # another rule: a new tagging of a

    def cancel_after_first_block(done: int, total: int) -> None:
        if 0 < done < total:
            e.cancel(job.job_id)

    ended = e.run(job.job_id, cancel_after_first_block)
    assert ended.state == "cancelled" and 0 < ended.done < ended.total == 5000
    assert e.job(job.job_id).state == "cancelled"
    rest = e.run(e.resume(job.job_id).job_id)
    assert rest.state == "done" and rest.total == 5000 - ended.done
    assert rest.classes[0].version == ended.classes[0].version and rest.job_id != job.job_id


def test_a_job_waits_for_the_space_queued(tagged: tuple[furet.Furet, Synthetic]) -> None:
    home, syn = tagged
    e = home.enrichment("local")
    job = e.submit(["b"], rule=Rule.of(top=5))
    with tag_store(syn.col, MODEL).writer():  # another job holds the space
        e.start(job)
        deadline = time.monotonic() + 60
        while e.job(job.job_id).state != "queued" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert e.job(job.job_id).state == "queued"
        time.sleep(0.05)
        assert e.job(job.job_id).done == 0
    while e.job(job.job_id).state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.01)
    finished = e.job(job.job_id)
    assert finished.state == "done" and finished.classes[0].tags == 5
