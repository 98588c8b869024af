"""/v1/discovery, /v1/classes/{id}/similar, /v1/communities/me, /v1/classes/{id}/community:
the classes others made that fire on an image or item or resemble a class, and the users and
groups closest, over the classes the caller may read only."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.web.conftest import Api
from tests.web.test_api_auth import is_problem


@dataclass(frozen=True)
class Scene:
    """ann (ina): sunflowers public, daisies public; ben (mnhn): sunflowers shared with mnhn;
    cat (mnhn): sunflowers private; out: no group, no class. Each class is taught from 7 of the
    15 sunflowers (or daisies), overlapping the next one's, and 7 of the other kind.

    The collection is half sunflowers and the classes are small, so resemblances are lower
    than in a real collection: the tests that need a related pair ask from 0.2 on."""

    ann_sun: int
    ann_daisy: int
    ben_sun: int
    cat_sun: int
    untrained: int


def _user(api: Api, name: str, groups: list[str]) -> None:
    if name not in api.keys:
        account = api.accounts.create_user(name, None, groups=groups)
        _, api.keys[name] = api.accounts.create_key(account.user_id, "tests")


def _teach(api: Api, user: str, name: str, kind: str, other: str, first: int = 0) -> int:
    c = api.client(user)
    pos, neg = api.ids(kind), api.ids(other)
    body = {"name": name, "collection": "flowers", "item_ids": pos[first : first + 7]}
    r = c.post("/v1/classes", json=body)
    assert r.status_code == 201, r.text
    cid = int(r.json()["class_id"])
    c.post(f"/v1/classes/{cid}/labels", json={"negative": neg[first : first + 7]})
    assert c.post(f"/v1/classes/{cid}/rounds", json={"page_size": 5}).status_code == 200
    return cid


def _share(api: Api, user: str, cid: int, groups: dict[str, str], public: str | None) -> None:
    r = api.client(user).put(
        f"/v1/classes/{cid}/sharing", json={"groups": groups, "public": public}
    )
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def scene(api: Api) -> Scene:
    for name, groups in (("d-ann", ["ina"]), ("d-ben", ["mnhn"]), ("d-cat", ["mnhn"])):
        _user(api, name, groups)
    _user(api, "d-out", [])
    ann_sun = _teach(api, "d-ann", "sun", "sunflower", "daisy")
    ann_daisy = _teach(api, "d-ann", "daisy", "daisy", "sunflower")
    ben_sun = _teach(api, "d-ben", "sun", "sunflower", "daisy", first=4)
    cat_sun = _teach(api, "d-cat", "sun", "sunflower", "daisy", first=8)
    _share(api, "d-ann", ann_sun, {}, "read")
    _share(api, "d-ann", ann_daisy, {}, "read")
    _share(api, "d-ben", ben_sun, {"mnhn": "read"}, None)
    r = api.client("d-ben").post(
        "/v1/classes", json={"name": "new", "collection": "flowers", "item_ids": [1]}
    )
    untrained = int(r.json()["class_id"])
    _share(api, "d-ben", untrained, {}, "read")
    return Scene(ann_sun, ann_daisy, ben_sun, cat_sun, untrained)


def _ids(body: dict[str, object]) -> list[int]:
    results = body["results"]
    assert isinstance(results, list)
    return [int(r["class_id"]) for r in results]


def test_an_uploaded_image_finds_the_classes_of_others(api: Api, scene: Scene) -> None:
    files = [("images", ("q.jpg", api.image("sunflower", 14), "image/jpeg"))]
    r = api.client("d-cat").post("/v1/discovery/image?collection=flowers&similar=2", files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    found = _ids(body)
    assert scene.ann_sun in found and scene.ben_sun in found
    assert scene.cat_sun not in found  # the caller's own: only with include_mine
    first = body["results"][0]
    assert first["class_id"] in (scene.ann_sun, scene.ben_sun)
    assert first["owner"] in ("d-ann", "d-ben") and first["right"] == "read"
    assert first["mine"] is False and first["actions"] == ["use", "fork"]
    assert first["links"]["fork"] == f"/v1/classes/{first['class_id']}/fork"
    assert first["collection"] == "flowers" and first["space"] == "lite0"
    evidence = first["evidence"]
    assert set(evidence) >= {"logit", "probability", "percentile", "fires"}
    assert evidence["percentile"] > 0.5 and 0 <= evidence["probability"] <= 1
    assert len(first["similar"]) == 2
    assert all(s["item_id"] in api.ids("sunflower") for s in first["similar"])
    assert first["similar"][0]["thumbnail_url"].startswith("/v1/items/")
    scores = [x["score"] for x in body["results"]]
    assert scores == sorted(scores, reverse=True)
    ben = next(x for x in body["results"] if x["class_id"] == scene.ben_sun)
    assert ben["groups"] == {"mnhn": "read"} and ben["public"] is None
    assert body["query"] == {"kind": "image", "images": 1, "collection": "flowers"}
    assert body["skipped"].get("untrained", 0) >= 1
    mine = api.client("d-cat").post("/v1/discovery/image?include_mine=true", files=files).json()
    own = next(x for x in mine["results"] if x["class_id"] == scene.cat_sun)
    assert own["mine"] is True and "fork" not in own["actions"] and "fork" not in own["links"]


def test_an_item_finds_classes_and_who_marked_it(api: Api, scene: Scene) -> None:
    item = api.ids("sunflower")[0]  # one of ann's positives
    body = api.client("d-out").get(f"/v1/discovery/items/{item}?limit=20").json()
    found = _ids(body)
    assert found[0] == scene.ann_sun
    assert scene.ben_sun not in found  # shared with mnhn, and d-out is in no group
    assert scene.cat_sun not in found  # private
    assert body["results"][0]["evidence"]["marked_positive"] is True
    assert body["query"] == {"kind": "item", "item_id": item, "collection": "flowers"}
    is_problem(api.client("d-out").get("/v1/discovery/items/999999999"), 404)
    is_problem(api.client("d-out").get(f"/v1/discovery/items/{item}?collection=nope"), 404)
    same = api.client("d-out").get(f"/v1/discovery/items/{item}?collection=flowers&limit=20")
    assert _ids(same.json()) == found


def test_similar_classes_of_a_class(api: Api, scene: Scene) -> None:
    body = api.client("d-cat").get(f"/v1/classes/{scene.ann_sun}/similar?min_score=0.2").json()
    assert _ids(body) == [scene.ben_sun]  # related, readable; not d-ann's daisies
    first = body["results"][0]
    evidence = first["evidence"]
    assert first["score"] >= 0.2
    assert evidence["theirs_on_mine"] > 0.2 and evidence["mine_on_theirs"] > 0.2
    assert evidence["shared_positives"] == 3  # sunflowers 4 to 6 are marked by both
    assert evidence["top_k"] == 5 and evidence["top_overlap"] > 0  # at least 5 items
    assert evidence["shared_top"] and evidence["shared_top"][0]["thumbnail_url"]
    assert body["query"]["class"]["class_id"] == scene.ann_sun
    assert body["query"]["class"]["owner"] == "d-ann"
    mine = api.client("d-cat").get(
        f"/v1/classes/{scene.ann_sun}/similar?include_mine=true&min_score=0.2"
    )
    assert set(_ids(mine.json())) == {scene.ben_sun, scene.cat_sun}
    every = api.client("d-cat").get(f"/v1/classes/{scene.ann_sun}/similar?min_score=-100")
    assert scene.ann_daisy in _ids(every.json())
    # d-out reads ann's class but nothing that resembles it; not ben's class at all.
    assert _ids(api.client("d-out").get(f"/v1/classes/{scene.ann_sun}/similar").json()) == []
    is_problem(api.client("d-out").get(f"/v1/classes/{scene.ben_sun}/similar"), 404)
    is_problem(api.client("d-out").get(f"/v1/classes/{scene.cat_sun}/similar"), 404)
    is_problem(api.client("d-out").get(f"/v1/classes/{scene.untrained}/similar"), 422)


def test_communities(api: Api, scene: Scene) -> None:
    body = api.client("d-ben").get("/v1/communities/me?min_score=0.2").json()
    assert [n["name"] for n in body["users"]] == ["d-ann"]  # d-cat's class is private
    ann = body["users"][0]
    assert ann["kind"] == "user" and ann["score"] > 0.2 and ann["classes"] == 2
    (pair,) = ann["pairs"]
    assert pair["mine"]["class_id"] == scene.ben_sun and pair["theirs"]["class_id"] == scene.ann_sun
    assert pair["theirs"]["links"]["fork"].endswith("/fork")
    assert [g["name"] for g in body["groups"]] == ["ina"]
    assert body["query"]["name"] == "d-ben" and body["compared"]["mine"] >= 1
    cat = api.client("d-cat").get("/v1/communities/me?min_score=0.2").json()
    assert {n["name"] for n in cat["users"]} == {"d-ann", "d-ben"}
    assert {g["name"] for g in cat["groups"]} >= {"ina", "mnhn"}
    url = f"/v1/classes/{scene.ann_sun}/community?min_score=0.2"
    of_class = api.client("d-cat").get(url).json()
    assert "d-ben" in [n["name"] for n in of_class["users"]]
    assert "d-ann" not in [n["name"] for n in of_class["users"]]  # its owner aside
    assert of_class["query"]["class"]["class_id"] == scene.ann_sun
    out = api.client("d-out").get("/v1/communities/me").json()
    assert out["users"] == [] and out["groups"] == [] and out["compared"]["mine"] == 0
    is_problem(api.client("d-out").get(f"/v1/classes/{scene.cat_sun}/community"), 404)


def test_discovery_errors(api: Api, scene: Scene) -> None:
    c = api.client("d-cat")
    files = [("images", ("q.jpg", api.image("daisy"), "image/jpeg"))]
    is_problem(api.client().post("/v1/discovery/image", files=files), 401)
    is_problem(api.client().get("/v1/communities/me"), 401)
    is_problem(c.post("/v1/discovery/image"), 422)
    is_problem(c.post("/v1/discovery/image?collection=nope", files=files), 404)
    is_problem(c.post("/v1/discovery/image?limit=0", files=files), 422)
    bad = [("images", ("q.jpg", b"not an image", "image/jpeg"))]
    is_problem(c.post("/v1/discovery/image", files=bad), 422)
    is_problem(c.get(f"/v1/classes/{scene.ann_sun}/similar?limit=1000"), 422)
    is_problem(c.get(f"/v1/classes/{scene.ann_sun}/similar?min_score=nan"), 422)
    is_problem(c.get("/v1/communities/me?limit=-1"), 422)
    is_problem(c.get(f"/v1/classes/{2**63}/community"), 422)
