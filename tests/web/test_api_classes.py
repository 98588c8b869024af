"""Classes over HTTP: the whole teaching loop, and that nobody else can touch a private class."""

from __future__ import annotations

import pytest

from tests.web.conftest import Api
from tests.web.test_api_auth import is_problem


@pytest.fixture(scope="module")
def daisy_class(api: Api) -> int:
    r = api.client("alice").post(
        "/v1/classes",
        json={"name": "daisy", "collection": "flowers", "item_ids": api.ids("daisy")[:1]},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["class_id"])


def test_teaching_loop(api: Api, daisy_class: int) -> None:
    c = api.client("alice")
    daisies = api.ids("daisy")
    listed = c.get("/v1/classes").json()
    summary = next(x for x in listed if x["class_id"] == daisy_class)
    assert summary == {
        "class_id": daisy_class,
        "name": "daisy",
        "collection": "flowers",
        "positives": 1,
        "negatives": 0,
        "versions": 0,
        "visibility": "private",
        "right": "own",
        "owner": "alice",
        "groups": {},
        "public": None,
        "origin": None,
        "origin_class_id": None,
    }
    r = c.post(f"/v1/classes/{daisy_class}/rounds", json={"mode": "search", "page_size": 8})
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["version"] == 1 and first["collection_size"] == 30 and len(first["page"]) == 8
    p = first["page"][0]
    assert set(p) >= {"item_id", "path", "score", "probability", "label", "verdict"}
    assert p["thumbnail_url"] == f"/v1/items/{p['item_id']}/thumbnail"
    pos = [x["item_id"] for x in first["page"] if x["item_id"] in daisies]
    neg = [x["item_id"] for x in first["page"] if x["item_id"] not in daisies]
    assert len(pos) >= 6
    r = c.post(f"/v1/classes/{daisy_class}/labels", json={"positive": pos, "negative": neg})
    assert r.json() == {"positives": 1 + len(pos), "negatives": len(neg)}
    for mode in ("most_useful", "ambiguous", "discovery", "refine", "classify_random"):
        r = c.post(
            f"/v1/classes/{daisy_class}/rounds", json={"mode": mode, "page_size": 5, "seed": 1}
        )
        assert r.status_code == 200, (mode, r.text)
        assert r.json()["mode"] == mode
    detail = c.get(f"/v1/classes/{daisy_class}").json()
    assert len(detail["versions"]) == 6 and detail["positives"] == 1 + len(pos)
    assert "precision" in detail
    versions = c.get(f"/v1/classes/{daisy_class}/versions").json()
    assert [v["version"] for v in versions] == [1, 2, 3, 4, 5, 6]
    export = c.get(f"/v1/classes/{daisy_class}/export").json()
    assert export["model"]["dim"] == 1280 and len(export["labels"]) == 1 + len(pos) + len(neg)
    r = c.post(f"/v1/classes/{daisy_class}/labels", json={"unlabel": pos[-1:]})
    assert r.json() == {"positives": len(pos), "negatives": len(neg)}


def test_round_with_marks_in_one_request(api: Api) -> None:
    c = api.client("alice")
    daisies, sunflowers = api.ids("daisy"), api.ids("sunflower")
    r = c.post(
        "/v1/classes", json={"name": "inline", "collection": "flowers", "item_ids": daisies[:1]}
    )
    url = f"/v1/classes/{r.json()['class_id']}"
    marks = {"positive": daisies[1:3], "negative": sunflowers[:2]}
    r = c.post(f"{url}/rounds", json={"page_size": 5, "labels": marks})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["n_pos"], got["n_neg"], got["version"]) == (3, 2, 1)
    shown = {p["item_id"] for p in got["page"]}
    assert not shown & {*daisies[:3], *sunflowers[:2]}  # marked items are not shown again
    # Bad marks: the request fails as POST .../labels would, and no round runs.
    is_problem(c.post(f"{url}/rounds", json={"labels": {"positive": [999999]}}), 404)
    is_problem(c.post(f"{url}/rounds", json={"labels": {"positive": [1], "negative": [1]}}), 422)
    assert len(c.get(f"{url}/versions").json()) == 1
    r = c.post(f"{url}/rounds", json={"labels": {"unlabel": sunflowers[:1]}})
    assert (r.json()["n_neg"], r.json()["version"]) == (1, 2)
    is_problem(api.client("bob").post(f"{url}/rounds", json={"labels": marks}), 404)


