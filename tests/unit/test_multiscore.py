"""vectors.multiscore: many classes over one block keep exactly the rows the float32 scan keeps."""

from __future__ import annotations

import numpy as np
import pytest

from furet.vectors.multiscore import half_pass, keep_above


def _data(n: int = 20_000, dim: int = 96, k: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((k, dim))
    x = centres[rng.integers(0, k, n)] + rng.standard_normal((n, dim)) * 0.8
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = (centres / np.linalg.norm(centres, axis=1, keepdims=True) * 8).astype(np.float32)
    b = rng.normal(-3, 0.5, k).astype(np.float32)
    return x.astype(np.float16), w, b


def test_kept_rows_and_scores_are_the_exact_scans() -> None:
    x, w, b = _data()
    exact = x.astype(np.float32) @ w.T + b
    floors = np.quantile(exact, 0.9, axis=0).astype(np.float32)  # boundaries in the thick
    kept = keep_above(x, w, b, floors)
    for j, k in enumerate(kept):
        want = np.flatnonzero(exact[:, j] >= floors[j])
        # Only a row within float32 rounding of the floor may differ (another product order).
        differ = np.setxor1d(k.rows, want)
        assert np.all(np.abs(exact[differ, j] - floors[j]) < 1e-5)
        assert len(k.rows) == pytest.approx(len(want), abs=2)
        assert np.allclose(k.scores, exact[k.rows, j], atol=1e-5)


def test_need_limits_the_rows_of_each_class() -> None:
    x, w, b = _data(2000)
    need = np.zeros((len(x), len(w)), bool)
    need[:1000, 0] = True
    need[1000:, 1:] = True
    kept = keep_above(x, w, b, np.full(len(w), -np.inf, np.float32), need)
    assert kept[0].rows.tolist() == list(range(1000))
    assert all(k.rows.min() >= 1000 and len(k.rows) == 1000 for k in kept[1:])


def test_half_pass_error_is_small_and_empty_inputs() -> None:
    x, w, b = _data(5000)
    err = np.abs(half_pass(x, w) - x.astype(np.float32) @ w.T)
    assert err.max() < 2.0**-10 * np.linalg.norm(w, axis=1).max()
    out = keep_above(x[:0], w, b, np.zeros(len(w), np.float32))
    assert [len(k.rows) for k in out] == [0] * len(w)
