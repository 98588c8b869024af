"""The simulated user sees the same pages with the compressed scan forced on as with the exact
one (issue 15): shown precision within 0.01 on oxford-flowers17, every selection mode. With
1,360 items the compressed path re-scores about a third of them each round (its margin), so
the comparison is not between two exact scans."""

from __future__ import annotations

import pytest

import furet
from furet.services.evaluation import evaluate
from furet.vectors import compressed
from tests.conftest import FLOWERS


@pytest.mark.parametrize("mode", ["search", "ambiguous", "most_useful", "discovery"])
def test_compressed_scan_shows_what_the_exact_scan_shows(
    flowers_home: furet.Furet, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    col = flowers_home.collection("flowers")
    labels = FLOWERS / "labels.csv"
    exact, n = evaluate(col, labels, mode=mode, scan="exact")
    re_scored: list[int] = []
    refined = compressed.CompressedIndex.refined

    def counting(self: compressed.CompressedIndex, *args: object) -> object:
        out = refined(self, *args)  # type: ignore[arg-type]
        re_scored.append(n if out[1] is None else len(out[1]))
        return out

    monkeypatch.setattr(compressed.CompressedIndex, "refined", counting)
    fast, _ = evaluate(col, labels, mode=mode, scan="compressed")
    assert abs(fast.shown_precision - exact.shown_precision) <= 0.01
    assert sum(re_scored) / len(re_scored) < 0.6 * n  # most rows kept their first-pass score
