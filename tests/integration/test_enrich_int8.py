"""Where a server has built the int8 codes of a space, an enrichment's first pass is the int8
pass; the rows it keeps and their scores are those of the half-precision pass (both exact
float32 near the floor: congruence)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

import furet
from furet.services.enrichment import Rule, tag_store
from furet.services.learning import RoundSettings
from furet.settings import Settings
from furet.vectors.quantized import Int8Index
from tests.synthetic import MODEL, synthetic


def test_int8_first_pass_keeps_the_same_rows(tmp_path: Path) -> None:
    root = tmp_path / "home"
    home = furet.open(root, Settings(home=root, scan="int8"))
    syn = synthetic(home, "syn", 40_000, segment_rows=5000, clusters=6, seed=3)
    learning = home.learning("local")
    for c in range(3):
        learning.create(f"c{c}", "syn", from_items=[int(i) for i in syn.members(c)[:15]])
        learning.label(f"c{c}", negatives=[int(i) for i in syn.members(5)[:15]])
        learning.round(f"c{c}", RoundSettings(page_size=1))
    names = ["c0", "c1", "c2"]

    def enrich(where: furet.Furet) -> tuple[str, dict[str, dict[int, float]]]:
        e = where.enrichment("local")
        job = e.run(e.submit(names, rule=Rule.of(threshold=-0.5)).job_id)
        assert job.state == "done" and job.total == 40_000
        rows = {}
        col = where.collection("syn")
        for name in names:
            _, r = e.tags.rows(learning.get(name), col)
            rows[name] = dict(zip(r.item_ids.tolist(), r.scores.tolist(), strict=True))
        return job.scan, rows

    # Another process (the CLI) has no codes: the half-precision pass over the files.
    scan, half = enrich(furet.open(root, Settings(home=root)))
    assert scan == "half"
    # This one built them for its rounds (a server builds them when it starts): int8.
    assert isinstance(syn.col.index(), Int8Index)
    shutil.rmtree(tag_store(syn.col, MODEL).root)
    scan, int8 = enrich(home)
    assert scan == "int8"
    for name in names:
        assert len(half[name]) > 1000
        differ = set(half[name]) ^ set(int8[name])
        # Only a row within float32 rounding of the floor may differ (another product order).
        assert all(abs(half[name].get(i, int8[name].get(i, 0.0)) + 0.5) < 1e-4 for i in differ)
        common = sorted(set(half[name]) & set(int8[name]))
        assert np.allclose([half[name][i] for i in common], [int8[name][i] for i in common])
