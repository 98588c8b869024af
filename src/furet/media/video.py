"""Video decoding with PyAV: probe, shot boundaries and keyframes, in one streaming pass.

Every frame is decoded (a cut is frame-exact only if every frame is seen), but only a tiny
signature is read from each (``furet.media.shots``: a few thousand samples of the raw Y/U/V
planes, no colour conversion, no scaling). Full-size RGB conversion happens only for the frames
picked as keyframes. Frames that may still be picked are held as decoder frames (YUV, no copy),
decimated so that about 50 of them at most are alive at once (32 in the current window, a few
kept for merging, the detector's lag), whatever the length of the video or of its shots.

Keyframes come out shot by shot, when the shot ends (they carry its end time): the picks of a
long shot wait, as decoder frames (1.5 bytes a pixel) or, with ``max_side``, as small images.

Keyframes of a shot: the shot is cut into consecutive windows of ``frame_interval`` seconds and
each window contributes its middle frame; a last window shorter than half an interval is merged
into the previous one. So a shot shorter than 1.5 intervals gives exactly its middle frame, and a
long shot one keyframe per interval. The picked frame is the middle one to within 1/32 of the
window's length (exact for windows of up to 32 frames).

Broken media: a file that cannot be opened, has no video stream or no decodable frame raises
:class:`MediaError`. A truncated or corrupt stream (decoding fails part-way, or ends well before
its declared duration) raises :class:`MediaError` too, unless ``allow_truncated=True``: then the
decodable part is analysed and ``VideoAnalysis.truncated`` says why it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from furet.errors import InvalidInputError, MediaError
from furet.media.shots import (
    SAMPLE_SHAPE,
    FrameSignature,
    ShotDetector,
    ShotParams,
    SignatureSampler,
)

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m2v", ".ts",
        ".mts", ".m2ts", ".wmv", ".asf", ".flv", ".3gp", ".3g2", ".ogv", ".vob", ".mxf",
        ".dv",
    }
)  # fmt: skip

# Planar YUV / grey layouts whose planes the sampler reads directly (else: one small swscale).
_PLANAR_8BIT = frozenset(
    {
        "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p",
        "yuvj440p", "yuv411p", "yuvj411p", "yuv410p", "gray",
    }
)  # fmt: skip
_PLANAR_HIGH = {
    f"{layout}p{bits}le": bits
    for layout in ("yuv420", "yuv422", "yuv444")
    for bits in (9, 10, 12, 14, 16)
} | {"gray10le": 10, "gray12le": 12}

# Held decoder frames per window: the picked middle is exact to half this many frames.
_CANDIDATES_PER_WINDOW = 16
# A shot ending this short after its last full window is merged into it (fraction of interval).
_MERGE_FRACTION = 0.5
# Decoding stopping this far before the declared duration counts as truncation.
_TRUNCATION_SLACK = 0.1


@dataclass(frozen=True)
class VideoInfo:
    """What the container declares (no decoding). ``n_frames`` may be an estimate."""

    duration_s: float
    fps: float
    n_frames: int
    width: int
    height: int


@dataclass(frozen=True)
class Shot:
    """A shot: frames ``start_frame..end_frame`` inclusive, times ``[start_time, end_time)`` s."""

    index: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float


@dataclass(frozen=True)
class Keyframe:
    """One picked frame: RGB image, time in seconds from the first frame, and its shot."""

    image: Image.Image
    time: float
    frame_index: int
    shot: int
    shot_start: float
    shot_end: float


@dataclass(frozen=True)
class VideoAnalysis:
    """Result of one pass over a video.

    ``truncated`` is None for a clean decode, else why decoding stopped early (only with
    ``allow_truncated=True``; otherwise that is a :class:`MediaError`).
    """

    info: VideoInfo
    shots: list[Shot]
    keyframes: list[Keyframe]
    frames_decoded: int
    duration_decoded_s: float
    truncated: str | None = None


def _open(path: Path) -> Any:
    name = Path(path).name
    if not Path(path).is_file():
        raise MediaError(f"{name}: no such file")
    if Path(path).stat().st_size == 0:
        raise MediaError(f"{name}: empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise MediaError(f"{name}: not a video, or a corrupt or truncated one ({exc})") from None
    except PermissionError:
        raise MediaError(f"{name}: unreadable (permission denied)") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{name}: no video stream")
    return container


def _info(container: Any) -> VideoInfo:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 25.0
    duration = 0.0
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    n_frames = int(stream.frames) if stream.frames else round(duration * fps)
    ctx = stream.codec_context
    return VideoInfo(
        duration_s=duration, fps=fps, n_frames=n_frames, width=ctx.width, height=ctx.height
    )


def probe(path: Path) -> VideoInfo:
    """Duration, frame rate, frame count, size of a video, from its header (no decoding).

    Raises :class:`MediaError` if the file is not a readable video.
    """
    container = _open(Path(path))
    try:
        return _info(container)
    finally:
        container.close()


class _FramePlanes:
    """Reads a decoded frame's Y/U/V planes as arrays, without converting the frame."""

    def __init__(self) -> None:
        self._sampler = SignatureSampler()
        self._reformatter: VideoReformatter | None = None

    def signature(self, frame: av.VideoFrame) -> FrameSignature:
        dtype: np.dtype[Any]
        name = frame.format.name
        if name in _PLANAR_8BIT:
            dtype, bits = np.dtype(np.uint8), 8
        elif name in _PLANAR_HIGH:
            dtype, bits = np.dtype("<u2"), _PLANAR_HIGH[name]
        else:
            # Packed or exotic layouts: one small conversion (~1 ms), still no full-size RGB.
            if self._reformatter is None:
                self._reformatter = VideoReformatter()
            frame = self._reformatter.reformat(
                frame, width=SAMPLE_SHAPE[1], height=SAMPLE_SHAPE[0], format="yuv444p"
            )
            dtype, bits = np.dtype(np.uint8), 8
        planes, widths = [], []
        for plane in frame.planes[:3]:
            stride = plane.line_size // dtype.itemsize
            data = np.frombuffer(memoryview(plane), dtype=dtype, count=stride * plane.height)
            planes.append(data.reshape(plane.height, stride))
            widths.append(plane.width)
        return self._sampler.signature(planes, widths, bits)


