"""Items imported from embeddings (``furet import``) through the API: listed with their URL and
caption, a placeholder thumbnail, no original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.web.conftest import Api, build_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    root = tmp_path_factory.mktemp("imported")
    api = build_api(root)
    folder = root / "emb"
    (folder / "img_emb").mkdir(parents=True)
    (folder / "metadata").mkdir()
    rng = np.random.default_rng(0)
    np.save(folder / "img_emb" / "img_emb_0.npy", rng.standard_normal((5, 1280)).astype(np.float16))
    table = pa.table(
        {
            "image_path": [f"https://example.org/{i}.jpg" for i in range(5)],
            "url": [f"https://example.org/{i}.jpg" for i in range(5)],
            "caption": [f"photo {i}" for i in range(5)],
        }
    )
    pq.write_table(table, folder / "metadata" / "metadata_0.parquet")
    api.ctx.home.import_embeddings("remote", folder, model="lite0")
    return api


def test_imported_items_show_a_placeholder_and_their_url(api: Api, tmp_path: Path) -> None:
    c = api.client("alice")
    col = api.ctx.home.collection("remote")
    first = int(col.matrix().item_ids[0])
    r = c.post("/v1/collections/remote/search", json={"item_ids": [first], "k": 4})
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert len(hits) == 4 and all(h["url"].startswith("https://example.org/") for h in hits)
    assert all(h["caption"].startswith("photo ") for h in hits)
    thumb = c.get(hits[0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"].startswith("image/svg+xml")
    assert c.get(hits[0]["original_url"]).status_code == 404  # not a local file
    # An ingested item without its thumbnail file is still a 404 (re-ingest), not a placeholder.
    flowers = api.ctx.home.collection("flowers")
    item = int(flowers.matrix().item_ids[0])
    flowers.layout.thumbnail(item).unlink()
    assert c.get(f"/v1/items/{item}/thumbnail").status_code == 404
