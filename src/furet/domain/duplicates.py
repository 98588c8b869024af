"""Near-duplicate images: candidates from the k-NN graph, verified on the pixels.

The embedding alone cannot tell a re-encoded, resized or lightly cropped copy from another shot
of the same scene: on oxford-flowers17 (lite0-pn) altered copies sit at cosine 0.83-1.0 from
their original, and consecutive shots of one flower at 0.90-0.96 from each other. So a pair of
neighbours with cosine >= ``MIN_COSINE`` is only a candidate; it is kept if the two images'
*pixel signatures* agree: the central part of each thumbnail, grey, 24 x 24, zero-mean and unit
norm, compared by normalised cross-correlation, the second one also at a tighter and a looser
crop (a copy cropped by a few percent still lines up). Copies score 0.94-1.0, other shots of a
scene mostly below 0.86 (``benchmarks/duplicates.py``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

#: Embedding cosine from which two neighbours are a candidate pair.
MIN_COSINE = 0.8
#: Pixel agreement from which a candidate pair is a near-duplicate.
THRESHOLD = 0.92
#: Side of the signature, and the crops compared (share of each side kept, centred).
SIDE = 24
CROPS = (0.8, 0.72, 0.88)


def signature(image: Image.Image) -> np.ndarray:
    """``(len(CROPS), SIDE * SIDE) float32``: the image's signature at each crop."""
    grey = ImageOps.grayscale(image)
    w, h = grey.size
    out = np.empty((len(CROPS), SIDE * SIDE), np.float32)
    for i, frac in enumerate(CROPS):
        box = (
            int(w * (1 - frac) / 2),
            int(h * (1 - frac) / 2),
            max(int(w * (1 + frac) / 2), int(w * (1 - frac) / 2) + 1),
            max(int(h * (1 + frac) / 2), int(h * (1 - frac) / 2) + 1),
        )
        v = np.asarray(
            grey.crop(box).resize((SIDE, SIDE), Image.Resampling.BILINEAR), np.float32
        ).ravel()
        v = v - v.mean()
        out[i] = v / (float(np.linalg.norm(v)) or 1.0)
    return out


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel agreement of two signatures in [-1, 1]: the best correlation of either image's
    main crop with the other's crops (symmetric)."""
    return float(max((b @ a[0]).max(), (a @ b[0]).max()))


def groups(n: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Connected components (of size >= 2) of the ``pairs`` over ``n`` rows, largest first,
    each sorted (union-find)."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for i in {x for p in pairs for x in p}:
        members.setdefault(find(i), []).append(i)
    out = [sorted(g) for g in members.values() if len(g) > 1]
    return sorted(out, key=lambda g: (-len(g), g[0]))