@dataclass
class _Candidate:
    index: int
    time: float
    frame: av.VideoFrame | None
    image: Image.Image | None = None


@dataclass
class _ShotState:
    start_index: int
    start_time: float
    window_index: int
    window_time: float
    picked: list[_Candidate] = field(default_factory=list)
    # Start of the window before the current one (for merging a short last window into it).
    previous_window: tuple[int, float] | None = None
    # Decimation step of the held frames of the current window.
    stride: int = 1


class _KeyframePicker:
    """Turns the detector's decisions into shots and keyframes, holding as few frames as it can."""

    def __init__(self, interval: float, keep_frames: bool, max_side: int | None):
        self.interval = interval
        self.keep_frames = keep_frames
        self.max_side = max_side
        self.times: dict[int, float] = {}  # undecided frames
        self.buffer: list[_Candidate] = []
        self.shot: _ShotState | None = None
        self.shots: list[Shot] = []
        self.keyframes: list[Keyframe] = []

    def add(self, index: int, time: float, frame: av.VideoFrame) -> None:
        self.times[index] = time
        if self.keep_frames:
            self.buffer.append(_Candidate(index, time, frame))

    def decide(self, index: int, starts_shot: bool) -> None:
        time = self.times.pop(index)
        shot = self.shot
        if shot is None or starts_shot:
            if shot is not None:
                self._close_shot(index - 1, time)
            self.shot = _ShotState(index, time, index, time)
            return
        if time - shot.window_time >= self.interval:
            picked = self._pick(shot.window_index, index - 1, (shot.window_time + time) / 2)
            if picked.frame is not None and self.max_side is not None:
                # A long shot's picks wait for its end: hold them small when allowed to.
                picked = _Candidate(
                    picked.index, picked.time, None, _to_image(picked.frame, self.max_side)
                )
            shot.picked.append(picked)
            shot.previous_window = (shot.window_index, shot.window_time)
            shot.window_index, shot.window_time, shot.stride = index, time, 1
            # Keep only what a merge with a short last window could still pick.
            lo = shot.previous_window[1] + self.interval * _MERGE_FRACTION - 1e-9
            hi = shot.previous_window[1] + self.interval * (1 + _MERGE_FRACTION) / 2 + 1e-9
            self.buffer = [c for c in self.buffer if c.index >= index or lo <= c.time <= hi]
        elif self.keep_frames:
            self._decimate(shot, settled_before=index)

    def _decimate(self, shot: _ShotState, settled_before: int) -> None:
        """Keep the settled frames of the current window on a grid of step ``shot.stride``,
        doubling the step whenever more than ``2 * _CANDIDATES_PER_WINDOW`` would stay: the
        middle of a window of ``m`` frames is then picked to within ``m / 32`` frames, with a
        bounded number of held frames whatever the window length.
        """
        start = shot.window_index
        settled = [c for c in self.buffer if start <= c.index < settled_before]
        newest = settled_before - 1
        if (newest - start) % shot.stride == 0 and len(settled) <= 2 * _CANDIDATES_PER_WINDOW:
            return
        if len(settled) > 2 * _CANDIDATES_PER_WINDOW:
            shot.stride *= 2
        self.buffer = [
            c
            for c in self.buffer
            if not (start <= c.index < settled_before and (c.index - start) % shot.stride)
        ]

    def take(self) -> list[Keyframe]:
        """The keyframes of the shots closed since the last call."""
        out, self.keyframes = self.keyframes, []
        return out

    def finish(self, end_time: float, last_index: int) -> None:
        if self.shot is not None:
            self._close_shot(last_index, end_time)

    def _pick(self, first: int, last: int, target: float) -> _Candidate:
        candidates = [c for c in self.buffer if first <= c.index <= last]
        if not candidates:  # only when frames are not kept (shot detection alone)
            return _Candidate(first, target, None)
        return min(candidates, key=lambda c: abs(c.time - target))

    def _close_shot(self, end_index: int, end_time: float) -> None:
        shot = self.shot
        assert shot is not None
        if (
            end_time - shot.window_time < self.interval * _MERGE_FRACTION
            and shot.picked
            and shot.previous_window is not None
        ):
            shot.picked.pop()
            first, first_time = shot.previous_window
        else:
            first, first_time = shot.window_index, shot.window_time
        shot.picked.append(self._pick(first, end_index, (first_time + end_time) / 2))
        number = len(self.shots)
        self.shots.append(Shot(number, shot.start_index, end_index, shot.start_time, end_time))
        if self.keep_frames:
            for c in shot.picked:
                image = c.image
                if image is None:
                    assert c.frame is not None
                    image = _to_image(c.frame, self.max_side)
                self.keyframes.append(
                    Keyframe(
                        image=image,
                        time=c.time,
                        frame_index=c.index,
                        shot=number,
                        shot_start=shot.start_time,
                        shot_end=end_time,
                    )
                )
        self.buffer = [c for c in self.buffer if c.index > end_index]
        self.shot = None


