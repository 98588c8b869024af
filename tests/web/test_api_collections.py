"""Collections, items, thumbnails, originals (no traversal), search by items/image/text."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

from PIL import Image

from tests.web.conftest import Api
from tests.web.test_api_auth import is_problem


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_collections_and_items(api: Api) -> None:
    c = api.client("bob")
    cols = c.get("/v1/collections").json()
    assert {
        "name": "flowers",
        "model": "lite0",
        "items": 30,
        "errors": 0,
        "spaces": ["lite0"],
        "text_spaces": [],
    } in cols
    page = c.get("/v1/collections/flowers/items", params={"offset": 5, "limit": 10}).json()
    assert page["total"] == 30 and len(page["items"]) == 10
    item = page["items"][0]
    assert set(item) >= {"item_id", "path", "kind", "thumbnail_url", "original_url"}
    assert item["thumbnail_url"] == f"/v1/items/{item['item_id']}/thumbnail"
    is_problem(c.get("/v1/collections/nope/items"), 404)


def test_thumbnail_and_original(api: Api) -> None:
    c = api.client("alice")
    item_id = api.ids("daisy")[0]
    r = c.get(f"/v1/items/{item_id}/thumbnail")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8"
    path = api.ctx.home.catalog.item_infos([item_id])[item_id].path
    r = c.get(f"/v1/items/{item_id}/original")
    assert r.status_code == 200 and r.content == Path(path).read_bytes()
    is_problem(c.get("/v1/items/999999/thumbnail"), 404)
    is_problem(c.get("/v1/items/999999/original"), 404)
    is_problem(api.client().get(f"/v1/items/{item_id}/original"), 401)


def test_path_traversal_is_impossible(api: Api) -> None:
    c = api.client("alice")
    for path in (
        "/v1/items/..%2F..%2F..%2Fetc%2Fpasswd/original",
        "/v1/items/%2Fetc%2Fpasswd/original",
        "/v1/items/1%2F..%2F..%2Fcatalog.sqlite3/thumbnail",
        "/v1/items/-1/original",
        "/static/..%2F..%2Fsettings.py",
        "/static/../../settings.py",
    ):
        r = c.get(path)
        assert r.status_code in (404, 422), (path, r.status_code)
        assert b"root:" not in r.content and b"class Settings" not in r.content


def test_original_swapped_for_a_symlink_is_refused(api: Api) -> None:
    home = api.ctx.home
    folder = api.images.parent / "swap"
    folder.mkdir()
    for f in sorted((api.images / "daisy").glob("*.jpg"))[:2]:
        shutil.copy(f, folder / f.name)
    home.ensure_collection("swap", "lite0").ingest([folder])
    c = api.client("alice")
    ids = home.collection("swap").matrix().item_ids.tolist()
    infos = home.catalog.item_infos(ids)
    victim = infos[ids[0]].path
    assert c.get(f"/v1/items/{ids[0]}/original").status_code == 200
    os.remove(victim)
    os.symlink("/etc/passwd", victim)
    r = c.get(f"/v1/items/{ids[0]}/original")
    is_problem(r, 404)
    assert b"root:" not in r.content
    # The folder itself swapped for a link to elsewhere: refused too.
    other = infos[ids[1]].path
    moved = api.images.parent / "swap-real"
    os.rename(folder, moved)
    os.symlink(moved, folder)
    is_problem(c.get(f"/v1/items/{ids[1]}/original"), 404)
    assert os.path.exists(other)


def test_search_by_items_with_negatives(api: Api) -> None:
    c = api.client("bob")
    daisies, suns = api.ids("daisy"), api.ids("sunflower")
    r = c.post(
        "/v1/collections/flowers/search",
        json={"item_ids": daisies[:2], "negative_item_ids": suns[:1], "k": 10},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 10
    assert not {h["item_id"] for h in results} & {*daisies[:2], suns[0]}
    assert sum(h["item_id"] in daisies for h in results) >= 9
    scores = [h["score"] for h in results]
    assert scores == sorted(scores, reverse=True)
    assert results[0]["thumbnail_url"].endswith("/thumbnail")
    is_problem(c.post("/v1/collections/flowers/search", json={"item_ids": [999999]}), 404)
    is_problem(c.post("/v1/collections/flowers/search", json={"item_ids": []}), 422)
    is_problem(c.post("/v1/collections/flowers/search", json={"item_ids": [1], "k": 0}), 422)


def test_search_by_uploaded_images(api: Api) -> None:
    c = api.client("bob")
    files = [
        ("images", ("a.jpg", api.image("sunflower", 0), "image/jpeg")),
        ("images", ("b.jpg", api.image("sunflower", 1), "image/jpeg")),
    ]
    r = c.post("/v1/collections/flowers/search/image", files=files, data={"k": "5"})
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert len(hits) == 5 and all(h["item_id"] in api.ids("sunflower") for h in hits)
    r = c.post("/v1/collections/flowers/search/image?k=3", files=files[:1])
    assert len(r.json()["results"]) == 3


def test_upload_limits(api: Api) -> None:
    c = api.client("bob")
    url = "/v1/collections/flowers/search/image"
    one = api.image("daisy")
    six = [("images", (f"{i}.jpg", one, "image/jpeg")) for i in range(6)]
    is_problem(c.post(url, files=six), 422)
    is_problem(c.post(url, data={"k": "3"}), 422)
    is_problem(c.post(url, files=[("images", ("x.jpg", b"not an image", "image/jpeg"))]), 422)
    big = os.urandom(api.settings.max_upload_bytes + 1)
    is_problem(c.post(url, files=[("images", ("big.jpg", big, "image/jpeg"))]), 413)
    huge = os.urandom(api.settings.max_upload_bytes * 6)
    is_problem(c.post(url, files=[("images", ("huge.jpg", huge, "image/jpeg"))]), 413)
    bomb = png(2000, 1000)  # 2 Mpixels over the 1.5 Mpixel limit, a few KB of PNG
    assert len(bomb) < api.settings.max_upload_bytes
    is_problem(c.post(url, files=[("images", ("bomb.png", bomb, "image/png"))]), 413)


def test_chunked_body_over_the_limit_is_413(api: Api) -> None:
    c = api.client("bob")
    limit = api.settings.max_upload_bytes * 6

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    r = c.post(
        "/v1/collections/flowers/search/image",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    is_problem(r, 413)


def test_text_search_needs_a_text_model(api: Api) -> None:
    r = api.client("bob").post("/v1/collections/flowers/search/text", json={"text": "a daisy"})
    is_problem(r, 422)
    assert "text" in r.json()["detail"]