def test_bad_round_and_label_requests(api: Api, daisy_class: int) -> None:
    c = api.client("alice")
    url = f"/v1/classes/{daisy_class}"
    is_problem(c.post(f"{url}/rounds", json={"mode": "psychic"}), 422)
    is_problem(c.post(f"{url}/rounds", json={"page_size": 0}), 422)
    is_problem(c.post(f"{url}/rounds", json={"discovery_rate": 2}), 422)
    is_problem(c.post(f"{url}/labels", json={}), 422)
    is_problem(c.post(f"{url}/labels", json={"positive": [1], "negative": [1]}), 422)
    is_problem(c.post(f"{url}/labels", json={"positive": [999999]}), 404)
    is_problem(c.post(f"{url}/labels", json={"positive": "x"}), 422)
    is_problem(c.post("/v1/classes", json={"name": "daisy", "collection": "flowers"}), 409)
    is_problem(c.post("/v1/classes", json={"name": "x", "collection": "nope"}), 404)
    is_problem(c.get("/v1/classes/notanumber"), 422)


def test_other_users_cannot_touch_a_private_class(api: Api, daisy_class: int) -> None:
    bob = api.client("bob")
    url = f"/v1/classes/{daisy_class}"
    assert daisy_class not in [x["class_id"] for x in bob.get("/v1/classes").json()]
    is_problem(bob.get(url), 404)
    is_problem(bob.get(f"{url}/versions"), 404)
    is_problem(bob.get(f"{url}/export"), 404)
    is_problem(bob.post(f"{url}/labels", json={"positive": api.ids("sunflower")[:1]}), 404)
    is_problem(bob.post(f"{url}/rounds", json={"mode": "search"}), 404)
    is_problem(bob.delete(url), 404)
    # Absent and foreign look the same.
    assert bob.get("/v1/classes/999999").json()["detail"].startswith("you have no class")
    # An administrator sees every class (tests/web/test_sharing.py: what else they may do).
    assert api.client("root").get(url).json()["right"] == "own"
    # Nothing changed for alice.
    assert api.client("alice").get(url).status_code == 200
    is_problem(api.client().get(url), 401)


def test_same_class_name_for_two_users(api: Api) -> None:
    r = api.client("bob").post(
        "/v1/classes",
        json={"name": "daisy", "collection": "flowers", "item_ids": api.ids("daisy")[2:3]},
    )
    assert r.status_code == 201


def test_create_from_image_and_delete(api: Api) -> None:
    c = api.client("alice")
    r = c.post(
        "/v1/classes/from-image",
        files={"image": ("sun.jpg", api.image("sunflower", 3), "image/jpeg")},
        data={"name": "sunflower", "collection": "flowers"},
    )
    assert r.status_code == 201, r.text
    cid = r.json()["class_id"]
    # The uploaded image is the class's first positive: counted as the round counts it.
    assert r.json()["positives"] == 1
    assert c.get(f"/v1/classes/{cid}").json()["examples"] == ["upload"]
    assert [x["positives"] for x in c.get("/v1/classes").json() if x["class_id"] == cid] == [1]
    r = c.post(f"/v1/classes/{cid}/rounds", json={"page_size": 6}).json()
    assert r["n_pos"] == 1
    page = r["page"]
    suns = api.ids("sunflower")
    assert sum(p["item_id"] in suns for p in page) >= 5
    marked = c.post(f"/v1/classes/{cid}/labels", json={"positive": [page[0]["item_id"]]})
    assert marked.json() == {"positives": 2, "negatives": 0}
    is_problem(c.post("/v1/classes/from-image", data={"name": "x", "collection": "flowers"}), 422)
    assert c.delete(f"/v1/classes/{cid}").status_code == 204
    is_problem(c.get(f"/v1/classes/{cid}"), 404)
    is_problem(c.delete(f"/v1/classes/{cid}"), 404)
