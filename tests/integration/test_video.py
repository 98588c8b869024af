"""Video decoding on real clips (shots ground truth in shots.csv) and on synthetic ones."""

from __future__ import annotations

import csv
import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from furet.errors import MediaError
from furet.media.video import (
    VIDEO_EXTENSIONS,
    Keyframe,
    analyse_video,
    detect_shots,
    extract_keyframes,
    iter_keyframes,
    probe,
)

VIDEOS = Path(__file__).resolve().parents[2].parent / "shared/data/mdn-cc0-videos"
CONCAT = "concat_flower_friday_flower.mp4"


def clip(name: str) -> Path:
    path = VIDEOS / name
    if not path.exists():
        pytest.skip(f"test video {path} is absent (it lies beside the clone as ../shared/data)")
    return path


def ground_truth() -> dict[str, list[tuple[int, int]]]:
    """Video -> [(start_frame, end_frame)] per shot, from shots.csv."""
    truth: dict[str, list[tuple[int, int]]] = {}
    with open(clip("shots.csv"), newline="") as f:
        for row in csv.DictReader(f):
            truth.setdefault(row["video"], []).append(
                (int(row["start_frame"]), int(row["end_frame"]))
            )
    return truth


def test_extensions_cover_common_containers() -> None:
    assert {".mp4", ".mkv", ".webm", ".mov", ".avi", ".ts", ".mpg"} <= VIDEO_EXTENSIONS


def test_probe_reads_the_header() -> None:
    info = probe(clip(CONCAT))
    assert (info.width, info.height, info.n_frames) == (640, 360, 485)
    assert info.fps == pytest.approx(30.0)
    assert info.duration_s == pytest.approx(485 / 30, abs=0.05)
    flower = probe(clip("flower.mp4"))
    assert (flower.width, flower.height, flower.n_frames) == (960, 540, 150)
    assert flower.fps == pytest.approx(29.97, abs=0.01)


@pytest.mark.parametrize("name", [CONCAT, "flower.mp4", "friday.mp4"])
def test_shots_match_ground_truth(name: str) -> None:
    truth = ground_truth()[name]
    shots = detect_shots(clip(name))
    assert len(shots) == len(truth), shots
    for shot, (start, end) in zip(shots, truth, strict=True):
        assert abs(shot.start_frame - start) <= 1 and abs(shot.end_frame - end) <= 1
    assert [s.index for s in shots] == list(range(len(truth)))
    assert shots[0].start_frame == 0 and shots[0].start_time == 0.0
    for a, b in itertools.pairwise(shots):
        assert b.start_frame == a.end_frame + 1 and b.start_time == pytest.approx(a.end_time)


def _check_keyframes(
    kfs: list[Keyframe], n_shots: int, duration: float, size: tuple[int, int]
) -> None:
    assert [k.time for k in kfs] == sorted(k.time for k in kfs)
    assert sorted({k.shot for k in kfs}) == list(range(n_shots))
    for k in kfs:
        assert k.shot_start <= k.time < k.shot_end <= duration + 1e-6
        assert k.image.mode == "RGB" and k.image.size == size
    assert kfs[-1].shot_end == pytest.approx(duration, abs=0.05)


def test_keyframes_middle_frame_per_shot() -> None:
    # An interval longer than any shot: one keyframe per shot, its middle frame to within 1/32
    # of the shot's length (the bound of the single-pass decimation).
    kfs = extract_keyframes(clip(CONCAT), frame_interval=100.0)
    _check_keyframes(kfs, 3, 485 / 30, (640, 360))
    shots = [(0, 149), (150, 334), (335, 484)]
    assert len(kfs) == 3
    for k, (first, last) in zip(kfs, shots, strict=True):
        assert abs(k.frame_index - (first + last) / 2) <= (last - first + 1) / 32 + 0.5
        assert k.time == pytest.approx(k.frame_index / 30, abs=1e-3)
    # Windows of up to 32 frames keep every frame: the middle is exact.
    short = extract_keyframes(clip(CONCAT), frame_interval=1.0)
    shot0 = [k for k in short if k.shot == 0]
    assert [k.frame_index for k in shot0] == [15, 45, 75, 105, 135]


