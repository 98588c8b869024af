"""Embeddings in clip-retrieval's layout: export, import (resumable, checked), items without
local files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import furet
from furet.errors import InvalidInputError
from furet.web.render import item_json
from tests.conftest import FLOWERS, need
from tests.integration.test_cli import furet_cli


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> furet.Furet:
    root = tmp_path_factory.mktemp("emb")
    for label in ("daisy", "sunflower"):
        dst = root / "imgs" / label
        dst.mkdir(parents=True)
        for f in sorted((need(FLOWERS) / "images" / label).glob("*.jpg"))[:15]:
            shutil.copy(f, dst / f.name)
    f = furet.open(root / "home", furet.Settings(home=root / "home"))
    f.ingest("src", [root / "imgs"])
    return f


def _shard(folder: Path, vectors: np.ndarray, paths: list[str], **extra: list[str]) -> None:
    (folder / "img_emb").mkdir(parents=True, exist_ok=True)
    (folder / "metadata").mkdir(parents=True, exist_ok=True)
    np.save(folder / "img_emb" / "img_emb_0.npy", vectors)
    pq.write_table(
        pa.table({"image_path": paths, **extra}), folder / "metadata" / "metadata_0.parquet"
    )


def test_an_export_reimported_searches_the_same(home: furet.Furet, tmp_path: Path) -> None:
    src = home.collection("src")
    assert src.export_embeddings(tmp_path / "out") == 30
    manifest = json.loads((tmp_path / "out" / "furet.json").read_text())
    assert manifest["model"] == src.model == "lite0-pn" and manifest["dim"] == 1280
    report = home.import_embeddings("copy", tmp_path / "out", model=src.model)
    assert (report.rows, report.imported, report.skipped) == (30, 30, 0)
    copy = home.collection("copy")
    infos_src = home.catalog.item_infos(src.matrix().item_ids.tolist())
    by_path = {i.path: i.item_id for i in infos_src.values()}
    infos_copy = home.catalog.item_infos(copy.matrix().item_ids.tolist())
    assert {i.path for i in infos_copy.values()} == set(by_path)
    assert all(home.catalog.is_imported(i) for i in infos_copy)
    for query in sorted(by_path)[:5]:
        [mine] = [i for i, info in infos_copy.items() if info.path == query]
        a = src.search(item_id=by_path[query], k=10)
        b = copy.search(item_id=mine, k=10)
        assert [h.path for h in a] == [h.path for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-6)
    assert copy.graph() is not None  # the import brings the k-NN graph up to date
    # Resumable, without duplicates: a second import skips every path it has.
    again = home.import_embeddings("copy", tmp_path / "out")
    assert (again.imported, again.skipped) == (0, 30)
    assert len(home.collection("copy").matrix()) == 30


def test_mismatches_are_clear_errors_and_create_nothing(home: furet.Furet, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _shard(tmp_path / "small", rng.standard_normal((4, 384)).astype(np.float16), list("abcd"))
    with pytest.raises(InvalidInputError, match=r"384-d vectors; the space is 1280-d"):
        home.import_embeddings("bad", tmp_path / "small", model="lite0-pn")
    assert home.catalog.find_collection("bad") is None
    home.collection("src").export_embeddings(tmp_path / "out")
    with pytest.raises(InvalidInputError, match=r"holds lite0-pn embeddings, not lite0"):
        home.import_embeddings("bad", tmp_path / "out", model="lite0")
    assert home.catalog.find_collection("bad") is None
    with pytest.raises(InvalidInputError, match="img_emb"):
        home.import_embeddings("bad", tmp_path / "nowhere")
    out = furet_cli(
        home.settings.home, "import", "-c", "bad", "--embeddings", str(tmp_path / "small")
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "384-d vectors" in out.stderr


def test_items_without_local_files_carry_their_url_and_caption(
    home: furet.Furet, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 1280)).astype(np.float32) * 3  # not unit length: normalised
    paths = [f"s3://bucket/{i}.jpg" for i in range(6)]
    urls = [f"https://example.org/{i}.jpg" for i in range(6)]
    _shard(tmp_path / "remote", x, paths, url=urls, caption=[f"photo {i}" for i in range(6)])
    report = home.import_embeddings("remote", tmp_path / "remote", model="lite0-pn")
    assert report.imported == 6
    col = home.collection("remote")
    m = col.matrix()
    np.testing.assert_allclose(np.linalg.norm(m.vectors.astype(np.float32), axis=1), 1, atol=1e-3)
    info = home.catalog.item_infos(m.item_ids.tolist())[int(m.item_ids[0])]
    shown = item_json(info)
    assert shown["url"].startswith("https://example.org/") and shown["caption"].startswith("photo")
    assert home.collection("remote").info().items == 6
    # A text-free space searches them like any other item.
    hits = col.search(item_id=int(m.item_ids[0]), k=3)
    assert len(hits) == 3
    # Export keeps url and caption.
    col.export_embeddings(tmp_path / "back")
    meta = pq.read_table(tmp_path / "back" / "metadata" / "metadata_0.parquet").to_pydict()
    assert sorted(meta["url"]) == sorted(urls) and sorted(meta["image_path"]) == sorted(paths)


def test_search_through_faiss_equals_the_exact_search(home: furet.Furet, tmp_path: Path) -> None:
    exact = home.collection("src")
    forced = furet.open(home.settings.home, home.settings.model_copy(update={"knn": "faiss"}))
    col = forced.collection("src")
    assert type(col.knn()).__name__ == "FaissKnn" and type(exact.knn()).__name__ != "FaissKnn"
    for item in exact.matrix().item_ids[:5].tolist():
        a, b = exact.search(item_id=item, k=10), col.search(item_id=item, k=10)
        assert [h.item_id for h in a] == [h.item_id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-6)
