"""Mass enrichment over HTTP: jobs in the background, their state, tags paged best first,
counts, the classes of an item, exports; only what the caller may read."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Api


def _wait(client: TestClient, job_id: str) -> dict[str, Any]:
    """The job once it has ended (a deadline only so that a bug cannot hang the suite)."""
    deadline = time.monotonic() + 120
    while True:
        r = client.get(f"/v1/enrichments/{job_id}")
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@pytest.fixture(scope="module")
def taught(api: Api) -> dict[str, Any]:
    """alice's class 'tagged daisy', taught by marking two pages (daisies positive)."""
    alice = api.client("alice")
    daisies, sunflowers = api.ids("daisy"), api.ids("sunflower")
    r = alice.post(
        "/v1/classes",
        json={"name": "tagged daisy", "collection": "flowers", "item_ids": daisies[:1]},
    )
    assert r.status_code == 201, r.text
    class_id = r.json()["class_id"]
    for mode in ("search", "classify_random"):
        page = alice.post(f"/v1/classes/{class_id}/rounds", json={"mode": mode, "seed": 1}).json()
        ids = [p["item_id"] for p in page["page"]]
        marks = {
            "positive": [i for i in ids if i in daisies],
            "negative": [i for i in ids if i in sunflowers],
        }
        assert alice.post(f"/v1/classes/{class_id}/labels", json=marks).status_code == 200
    assert alice.post(f"/v1/classes/{class_id}/rounds", json={"page_size": 1}).status_code == 200
    return {"class_id": class_id, "daisies": daisies, "sunflowers": sunflowers}


def test_enrich_follow_and_read_tags(api: Api, taught: dict[str, Any]) -> None:
    alice = api.client("alice")
    class_id = taught["class_id"]
    r = alice.post("/v1/enrichments", json={"class_ids": [class_id], "precision": 0.9})
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["state"] in ("queued", "running", "done")
    assert started["classes"][0]["rule"] == {"precision": 0.9}
    job = _wait(alice, started["enrichment_id"])
    assert job["state"] == "done", job
    assert job["progress"]["done"] == job["progress"]["total"] == 30
    assert job["progress"]["fraction"] == 1.0
    (c,) = job["classes"]
    assert c["tags"] >= 10 and 0.9 <= c["estimated_precision"] <= 1.0
    assert c["threshold"] >= c["floor"]

    listed = alice.get("/v1/enrichments").json()
    assert listed[0]["enrichment_id"] == job["enrichment_id"]

    page = alice.get(f"/v1/classes/{class_id}/tags", params={"limit": 5}).json()
    assert page["total"] == c["tags"] and len(page["items"]) == 5
    scores = [t["score"] for t in page["items"]]
    assert scores == sorted(scores, reverse=True)
    first = page["items"][0]
    assert first["decision"] is True and first["item_id"] in taught["daisies"]
    assert first["thumbnail_url"] == f"/v1/items/{first['item_id']}/thumbnail"
    assert 0 <= first["confidence"] <= 1 and first["path"].endswith(".jpg")
    # The next page follows, and a lower min_score shows the rows kept below the threshold.
    more = alice.get(f"/v1/classes/{class_id}/tags", params={"offset": 5, "limit": 5}).json()
    assert more["items"][0]["score"] <= scores[-1]
    low = alice.get(
        f"/v1/classes/{class_id}/tags", params={"min_score": c["floor"], "limit": 1000}
    ).json()
    assert low["total"] >= page["total"] and low["min_score"] == c["floor"]
    assert sum(t["decision"] for t in low["items"]) == c["tags"]

    counts = alice.get("/v1/collections/flowers/tags/counts").json()
    mine = next(x for x in counts if x["class_id"] == class_id)
    assert mine["tags"] == c["tags"] and mine["up_to_date"] is True
    assert mine["enrichment_id"] == job["enrichment_id"]

    item = first["item_id"]
    of_item = alice.get(f"/v1/items/{item}/tags").json()
    assert [t["class_id"] for t in of_item if t["class_id"] == class_id] == [class_id]
    assert of_item[0]["decision"] is True
    untagged = next(
        i for i in taught["sunflowers"] if i not in {t["item_id"] for t in low["items"]}
    )
    assert all(t["class_id"] != class_id for t in alice.get(f"/v1/items/{untagged}/tags").json())
    assert alice.get("/v1/items/999999999/tags").status_code == 404