def test_keyframes_every_interval_in_long_shots() -> None:
    kfs = extract_keyframes(clip(CONCAT), frame_interval=2.0)
    _check_keyframes(kfs, 3, 485 / 30, (640, 360))
    for shot in range(3):
        times = [k.time for k in kfs if k.shot == shot]
        assert len(times) == 3  # ~5-6 s shots, 2 s windows (the last one 1-2 s)
        gaps = np.diff(times)
        assert np.all(gaps >= 1.4) and np.all(gaps <= 2.6), times
    one = extract_keyframes(clip("friday.mp4"), frame_interval=1.0, max_side=320)
    _check_keyframes(one, 1, 185 / 30, (320, 240))
    assert len(one) == 6  # 6.17 s: five 1 s windows, the last 1.17 s


def _write_video(path: Path, frames: list[np.ndarray], codec: str, pix_fmt: str) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(25))
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt
        for a in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _scene(kind: int, t: int, h: int = 144, w: int = 256) -> np.ndarray:
    """A textured, slowly moving picture; ``kind`` picks the palette and pattern."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(kind)
    fx, fy, phase = rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.08), rng.uniform(0, 6)
    wave = 0.5 + 0.5 * np.sin(fx * (x + 2 * t) + fy * y + phase)
    colour = rng.uniform(40, 230, 3).astype(np.float32)
    img = wave[..., None] * colour + (1 - wave[..., None]) * colour[::-1] * 0.5
    return np.clip(img, 0, 255).astype(np.uint8)


def test_fades_and_flashes_on_a_synthetic_video(tmp_path: Path) -> None:
    frames = [_scene(1, t) for t in range(40)]
    frames += [(_scene(1, 40 + t) * (1 - (t + 1) / 10)).astype(np.uint8) for t in range(10)]
    frames += [np.zeros_like(frames[0])] * 5  # black: frames 50..54
    frames += [(_scene(2, t) * ((t + 1) / 10)).astype(np.uint8) for t in range(10)]  # 55..64
    frames += [_scene(2, 10 + t) for t in range(30)]  # 65..94
    frames[72] = np.full_like(frames[0], 255)  # flashes of one and two frames: no cut
    frames[84] = frames[85] = np.full_like(frames[0], 240)
    frames += [_scene(3, t) for t in range(30)]  # hard cut at 95
    path = tmp_path / "synthetic.mp4"
    _write_video(path, frames, "libx264", "yuv420p")
    shots = detect_shots(path)
    starts = [s.start_frame for s in shots]
    assert len(starts) == 3, starts
    assert starts[0] == 0 and 55 <= starts[1] <= 62 and starts[2] == 95
    assert shots[-1].end_frame == len(frames) - 1


def test_slow_fade_of_a_flat_picture_is_one_shot(tmp_path: Path) -> None:
    # A title card brightening: with hard histogram bins every bin edge crossed looked like a cut.
    frames = []
    for t in range(300):
        a = np.full((72, 128, 3), 30 + t * 0.6, dtype=np.float32)
        a[:, (t // 2) % 128] = 250  # something moves
        frames.append(a.astype(np.uint8))
    path = tmp_path / "card.mp4"
    _write_video(path, frames, "libx264", "yuv420p")
    analysis = analyse_video(path, frame_interval=2.0)
    assert [(s.start_frame, s.end_frame) for s in analysis.shots] == [(0, 299)]
    picked = [k.frame_index for k in analysis.keyframes]
    assert len(picked) == 6  # middles of 2 s windows, to within 50 / 32 frames
    assert all(abs(k - m) <= 1 for k, m in zip(picked, [25, 75, 125, 175, 225, 275], strict=True))


def test_packed_pixel_format_goes_through_the_converter(tmp_path: Path) -> None:
    frames = [_scene(4, t) for t in range(30)] + [_scene(5, t) for t in range(30)]
    path = tmp_path / "packed.mkv"
    _write_video(path, frames, "ffv1", "bgr0")
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "bgr0"
    analysis = analyse_video(path, frame_interval=100.0)
    assert [s.start_frame for s in analysis.shots] == [0, 30]
    assert [k.frame_index for k in analysis.keyframes] in ([14, 44], [15, 45], [14, 45], [15, 44])
    middle = np.asarray(analysis.keyframes[0].image)
    assert np.abs(middle.astype(int) - frames[analysis.keyframes[0].frame_index]).mean() < 3


@pytest.mark.parametrize(("codec", "suffix"), [("mpeg4", ".avi"), ("libvpx", ".webm")])
def test_other_codecs_and_containers(tmp_path: Path, codec: str, suffix: str) -> None:
    frames = [_scene(8, t) for t in range(20)] + [_scene(9, t) for t in range(25)]
    path = tmp_path / f"clip{suffix}"
    _write_video(path, frames, codec, "yuv420p")
    analysis = analyse_video(path, frame_interval=100.0)
    assert [(s.start_frame, s.end_frame) for s in analysis.shots] == [(0, 19), (20, 44)]
    assert [k.shot for k in analysis.keyframes] == [0, 1]
    assert analysis.info.fps == pytest.approx(25.0)


def test_ten_bit_video(tmp_path: Path) -> None:
    frames = [_scene(6, t) for t in range(25)] + [_scene(7, t) for t in range(25)]
    path = tmp_path / "ten.mkv"
    try:
        _write_video(path, frames, "libx264", "yuv420p10le")
    except (av.FFmpegError, ValueError) as exc:
        pytest.skip(f"this FFmpeg build cannot encode 10-bit H.264: {exc}")
    assert [s.start_frame for s in detect_shots(path)] == [0, 25]


def _truncated(tmp_path: Path, name: str, fraction: float) -> Path:
    data = clip(name).read_bytes()
    path = tmp_path / f"truncated-{name}"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def test_truncated_video_index_at_end_cannot_open(tmp_path: Path) -> None:
    # The concatenation has its index (moov) at the end: cut, it is unreadable.
    path = _truncated(tmp_path, CONCAT, 0.3)
    with pytest.raises(MediaError, match=r"truncated-concat.*(corrupt|truncated)"):
        extract_keyframes(path)
    with pytest.raises(MediaError):
        probe(path)


def test_truncated_video_is_an_error_unless_allowed(tmp_path: Path) -> None:
    # friday.mp4 has its index first: the first 30% decodes, then the data stops.
    path = _truncated(tmp_path, "friday.mp4", 0.3)
    with pytest.raises(MediaError, match="truncated"):
        extract_keyframes(path)
    part = analyse_video(path, frame_interval=1.0, allow_truncated=True)
    assert part.truncated is not None
    assert 10 < part.frames_decoded < 185
    assert part.keyframes and all(k.time < part.duration_decoded_s for k in part.keyframes)
    assert part.shots[-1].end_frame == part.frames_decoded - 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"this is not a video\n" * 100, "not a video"),
        (bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8)), "not a video"),
    ],
)
def test_non_video_files_raise_media_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError, match=reason):
        extract_keyframes(path)
    with pytest.raises(MediaError):
        probe(path)


def test_missing_file_and_audio_only_raise_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        detect_shots(tmp_path / "absent.mp4")
    audio = tmp_path / "tone.wav"
    with av.open(str(audio), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 8000), dtype=np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(MediaError, match="no video stream"):
        extract_keyframes(audio)


@pytest.mark.slow
def test_lite0_friday_frame_is_nearest_to_the_middle_shot() -> None:
    from furet.embedders import create_embedder

    kfs = extract_keyframes(clip(CONCAT), frame_interval=2.0)
    with av.open(str(clip("friday.mp4"))) as c:
        query = next(f for i, f in enumerate(c.decode(video=0)) if i == 100).to_image()
    emb = create_embedder("lite0")
    images = [query] + [k.image for k in kfs]
    vectors = emb.embed_batch(np.stack([emb.preprocess(img) for img in images]))
    scores = vectors[1:] @ vectors[0]
    ranked = [kfs[i].shot for i in np.argsort(-scores)]
    n_middle = sum(k.shot == 1 for k in kfs)
    assert ranked[:n_middle] == [1] * n_middle, (ranked, scores)
    assert scores[[k.shot == 1 for k in kfs]].min() > scores[[k.shot != 1 for k in kfs]].max() + 0.2


def test_iter_keyframes_streams_the_same_keyframes(tmp_path: Path) -> None:
    listed = extract_keyframes(clip(CONCAT), frame_interval=2.0, max_side=160)
    streamed = iter_keyframes(clip(CONCAT), frame_interval=2.0, max_side=160)
    first = next(streamed)  # the first shot's keyframes come before the end of decoding
    rest = list(streamed)
    assert [(k.frame_index, k.shot, k.shot_end) for k in [first, *rest]] == [
        (k.frame_index, k.shot, k.shot_end) for k in listed
    ]
    assert first.image.size == (160, 90)
    single = extract_keyframes(clip(CONCAT), frame_interval=2.0, max_side=160, threads=1)
    assert [k.frame_index for k in single] == [k.frame_index for k in listed]
    with pytest.raises(MediaError, match="truncated"):
        list(iter_keyframes(_truncated(tmp_path, "friday.mp4", 0.5)))
