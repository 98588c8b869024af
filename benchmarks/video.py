"""Video keyframes + lite0 embedding, furet against a naive loop, side by side in one run.

furet: ``iter_keyframes`` (one pass, tiny signatures for shot detection, full-size RGB only
for the keyframes), lite0 batches embedded while decoding goes on. Naive: decode every frame
to a full-size RGB array, embed one frame every ``frame_interval`` seconds as it comes. Model
loading is excluded from both. Prints JSON: seconds of video per second of wall time
("realtime_x") and per CPU-second of the process (all threads) for each.

    .venv/bin/python benchmarks/video.py [--repeat 3] [--interval 2] [--torch-threads 1] [clip ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from PIL import Image

from furet.embedders import Embedder, create_embedder
from furet.media.video import iter_keyframes, probe

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared/data/mdn-cc0-videos"
# lite0 on CPU costs ~37 ms an image in batches of 1-3 and ~67 ms in batches of 9 (cache), so
# keyframes are embedded in small batches, as they come.
_BATCH = 3
CLIPS = ["concat_flower_friday_flower.mp4", "flower.mp4", "friday.mp4"]


def furet_pipeline(path: Path, emb: Embedder, interval: float) -> dict[str, Any]:
    """Keyframes are preprocessed on the decoding thread and embedded in small batches on this
    one while decoding goes on (PyAV and torch both release the GIL): one decoder thread and one
    torch thread, one core each, as the naive loop's single decoder thread plus torch."""
    todo: queue.Queue[np.ndarray | BaseException | None] = queue.Queue(maxsize=32)

    def produce() -> None:
        try:
            for k in iter_keyframes(path, interval, threads=1):
                todo.put(emb.preprocess(k.image))
            todo.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises
            todo.put(exc)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    vectors, done = [], False
    while not done:
        batch = [todo.get()]
        while len(batch) < _BATCH and not todo.empty():
            batch.append(todo.get())
        if isinstance(batch[-1], BaseException):
            raise batch[-1]
        if batch[-1] is None:
            done = True
            batch.pop()
        arrays = [b for b in batch if isinstance(b, np.ndarray)]
        if arrays:
            vectors.append(emb.embed_batch(np.stack(arrays)))
    worker.join()
    return {"keyframes": sum(len(v) for v in vectors)}


def naive_pipeline(path: Path, emb: Embedder, interval: float) -> dict[str, Any]:
    n_frames, n_embedded, next_time = 0, 0, 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            n_frames += 1
            t = frame.time or 0.0
            if t >= next_time:
                emb.embed_batch(emb.preprocess(Image.fromarray(rgb))[None])
                n_embedded += 1
                next_time += interval
    return {"frames": n_frames, "keyframes": n_embedded}


def timed(fn: Callable[[], dict[str, Any]], repeat: int) -> dict[str, Any]:
    walls, cpus, out = [], [], {}
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)  # all threads of this process
    return {
        "wall_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "cpu_s": round(statistics.median(cpus), 3),
        **out,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    # One intra-op thread by default: on a 2-core machine shared with other work, OpenMP's
    # spinning threads made a 3-image lite0 batch 10x slower (2.8 s instead of 0.27 s).
    ap.add_argument("--torch-threads", type=int, default=1)
    args = ap.parse_args()
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    paths = args.clips or [VIDEOS / c for c in CLIPS]
    emb = create_embedder("lite0")
    emb.embed_batch(np.zeros((2, 3, 224, 224), np.float32))  # warm-up: allocations, kernels
    load_before = round(os.getloadavg()[0], 2)
    rows = []
    for path in paths:
        info = probe(path)
        duration, size = info.duration_s, f"{info.width}x{info.height}"
        furet = timed(partial(furet_pipeline, path, emb, args.interval), args.repeat)
        naive = timed(partial(naive_pipeline, path, emb, args.interval), args.repeat)
        for r in (furet, naive):
            r["realtime_x"] = round(duration / r["wall_s"], 1)
            r["realtime_x_best"] = round(duration / r["wall_min_s"], 1)
            # Seconds of video per CPU-second: what the machine's load does not change much.
            r["video_s_per_cpu_s"] = round(duration / r["cpu_s"], 1)
            r["wall_s"], r["wall_min_s"] = round(r["wall_s"], 3), round(r["wall_min_s"], 3)
        rows.append(
            {
                "video": path.name,
                "size": size,
                "duration_s": round(duration, 2),
                "furet": furet,
                "naive": naive,
                "speedup": round(furet["realtime_x"] / naive["realtime_x"], 2),
                "cpu_speedup": round(naive["cpu_s"] / furet["cpu_s"], 2),
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "video keyframes + lite0 embedding",
                "frame_interval_s": args.interval,
                "repeat": args.repeat,
                "cpu_count": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "load_avg_1m_before": load_before,
                "load_avg_1m_after": round(os.getloadavg()[0], 2),
                "machine": platform.machine(),
                "clips": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
