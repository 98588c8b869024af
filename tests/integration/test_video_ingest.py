"""Videos through the whole chain: ingest, search with folding, shot spreading, segments."""

import shutil
from pathlib import Path

import av
import pytest
from PIL import Image

import furet
from furet.catalog.repository import ItemInfo
from furet.services.learning import RoundSettings
from tests.conftest import VIDEOS, need

CONCAT = "concat_flower_friday_flower.mp4"
CUTS_S = (5.0, 335 / 30)  # frames 150 and 335 at 30 fps (shots.csv)


def frame_of(video: Path, index: int) -> Image.Image:
    with av.open(str(video)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_image()
    raise AssertionError("frame not found")


@pytest.fixture(scope="module")
def vid(tmp_path_factory: pytest.TempPathFactory) -> tuple[furet.Furet, Path]:
    root = tmp_path_factory.mktemp("video")
    folder = root / "videos"
    folder.mkdir()
    for name in (CONCAT, "flower.mp4", "friday.mp4"):
        shutil.copy(need(VIDEOS) / name, folder / name)
    data = (folder / "flower.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    home = furet.open(root / "home", furet.Settings(home=root / "home"))
    report = home.ensure_collection("v").ingest([folder])
    assert [Path(p).name for p, _ in report.failed] == ["truncated.mp4"]
    assert report.added == 3
    return home, folder


def keyframes(home: furet.Furet) -> dict[int, ItemInfo]:
    col = home.collection("v")
    return home.catalog.item_infos(col.matrix().item_ids.tolist())


def test_keyframes_carry_video_time_and_shot(vid: tuple[furet.Furet, Path]) -> None:
    home, _folder = vid
    infos = keyframes(home)
    concat = [i for i in infos.values() if i.path.endswith(CONCAT)]
    assert {i.kind for i in infos.values()} == {"keyframe"}
    assert sorted({i.shot for i in concat}) == [0, 1, 2]
    for i in concat:
        assert i.shot_start is not None and i.shot_end is not None and i.video_time is not None
        assert i.shot_start <= i.video_time < i.shot_end
    starts = sorted({round(i.shot_start or 0, 2) for i in concat})
    assert starts[1] == pytest.approx(CUTS_S[0], abs=1 / 30)
    assert starts[2] == pytest.approx(CUTS_S[1], abs=1 / 30)
    errors = home.collection("v").errors()
    assert len(errors) == 1 and errors[0][1]


def test_friday_frame_finds_the_middle_shot_and_folds(vid: tuple[furet.Furet, Path]) -> None:
    home, folder = vid
    col = home.collection("v")
    query = frame_of(folder / "friday.mp4", 90)
    q = folder.parent / "q.png"
    query.save(q)
    hits = col.search(image=q, k=30)
    concat_hits = [h for h in hits if h.path.endswith(CONCAT)]
    middle = [h for h in concat_hits if h.shot == 1]
    # Every keyframe of the middle shot ranks before any flower keyframe of the same video.
    assert middle and concat_hits[: len(middle)] == middle
    folded = col.search(image=q, k=30, temporal_range=100.0)
    assert len({h.path for h in folded}) == len(folded)  # one result per video
    assert sum(h.folded for h in folded) + len(folded) == len(hits)
    for h in folded:  # the kept keyframe is the video's best
        assert h.score == max(x.score for x in hits if x.path == h.path)
    json_hit = folded[0].as_json()
    assert {"video", "time", "shot", "folded"} <= set(json_hit)


def test_spread_round_fold_and_segments(vid: tuple[furet.Furet, Path]) -> None:
    home, _folder = vid
    learning = home.learning("v")
    infos = keyframes(home)
    concat = sorted(
        (i for i in infos.values() if i.path.endswith(CONCAT)), key=lambda i: i.video_time or 0
    )
    middle = [i.item_id for i in concat if i.shot == 1]
    flowers = [i.item_id for i in concat if i.shot != 1]
    learning.create("film", "v", from_items=[middle[0]])
    learning.label("film", positives=[middle[0]], negatives=[flowers[0]], spread_range=30.0)
    labels = learning.classes.current_labels(learning.get("film").class_id)
    assert all(labels.get(i) == 1 for i in middle)
    first_shot = [i.item_id for i in concat if i.shot == 0]
    assert all(labels.get(i) == -1 for i in first_shot)
    r = learning.round("film", RoundSettings("search", 5, seed=0, temporal_range=100.0))
    assert len({p.path for p in r.page}) == len(r.page)
    segs = learning.segments("film")
    mine = [s for s in segs if s.video.endswith(CONCAT)]
    assert len(mine) == 1
    assert mine[0].start == pytest.approx(CUTS_S[0], abs=0.05)
    assert mine[0].end == pytest.approx(CUTS_S[1], abs=0.05)


def test_unchanged_videos_are_skipped(vid: tuple[furet.Furet, Path]) -> None:
    home, folder = vid
    again = home.collection("v").ingest([folder])
    assert again.unchanged == 4 and again.items_added == 0
