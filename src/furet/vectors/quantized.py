"""The int8 scan: a first pass over 8-bit codes, then the head of each ranking in float32.

Scoring a linear model over all vectors reads every vector; on CPUs the float32 matrix product
is dominated by packing the big operand on every call (100k x 1280: ~100 ms for 2 to 20
queries on 2 cores). Here the vectors are quantised once to int8 (one scale per dimension) and
handed to ONNX Runtime as the constant operand of a ``MatMulInteger`` node, which it packs once
when the session is built. A pass then streams the packed codes: 100k x 1280 on one core costs
~10 ms to read the codes plus ~2.3 ms per query (14 ms for one query, 18 for four: concurrent
queries batch into one pass, see ``furet.vectors.batching``).

The query is written as 7-bit codes (unsigned 0..127 around zero point 64, so that the AVX2
kernel's pairwise int16 sums cannot saturate: 2 x 127 x 127 < 2^15). Measured against float32
scores on 100k x 1280 clustered vectors: error std 1.2% of the scores' spread for a class-like
query (2.2% for a random one), which moves the true top 100 to at most rank ~115. (Two 7-bit
digits per query halve that error and double the per-query cost; the refinement below makes
the head exact either way.) The ``refine`` best rows of every ranking are then scored again
from the float16 vectors in float32, so the head of a ranking (any page or top-k) is exact;
``rescore`` gives exact scores for any other rows shown to a user.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from furet.vectors.base import rescored_topk, top_rows
from furet.vectors.batching import Query, QueryBatcher
from furet.vectors.exact import exact_rows
from furet.vectors.reading import read_block

#: Rows per ONNX Runtime session (the codes of one session are one protobuf, < 2 GB).
CHUNK_ROWS = 1 << 18
#: Rows quantised at a time, and rows read at a time for the per-dimension peaks.
_QUANTISE_ROWS = 512
_PEAK_ROWS = 1 << 16
#: Rows of each ranking re-scored in float32: the first pass's error (std ~1-2% of the scores'
#: spread) moves a row by a few ranks near the head, far less than this; shown scores are
#: re-scored too.
REFINE = 256
#: Query codes: 0..127 around this zero point (7 bits, see the module docstring).
_ZERO_POINT = 64
_QUERY_LEVELS = 63


def int8_session(codes_t: np.ndarray, threads: int) -> object:
    """An ONNX Runtime session computing ``(A - 64) @ codes_t`` for ``A: (k, dim) uint8``."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    dim, rows = codes_t.shape
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B", "zero"], ["Y"])],
        "int8_scan",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, ["k", dim])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, ["k", rows])],
        initializer=[
            numpy_helper.from_array(codes_t, "B"),
            helper.make_tensor("zero", TensorProto.UINT8, [], [_ZERO_POINT]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # A server's request threads need the cores between passes: no busy-waiting pool threads.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def dimension_scales(vectors: np.ndarray) -> np.ndarray:
    """``(dim,) float32`` per-dimension steps: the largest magnitude maps to code 127."""
    peak = torch.zeros(vectors.shape[1])
    for start in range(0, len(vectors), _PEAK_ROWS):
        block = torch.from_numpy(read_block(vectors, start, min(start + _PEAK_ROWS, len(vectors))))
        peak = torch.maximum(peak, block.abs().amax(dim=0).float())  # float16 max is exact
    out = peak.numpy()
    out[out == 0] = 1.0
    return out / np.float32(127)


def query_codes(folded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(k, dim)`` weights over codes -> ``(k, dim) uint8`` 7-bit query codes around the zero
    point and ``(k,) float32`` steps: ``codes @ w ~= step * (codes @ (q - 64))``.

    One 7-bit code per query dimension (see the module docstring): a row of the pass costs
    ~2.3 ms per 100k x 1280 on one core, on top of ~10 ms to stream the codes.
    """
    step = (np.abs(folded).max(axis=1) / np.float32(_QUERY_LEVELS)).astype(np.float32)
    step[step == 0] = 1.0
    codes = (np.rint(folded / step[:, None]) + _ZERO_POINT).astype(np.uint8)
    return codes, step


def quantise(block: np.ndarray, inverse: torch.Tensor) -> torch.Tensor:
    """``(rows, dim)`` float rows -> int8 codes ``round(x / scale)`` (``inverse = 1 / scale``)."""
    rows = torch.from_numpy(np.ascontiguousarray(block))
    # Not in place: a float32 store's rows are the caller's own memory.
    return (rows.float() * inverse).round_().clamp_(-127, 127).to(torch.int8)


class Int8Index:
    """Linear scoring over ``(n, dim)`` float16/float32 rows with an int8 first pass."""

    def __init__(self, vectors: np.ndarray, refine: int = REFINE, threads: int | None = None):
        if vectors.ndim != 2:
            raise ValueError("vectors must be (n, dim)")
        self.vectors = vectors
        self.refine = refine
        self.scale = dimension_scales(vectors)
        inverse = torch.from_numpy(1 / self.scale)
        threads = threads or min(os.cpu_count() or 1, 8)
        self._chunks: list[tuple[int, int, object]] = []
        for lo in range(0, len(vectors), CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, len(vectors))
            codes_t = torch.empty((vectors.shape[1], hi - lo), dtype=torch.int8)
            for start in range(lo, hi, _QUANTISE_ROWS):  # small blocks stay in cache: 3x faster
                end = min(start + _QUANTISE_ROWS, hi)
                block = read_block(vectors, start, end)
                codes_t[:, start - lo : end - lo] = quantise(block, inverse).T
            self._chunks.append((lo, hi, int8_session(codes_t.numpy(), threads)))
        self._batcher = QueryBatcher(self._score)

    def __len__(self) -> int:
        return len(self.vectors)

    def scores(self, w: np.ndarray, b: float = 0.0, *, boundary: bool = True) -> np.ndarray:
        """``(n,) float32`` scores ``X @ w + b``; the best ``refine`` are float32-exact."""
        if len(self.vectors) == 0:
            return np.zeros(0, np.float32)
        out = self._batcher.run(w, b)
        # Each caller refines its own ranking, outside the shared pass.
        head = top_rows(out, min(self.refine, len(out)))
        out[head] = exact_rows(self.vectors, head, w, b)
        return out

    def rescore(self, rows: np.ndarray, w: np.ndarray, b: float = 0.0) -> np.ndarray:
        """Float32 scores of ``rows`` only."""
        return exact_rows(self.vectors, rows, w, b)

    def topk(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return rescored_topk(self, query, k, exclude)

    @property
    def chunks(self) -> list[tuple[int, int]]:
        """Row ranges ``[lo, hi)`` of the passes' chunks (one packed operand each)."""
        return [(lo, hi) for lo, hi, _ in self._chunks]

    def first_pass(self, weights: np.ndarray, chunk: int) -> np.ndarray:
        """``(k, hi - lo) float32`` first-pass scores ``X[lo:hi] @ w`` (no bias) of chunk
        ``chunk`` for ``(k, dim)`` weights: one pass over its codes for all of them."""
        codes, step = self._query_codes(np.asarray(weights, np.float32))
        lo, hi = self.chunks[chunk]
        out = np.empty((len(codes), hi - lo), np.float32)
        self._pass(codes, step, chunk, out)
        return out

    def _query_codes(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return query_codes(weights * self.scale)  # (k, dim): x = scale * code

    def _pass(self, codes: np.ndarray, step: np.ndarray, chunk: int, out: np.ndarray) -> None:
        (ints,) = self._chunks[chunk][2].run(None, {"A": codes})  # type: ignore[attr-defined]
        np.multiply(ints, step[:, None], out=out)

    def _score(self, batch: list[Query]) -> None:
        codes, step = self._query_codes(np.stack([q.w for q in batch]))
        out = np.empty((len(batch), len(self.vectors)), np.float32)
        for c, (lo, hi) in enumerate(self.chunks):
            self._pass(codes, step, c, out[:, lo:hi])
        for j, q in enumerate(batch):
            q.out = out[j] + np.float32(q.b)
