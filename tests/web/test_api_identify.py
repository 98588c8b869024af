"""/v1/identify: the caller's trained classes ranked on uploaded images, with similar images."""

from __future__ import annotations

from tests.web.conftest import Api
from tests.web.test_api_auth import is_problem


def teach(api: Api, user: str, name: str, kind: str, other: str) -> int:
    c = api.client(user)
    pos, neg = api.ids(kind), api.ids(other)
    r = c.post("/v1/classes", json={"name": name, "collection": "flowers", "item_ids": pos[:5]})
    cid = int(r.json()["class_id"])
    c.post(f"/v1/classes/{cid}/labels", json={"negative": neg[:5]})
    assert c.post(f"/v1/classes/{cid}/rounds", json={"page_size": 5}).status_code == 200
    return cid


def test_identify_ranks_the_callers_classes(api: Api) -> None:
    sun = teach(api, "bob", "sunflower-id", "sunflower", "daisy")
    daisy = teach(api, "bob", "daisy-id", "daisy", "sunflower")
    c = api.client("bob")
    c.post("/v1/classes", json={"name": "untrained", "collection": "flowers", "item_ids": [1]})
    files = [("images", ("q.jpg", api.image("sunflower", 14), "image/jpeg"))]
    r = c.post("/v1/identify?collection=flowers&similar=2&scope=mine", files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    results = body["results"]
    mine = {x["class_id"] for x in results}
    assert {sun, daisy} <= mine and body["untrained_classes"] >= 1
    assert results[0]["class_id"] == sun and results[0]["probability"] > 0.5
    assert [x["score"] for x in results] == sorted((x["score"] for x in results), reverse=True)
    sims = results[0]["similar"]
    assert len(sims) == 2 and all(s["item_id"] in api.ids("sunflower") for s in sims)
    assert sims[0]["thumbnail_url"].startswith("/v1/items/")
    # alice's classes never show up for bob, nor bob's for alice.
    alice = api.client("alice").post("/v1/identify", files=files).json()["results"]
    assert not {x["class_id"] for x in alice} & mine


def test_identify_errors(api: Api) -> None:
    c = api.client("bob")
    is_problem(c.post("/v1/identify"), 422)
    files = [("images", ("q.jpg", api.image("daisy"), "image/jpeg"))]
    is_problem(c.post("/v1/identify?collection=nope", files=files), 404)
    is_problem(api.client().post("/v1/identify", files=files), 401)
