"""Mass enrichment of video keyframes: the tags' time-coded segments are the class's segments
(``furet export segments``), and exports carry time, shot and segment."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

import furet
from furet.services.enrichment import Rule
from furet.services.learning import RoundSettings
from tests.conftest import VIDEOS, need

CONCAT = "concat_flower_friday_flower.mp4"
CUTS_S = (5.0, 335 / 30)  # frames 150 and 335 at 30 fps (shots.csv)


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> furet.Furet:
    """Two clips ingested, and a class 'film' of the concatenated clip's middle shot."""
    root = tmp_path_factory.mktemp("enrich-video")
    folder = root / "videos"
    folder.mkdir()
    for name in (CONCAT, "friday.mp4"):
        shutil.copy(need(VIDEOS) / name, folder / name)
    home = furet.open(root / "home", furet.Settings(home=root / "home"))
    home.ensure_collection("v").ingest([folder])
    infos = home.catalog.item_infos(home.collection("v").matrix().item_ids.tolist())
    concat = [i for i in infos.values() if i.path.endswith(CONCAT)]
    middle = [i.item_id for i in concat if i.shot == 1]
    flowers = [i.item_id for i in concat if i.shot != 1]
    learning = home.learning("v")
    learning.create("film", "v", from_items=[middle[0]])
    learning.label("film", positives=[middle[0]], negatives=[flowers[0]], spread_range=30.0)
    learning.round("film", RoundSettings(page_size=5, seed=0))
    return home


def test_tag_segments_are_the_class_segments(film: furet.Furet) -> None:
    e = film.enrichment("v")
    job = e.run(e.submit(["film"], rule=Rule.of(threshold=0.0)).job_id)
    assert job.state == "done" and job.classes[0].tags
    from_tags = e.tags.segments("film")
    direct = film.learning("v").segments("film")
    assert [(s.video, s.start, s.end, s.item_ids) for s in from_tags] == [
        (s.video, s.start, s.end, s.item_ids) for s in direct
    ]
    assert [s.max_score for s in from_tags] == pytest.approx([s.max_score for s in direct])
    mine = [s for s in from_tags if s.video.endswith(CONCAT)]
    assert len(mine) == 1
    assert mine[0].start == pytest.approx(CUTS_S[0], abs=0.05)
    assert mine[0].end == pytest.approx(CUTS_S[1], abs=0.05)

    out = io.BytesIO()
    n = e.tags.export(["film"], None, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert len(rows) == n == job.classes[0].tags
    for row in rows:
        assert row["kind"] == "keyframe" and row["video"] == row["path"]
        assert float(row["time"]) >= 0 and row["shot"] != ""
        seg = next(s for s in from_tags if int(row["item_id"]) in s.item_ids)
        assert float(row["segment_start"]) == pytest.approx(seg.start, abs=1e-3)
        assert float(row["segment_end"]) == pytest.approx(seg.end, abs=1e-3)
    page = e.tags.page("film", limit=3).as_json()
    first = page["items"][0]  # type: ignore[index]
    assert {"video", "time", "shot"} <= set(first) and Path(first["video"]).name in (
        CONCAT,
        "friday.mp4",
    )
