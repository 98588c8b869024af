"""``GET /v1/collections/{name}/duplicates``."""

from __future__ import annotations

from tests.web.conftest import Api


def test_duplicates_route(api: Api) -> None:
    c = api.client("alice")
    r = c.get("/v1/collections/flowers/duplicates", params={"min_cosine": 0.5, "threshold": 0.0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["collection"] == "flowers" and body["candidates"] > 0
    assert body["total"] >= len(body["groups"]) > 0
    item = body["groups"][0]["items"][0]
    assert {"item_id", "path", "thumbnail_url"} <= set(item)
    strict = c.get("/v1/collections/flowers/duplicates").json()
    assert strict["total"] < body["total"]  # 15 daisies and 15 sunflowers, no copies
    assert c.get("/v1/collections/nowhere/duplicates").status_code == 404
    assert c.get("/v1/collections/flowers/duplicates", params={"threshold": 3}).status_code == 422
    assert api.client().get("/v1/collections/flowers/duplicates").status_code == 401