def test_exports(api: Api, taught: dict[str, Any]) -> None:
    alice = api.client("alice")
    class_id = taught["class_id"]
    job = _wait(
        alice,
        alice.post("/v1/enrichments", json={"class_ids": [class_id], "top": 7}).json()[
            "enrichment_id"
        ],
    )
    assert job["state"] == "done" and job["classes"][0]["tags"] == 7
    base = f"/v1/enrichments/{job['enrichment_id']}/export"
    r = alice.get(base, params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 7 and {row["decision"] for row in rows} == {"True"}
    assert all(row["path"].endswith(".jpg") and row["class"] == "tagged daisy" for row in rows)
    r = alice.get(base, params={"format": "jsonl", "all": True})
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert len(lines) >= 7 and sum(x["decision"] for x in lines) == 7
    r = alice.get(f"/v1/classes/{class_id}/tags/export", params={"format": "parquet"})
    assert r.headers["content-type"].startswith("application/vnd.apache.parquet")
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows == 7 and table.column("item_id").to_pylist() == [
        x["item_id"] for x in lines[:7]
    ]
    assert alice.get(base, params={"format": "xml"}).status_code == 422
    assert alice.get(f"/v1/classes/{class_id}/tags/segments").json() == []  # no video here


def test_only_what_the_caller_may_read(api: Api, taught: dict[str, Any]) -> None:
    alice, bob = api.client("alice"), api.client("bob")
    class_id = taught["class_id"]
    job = alice.post("/v1/enrichments", json={"class_ids": [class_id], "threshold": 0}).json()
    _wait(alice, job["enrichment_id"])
    # bob sees neither alice's job nor her class's tags, exactly as if they did not exist.
    for path in (
        f"/v1/enrichments/{job['enrichment_id']}",
        f"/v1/enrichments/{job['enrichment_id']}/export",
        f"/v1/classes/{class_id}/tags",
    ):
        assert bob.get(path).status_code == 404, path
    assert bob.post(f"/v1/enrichments/{job['enrichment_id']}/cancel").status_code == 404
    assert bob.post("/v1/enrichments", json={"class_ids": [class_id]}).status_code == 404
    assert all(
        c["class_id"] != class_id for c in bob.get("/v1/collections/flowers/tags/counts").json()
    )
    assert all(
        c["enrichment_id"] != job["enrichment_id"] for c in bob.get("/v1/enrichments").json()
    )
    # Shared publicly for reading, bob reads the tags and enriches with it himself.
    r = alice.put(f"/v1/classes/{class_id}/sharing", json={"public": "read"})
    assert r.status_code == 200, r.text
    try:
        assert bob.get(f"/v1/classes/{class_id}/tags").status_code == 200
        r = bob.post("/v1/enrichments", json={"class_ids": [class_id], "threshold": 0})
        assert r.status_code == 202, r.text
        done = _wait(bob, r.json()["enrichment_id"])
        assert done["state"] == "done" and done["user"] == "bob"
        assert done["classes"][0]["owner"] == "alice"
    finally:
        alice.put(f"/v1/classes/{class_id}/sharing", json={"public": None})


def test_bad_requests(api: Api, taught: dict[str, Any]) -> None:
    alice = api.client("alice")
    class_id = taught["class_id"]
    bad = [
        {"class_ids": []},
        {"class_ids": [class_id], "precision": 0.9, "top": 3},
        {"class_ids": [class_id], "precision": 1.5},
        {"class_ids": [class_id], "threshold": "NaN"},
        {"class_ids": [class_id], "top": 0},
        {"class_ids": [class_id], "version": 999},
    ]
    for body in bad:
        r = alice.post("/v1/enrichments", json=body)
        assert r.status_code in (404, 422), (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # A class without a model, or with too few marks to calibrate: what to do is said.
    fresh = alice.post(
        "/v1/classes",
        json={"name": "untrained", "collection": "flowers", "item_ids": taught["daisies"][:1]},
    ).json()["class_id"]
    r = alice.post("/v1/enrichments", json={"class_ids": [fresh]})
    assert r.status_code == 422 and "round" in r.json()["detail"]
    alice.post(f"/v1/classes/{fresh}/rounds", json={})
    r = alice.post("/v1/enrichments", json={"class_ids": [fresh]})
    assert r.status_code == 422 and "--threshold" in r.json()["detail"]
    assert (
        alice.post("/v1/enrichments", json={"class_ids": [fresh], "threshold": 0}).status_code
        == 202
    )
    r = alice.post("/v1/enrichments", json={"class_ids": [class_id], "collection": "nope"})
    assert r.status_code == 404
    assert alice.get("/v1/enrichments/nothex").status_code == 422
    assert alice.get("/v1/enrichments/0123456789abcdef").status_code == 404
    r = alice.get(f"/v1/classes/{fresh}/tags", params={"limit": 0})
    assert r.status_code == 422
    assert alice.get("/v1/collections/nope/tags/counts").status_code == 404


def test_cancel_and_incremental_rerun(api: Api, taught: dict[str, Any]) -> None:
    alice = api.client("alice")
    class_id = taught["class_id"]
    first = _wait(
        alice,
        alice.post("/v1/enrichments", json={"class_ids": [class_id], "threshold": 1.0}).json()[
            "enrichment_id"
        ],
    )
    # The same enrichment again finds nothing to score; cancelling a finished job changes nothing.
    again = _wait(
        alice,
        alice.post("/v1/enrichments", json={"class_ids": [class_id], "threshold": 1.0}).json()[
            "enrichment_id"
        ],
    )
    assert again["progress"]["total"] == 0 and again["classes"][0]["scored"] == 0
    assert again["classes"][0]["tags"] == first["classes"][0]["tags"]
    r = alice.post(f"/v1/enrichments/{again['enrichment_id']}/cancel")
    assert r.status_code == 202 and r.json()["state"] == "done"
    # Resuming an ended job starts a new one with its classes and rules: nothing is left to do.
    r = alice.post(f"/v1/enrichments/{first['enrichment_id']}/resume")
    assert r.status_code == 202, r.text
    resumed = _wait(alice, r.json()["enrichment_id"])
    assert resumed["enrichment_id"] != first["enrichment_id"] and resumed["state"] == "done"
    assert resumed["classes"][0]["rule"] == {"threshold": 1.0}
    assert resumed["progress"]["total"] == 0
    assert (
        api.client("bob").post(f"/v1/enrichments/{first['enrichment_id']}/resume").status_code
        == 404
    )