def _to_image(frame: av.VideoFrame, max_side: int | None) -> Image.Image:
    if max_side is None or max(frame.width, frame.height) <= max_side:
        return frame.to_image()
    scale = max_side / max(frame.width, frame.height)
    width = max(1, round(frame.width * scale))
    height = max(1, round(frame.height * scale))
    return frame.to_image(width=width, height=height, interpolation="AREA")


def _scan(
    path: Path,
    frame_interval: float,
    keyframes: bool,
    max_side: int | None,
    allow_truncated: bool,
    params: ShotParams | None,
    threads: int,
) -> Generator[Keyframe, None, VideoAnalysis]:
    """Yield keyframes as their shots close; return the analysis (with no keyframes in it)."""
    if not frame_interval > 0:
        raise InvalidInputError(f"frame_interval must be > 0 seconds, got {frame_interval}")
    path = Path(path)
    container = _open(path)
    try:
        info = _info(container)
        stream = container.streams.video[0]
        if threads != 1:
            # Frame + slice threads: the lowest latency for one video on an idle machine, but
            # ~30% more CPU in all than one thread (see ``threads`` in analyse_video).
            stream.thread_type = "AUTO"
            stream.thread_count = max(0, threads)
        detector = ShotDetector(params)
        picker = _KeyframePicker(frame_interval, keyframes, max_side)
        planes = _FramePlanes()
        step = 1.0 / info.fps
        origin: float | None = None
        time = -step
        n = 0
        failure: str | None = None
        try:
            for frame in container.decode(stream):
                # Times count from the first frame; missing or non-increasing timestamps
                # (broken muxers) fall back to the nominal rate.
                raw = frame.time
                if raw is not None and origin is None:
                    origin = raw
                if raw is not None and origin is not None and raw - origin > time:
                    time = raw - origin
                else:
                    time = time + step
                picker.add(n, time, frame)
                for index, starts in detector.push(planes.signature(frame)):
                    picker.decide(index, starts)
                n += 1
                if picker.keyframes:
                    yield from picker.take()
        except av.FFmpegError as exc:
            failure = f"decoding failed after {n} frames ({exc})"
        if n == 0:
            raise MediaError(f"{path.name}: no decodable video frame ({failure or 'empty'})")
        for index, starts in detector.finish():
            picker.decide(index, starts)
        decoded = time + step
        declared = info.duration_s
        if failure is None and declared > 0 and decoded < declared * (1 - _TRUNCATION_SLACK):
            failure = f"stream ends at {decoded:.2f} s of a declared {declared:.2f} s"
        if failure is not None:
            if not allow_truncated:
                raise MediaError(f"{path.name}: corrupt or truncated video: {failure}")
            log.warning("%s: analysing the decodable part only: %s", path.name, failure)
        picker.finish(decoded, n - 1)
        yield from picker.take()
        return VideoAnalysis(
            info=info,
            shots=picker.shots,
            keyframes=[],
            frames_decoded=n,
            duration_decoded_s=decoded,
            truncated=failure,
        )
    finally:
        container.close()


