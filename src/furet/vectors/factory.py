"""Which scan serves a space: the exact float16 scan, the int8 first pass or the compressed one."""

from __future__ import annotations

import numpy as np

from furet.errors import InvalidInputError
from furet.vectors.base import VectorIndex
from furet.vectors.compressed import CompressedIndex
from furet.vectors.exact import ExactIndex
from furet.vectors.quantized import Int8Index

SCANS = ("auto", "exact", "int8", "compressed")
#: ``auto`` uses the int8 pass from this many rows on (below, the exact scan is as fast and
#: needs no build; 20k x 1280 float16 is ~4 ms a query).
INT8_MIN_ROWS = 20_000
#: ... and the compressed pass from this many (its first pass reads ~10x less than the int8
#: one, whose 200k x 1280 codes are ~25 ms a round; below, the int8 pass needs no margin).
COMPRESSED_MIN_ROWS = 200_000


def create_index(vectors: np.ndarray, scan: str = "auto", threads: int = 0) -> VectorIndex:
    """The index over ``(n, dim)`` vectors for the ``scan`` setting (``FURET_SCAN``);
    ``threads``: of each int8 pass (0: every core)."""
    if scan not in SCANS:
        raise InvalidInputError(f"scan must be one of {', '.join(SCANS)}, got {scan!r}")
    if scan == "compressed" or (scan == "auto" and len(vectors) >= COMPRESSED_MIN_ROWS):
        return CompressedIndex(vectors, threads=threads or None)
    if scan == "int8" or (scan == "auto" and len(vectors) >= INT8_MIN_ROWS):
        return Int8Index(vectors, threads=threads or None)
    return ExactIndex(vectors)
