"""What the browser UI needs from the API: the score kind of a round, rename, the spot-check
estimate, class counts, text search in any text-capable space, one naming of video fields."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

import furet
from furet.settings import Settings
from furet.web import create_app
from tests.conftest import FLOWERS, VIDEOS, need
from tests.web.conftest import PASSWORD, Api
from tests.web.test_api_auth import is_problem

VIDEO_FIELDS = {"video", "time", "shot"}
CLI = [sys.executable, "-m", "furet.cli.main"]


def new_class(c: TestClient, name: str, item_ids: list[int]) -> int:
    r = c.post("/v1/classes", json={"name": name, "collection": "flowers", "item_ids": item_ids})
    assert r.status_code == 201, r.text
    return int(r.json()["class_id"])


def test_a_first_page_shows_the_similarity_that_ranked_it(api: Api) -> None:
    c = api.client("alice")
    daisies = api.ids("daisy")
    cid = new_class(c, "ui-first-page", [daisies[0]])
    first = c.post(f"/v1/classes/{cid}/rounds", json={"page_size": 10}).json()
    # The nearest neighbours of the positives: the page carries their cosine similarity, in
    # the order of the page (the class probabilities of that page are not in that order).
    assert first["score_kind"] == "similarity"
    sims = [p["similarity"] for p in first["page"]]
    assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1 for s in sims)
    # Once the model ranks the page, the page carries the probability, in its order.
    negatives = [p["item_id"] for p in first["page"] if p["item_id"] not in daisies]
    body = {"page_size": 10, "labels": {"negative": negatives or api.ids("sunflower")[:2]}}
    second = c.post(f"/v1/classes/{cid}/rounds", json=body).json()
    assert second["score_kind"] == "probability"
    probs = [p["probability"] for p in second["page"]]
    assert probs == sorted(probs, reverse=True)
    assert all("similarity" not in p for p in second["page"])


def test_rename_a_class(api: Api) -> None:
    alice, bob = api.client("alice"), api.client("bob")
    cid = new_class(alice, "ui-before", [api.ids("daisy")[1]])
    other = new_class(alice, "ui-taken", [api.ids("daisy")[2]])
    r = alice.patch(f"/v1/classes/{cid}", json={"name": "ui-after"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "ui-after" and r.json()["class_id"] == cid
    assert alice.get(f"/v1/classes/{cid}").json()["name"] == "ui-after"
    names = {x["class_id"]: x["name"] for x in alice.get("/v1/classes").json()}
    assert names[cid] == "ui-after" and names[other] == "ui-taken"
    # The same name again is a no-op; another class's name is a conflict.
    assert alice.patch(f"/v1/classes/{cid}", json={"name": "ui-after"}).status_code == 200
    is_problem(alice.patch(f"/v1/classes/{cid}", json={"name": "ui-taken"}), 409)
    # An administrator renaming alice's class meets alice's names, and is told so.
    clash = api.client("root").patch(f"/v1/classes/{cid}", json={"name": "ui-taken"})
    is_problem(clash, 409)
    assert "the owner of class" in clash.json()["detail"]
    is_problem(alice.patch(f"/v1/classes/{cid}", json={"name": ""}), 422)
    is_problem(alice.patch(f"/v1/classes/{cid}", json={}), 422)
    # Private: another user's class is not found, and keeps its name.
    is_problem(bob.patch(f"/v1/classes/{cid}", json={"name": "mine"}), 404)
    assert alice.get(f"/v1/classes/{cid}").json()["name"] == "ui-after"


def test_spot_check_with_too_few_marks_is_no_nan(api: Api) -> None:
    c = api.client("alice")
    cid = new_class(c, "ui-spot", [api.ids("daisy")[3]])
    page = c.post(
        f"/v1/classes/{cid}/rounds", json={"mode": "classify_random", "page_size": 20, "seed": 3}
    ).json()["page"]
    said_no = [p["item_id"] for p in page if p["verdict"] == "negative"][:2]
    assert len(said_no) == 2
    c.post(f"/v1/classes/{cid}/labels", json={"negative": said_no})
    # The model called none of the marked items positive: no precision to give (was a NaN,
    # which no JSON carries: a 500).
    r = c.get(f"/v1/classes/{cid}")
    assert r.status_code == 200, r.text
    assert r.json()["spot_checked"] == 2
    assert r.json()["precision"] == {"value": None, "low": 0.0, "high": 1.0}
    # The CLI says so in words.
    out = subprocess.run(
        [*CLI, "--home", str(api.settings.home), "class", "show", "ui-spot", "--user", "alice"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "not enough marks" in out.stdout and "nan" not in out.stdout


@dataclass
class Mixed:
    client: TestClient
    home: furet.Furet


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixed]:
    """Collection ``mix``: 6 daisies and a video, lite0, tiny CLIP / M-CLIP weights at hand."""
    from tests.unit.test_hf_embedders import build_tiny_models

    root = tmp_path_factory.mktemp("mixed")
    files = root / "files"
    files.mkdir()
    for f in sorted((need(FLOWERS) / "images" / "daisy").glob("*.jpg"))[:6]:
        shutil.copy(f, files / f.name)
    shutil.copy(need(VIDEOS) / "friday.mp4", files / "friday.mp4")
    settings = Settings(
        home=root / "home",
        session_secret="test-secret-not-for-production",
        model_dir=build_tiny_models(root / "models"),
    )
    home = furet.open(settings=settings)
    home.ensure_collection("mix", "lite0").ingest([files])
    app = create_app(settings)
    accounts = app.state.furet.accounts
    accounts.create_user("carol", PASSWORD)
    _, key = accounts.create_key(accounts.find("carol").user_id, "tests")
    with TestClient(app, headers={"X-API-Key": key}, raise_server_exceptions=False) as client:
        yield Mixed(client, home)


def test_text_search_in_any_text_capable_space(mixed: Mixed) -> None:
    c = mixed.client
    (col,) = c.get("/v1/collections").json()
    assert col["spaces"] == ["lite0"] and col["text_spaces"] == []
    # No text-capable space: the problem says how to add one.
    r = c.post("/v1/collections/mix/search/text", json={"text": "a daisy"})
    is_problem(r, 422)
    assert "furet embed --collection mix --model clip-vit-b32" in r.json()["detail"]

    # An mclip space added with furet embed is used (it was refused: "index with clip or mclip").
    mixed.home.collection("mix").add_space("mclip")
    (col,) = c.get("/v1/collections").json()
    assert col["spaces"] == ["lite0", "mclip"] and col["text_spaces"] == ["mclip"]
    r = c.post("/v1/collections/mix/search/text", json={"text": "une marguerite", "k": 4})
    assert r.status_code == 200, r.text
    assert r.json()["space"] == "mclip" and len(r.json()["results"]) == 4
    r = c.post("/v1/collections/mix/search/text", json={"text": "a daisy", "space": "mclip"})
    assert r.status_code == 200 and r.json()["space"] == "mclip"
    # A space without a text tower, or one the collection lacks: actionable problems.
    r = c.post("/v1/collections/mix/search/text", json={"text": "a daisy", "space": "lite0"})
    is_problem(r, 422)
    assert "no text tower" in r.json()["detail"] and "furet embed" in r.json()["detail"]
    r = c.post("/v1/collections/mix/search/text", json={"text": "x", "space": "clip-vit-b32"})
    is_problem(r, 404)
    assert "furet embed --collection mix --model clip-vit-b32" in r.json()["detail"]


def test_hits_and_round_pages_name_video_fields_alike(mixed: Mixed) -> None:
    c = mixed.client
    items = c.get("/v1/collections/mix/items?limit=100").json()["items"]
    frame = next(i for i in items if i["kind"] == "keyframe")
    image = next(i for i in items if i["kind"] == "image")
    hits = c.post("/v1/collections/mix/search", json={"item_ids": [image["item_id"]], "k": 50})
    r = c.post(
        "/v1/classes", json={"name": "v", "collection": "mix", "item_ids": [image["item_id"]]}
    )
    cid = r.json()["class_id"]
    page = c.post(f"/v1/classes/{cid}/rounds", json={"page_size": 50}).json()["page"]
    for entries in (hits.json()["results"], page, [frame]):
        frames = [e for e in entries if e["kind"] == "keyframe"]
        images = [e for e in entries if e["kind"] == "image"]
        assert frames and (images or entries == [frame])
        for e in frames:
            assert set(e) >= VIDEO_FIELDS and "video_time" not in e, e
            assert isinstance(e["time"], float) and e["video"].endswith("friday.mp4")
        for e in images:
            assert not set(e) & (VIDEO_FIELDS | {"video_time"}), e
    # The CLI's JSON (what --json prints) names them the same way.
    col = mixed.home.collection("mix")
    cli_hits = [h.as_json() for h in col.search(item_id=image["item_id"], k=50)]
    learning = mixed.home.learning()
    learning.create("v", "mix", from_items=[image["item_id"]])
    cli_page = learning.round("v").as_json()["page"]
    assert isinstance(cli_page, list)
    for entries in (cli_hits, cli_page):
        frames = [e for e in entries if e["kind"] == "keyframe"]
        assert frames and all(set(e) >= VIDEO_FIELDS and "video_time" not in e for e in frames)