def analyse_video(
    path: Path,
    frame_interval: float = 2.0,
    *,
    keyframes: bool = True,
    max_side: int | None = None,
    allow_truncated: bool = False,
    params: ShotParams | None = None,
    threads: int = 0,
) -> VideoAnalysis:
    """Decode ``path`` once: its shots and (if ``keyframes``) its keyframes.

    ``frame_interval``: seconds between keyframes inside a long shot. ``max_side``: downscale
    keyframe images so their longer side is at most this (None: full size). ``threads``:
    decoder threads, 0 for FFmpeg's choice (fastest for one video on an idle machine); pass 1
    when the cores are busy anyway (several videos decoded at once, embedding running beside):
    it costs the least CPU in all. Raises :class:`MediaError` for an unreadable, broken or
    (unless ``allow_truncated``) truncated video.
    """
    scan = _scan(path, frame_interval, keyframes, max_side, allow_truncated, params, threads)
    found: list[Keyframe] = []
    while True:
        try:
            found.append(next(scan))
        except StopIteration as done:
            return replace(done.value, keyframes=found)


def iter_keyframes(
    path: Path,
    frame_interval: float = 2.0,
    *,
    max_side: int | None = None,
    allow_truncated: bool = False,
    threads: int = 0,
) -> Iterator[Keyframe]:
    """The keyframes of :func:`extract_keyframes`, yielded as soon as each shot ends, so that
    embedding can overlap decoding and memory stays bounded by the longest shot.

    A :class:`MediaError` can come after some keyframes were yielded (a stream that breaks or
    ends early): the caller should then drop that video's keyframes. ``threads``: as in
    :func:`analyse_video`.
    """
    yield from _scan(path, frame_interval, True, max_side, allow_truncated, None, threads)


def extract_keyframes(
    path: Path,
    frame_interval: float = 2.0,
    *,
    max_side: int | None = None,
    allow_truncated: bool = False,
    threads: int = 0,
) -> list[Keyframe]:
    """Keyframes of a video in time order: each shot's middle frame, and one per
    ``frame_interval`` seconds inside long shots (see the module docstring).

    Raises :class:`MediaError` for an unreadable, broken or truncated video.
    """
    return analyse_video(
        path, frame_interval, max_side=max_side, allow_truncated=allow_truncated, threads=threads
    ).keyframes


def detect_shots(path: Path, *, allow_truncated: bool = False, threads: int = 0) -> list[Shot]:
    """Shots of a video, in order, found from hard cuts and fades through black."""
    return analyse_video(
        path, keyframes=False, allow_truncated=allow_truncated, threads=threads
    ).shots


def frames_at(path: Path, times: list[float], max_side: int | None = None) -> list[Image.Image]:
    """The frames nearest to ``times`` (seconds from the first frame, as keyframes give them),
    in the order asked, from one sequential decode. Raises :class:`MediaError`."""
    if not times:
        return []
    wanted = sorted(range(len(times)), key=lambda i: times[i])
    found: dict[int, Image.Image] = {}
    best: dict[int, float] = {}
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first: float | None = None
        pending: list[tuple[int, av.VideoFrame]] = []
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            first = t if first is None else first
            t -= first
            for i in wanted:
                if i in found:
                    continue
                gap = abs(t - times[i])
                if gap < best.get(i, float("inf")):
                    best[i] = gap
                    pending.append((i, frame))
            # A wanted time is settled once the decode is past it by more than a frame.
            for i, f in [(i, f) for i, f in pending if times[i] < t - 0.1 and i not in found]:
                found[i] = _to_image(f, max_side)
            pending = [(i, f) for i, f in pending if i not in found]
            if len(found) == len(times):
                break
        for i, f in pending:
            found.setdefault(i, _to_image(f, max_side))
    except av.FFmpegError as exc:
        raise MediaError(f"{Path(path).name}: corrupt or truncated video ({exc})") from None
    finally:
        container.close()
    missing = [times[i] for i in range(len(times)) if i not in found]
    if missing:
        raise MediaError(f"{Path(path).name}: no frame at {missing[0]:.2f} s")
    return [found[i] for i in range(len(times))]
