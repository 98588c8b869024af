"""Never a 500: out-of-range integers are 422 problems, a class deleted under concurrent rounds
is a 404, and an unexpected error still answers as the API does (problem, quota headers,
connection kept)."""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from furet.errors import InvalidInputError, NotFoundError
from furet.services.learning import Marks, RoundSettings
from furet.web import create_app
from furet.web.auth import CallerDep
from tests.conftest import free_port
from tests.web.conftest import Api
from tests.web.test_api_auth import is_problem

BIG = 99999999999999999999999  # beyond any 64-bit integer
I64 = 2**63  # one past SQLite's largest INTEGER


@pytest.fixture(scope="module")
def bounds_class(api: Api) -> int:
    r = api.client("alice").post(
        "/v1/classes",
        json={"name": "bounds", "collection": "flowers", "item_ids": api.ids("daisy")[:1]},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["class_id"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/v1/items/{BIG}/thumbnail", None),
        ("GET", f"/v1/items/{I64}/original", None),
        ("GET", f"/v1/items/{I64}/thumbnail", None),
        ("GET", "/v1/items/-1/thumbnail", None),
        ("GET", f"/v1/classes/{I64}", None),
        ("DELETE", f"/v1/classes/{BIG}", None),
        ("GET", f"/v1/classes/{I64}/versions", None),
        ("GET", f"/v1/classes/{I64}/export", None),
        ("POST", f"/v1/classes/{I64}/labels", {"positive": [1]}),
        ("POST", f"/v1/classes/{I64}/rounds", {}),
        ("DELETE", f"/v1/keys/{I64}", None),
        ("POST", "/v1/collections/flowers/search", {"item_ids": [I64]}),
        ("POST", "/v1/collections/flowers/search", {"item_ids": [1], "negative_item_ids": [BIG]}),
        ("GET", f"/v1/collections/flowers/items?offset={BIG}", None),
        ("POST", "/v1/classes", {"name": "big", "collection": "flowers", "item_ids": [I64]}),
        ("POST", "/v1/classes/{cls}/labels", {"positive": [I64]}),
        ("POST", "/v1/classes/{cls}/labels", {"negative": [BIG]}),
        ("POST", "/v1/classes/{cls}/labels", {"unlabel": [I64]}),
        ("POST", "/v1/classes/{cls}/rounds", {"labels": {"positive": [I64]}}),
        ("POST", "/v1/classes/{cls}/rounds", {"mode": "discovery", "seed": -1}),
        ("POST", "/v1/classes/{cls}/rounds", {"mode": "discovery", "seed": 2**32}),
        ("POST", "/v1/classes/{cls}/rounds", {"mode": "search", "seed": BIG}),
    ],
)
def test_out_of_range_integers_are_422(
    api: Api, bounds_class: int, method: str, path: str, body: object
) -> None:
    r = api.client("alice").request(method, path.format(cls=bounds_class), json=body)
    is_problem(r, 422)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", f"/v1/admin/users/{I64}", {"disabled": False}),
        ("PATCH", "/v1/admin/users/{root}", {"daily_quota": I64}),
        ("POST", "/v1/admin/users", {"name": "q", "password": "long enough", "daily_quota": BIG}),
    ],
)
def test_out_of_range_admin_integers_are_422(
    api: Api, method: str, path: str, body: object
) -> None:
    root = api.accounts.find("root").user_id
    r = api.client("root").request(method, path.format(root=root), json=body)
    is_problem(r, 422)


def test_largest_ids_are_404(api: Api) -> None:
    """In range but absent: the ordinary answer, from the catalog."""
    c = api.client("alice")
    for path in (f"/v1/items/{I64 - 1}/thumbnail", f"/v1/classes/{I64 - 1}"):
        is_problem(c.get(path), 404)
    is_problem(c.delete(f"/v1/keys/{I64 - 1}"), 404)


def test_seed_out_of_range_is_refused_by_the_service(api: Api, bounds_class: int) -> None:
    """The CLI and Python callers get the same clear error as the API."""
    learning = api.ctx.home.learning("alice", user_id=api.accounts.find("alice").user_id)
    cls = learning.get_by_id(bounds_class)
    for seed in (-1, 2**32):
        with pytest.raises(InvalidInputError, match="seed"):
            learning.round(cls, RoundSettings(mode="discovery", seed=seed))


def test_rounds_racing_a_delete_of_their_class_are_404(api: Api) -> None:
    """Rounds with inline marks and deletes of the same class, all at once: each request
    answers as if it ran before or after the delete (200, 204 or 404), never a 500."""
    daisies, sunflowers = api.ids("daisy"), api.ids("sunflower")
    statuses: list[int] = []
    for attempt in range(6):
        owner = api.client("alice")
        r = owner.post(
            "/v1/classes",
            json={"name": f"race-{attempt}", "collection": "flowers", "item_ids": daisies[:1]},
        )
        assert r.status_code == 201, r.text
        url = f"/v1/classes/{r.json()['class_id']}"
        start = threading.Barrier(14)

        def send(n: int, url: str = url, start: threading.Barrier = start) -> int:
            c = api.client("alice")
            start.wait()
            if n >= 12:  # two deletes race the rounds and each other
                return c.delete(url).status_code
            marks = {
                "positive": daisies[1 + n % 4 : 3 + n % 4],
                "negative": sunflowers[n % 5 :][:2],
            }
            return c.post(f"{url}/rounds", json={"page_size": 5, "labels": marks}).status_code

        with ThreadPoolExecutor(14) as pool:
            got = list(pool.map(send, range(14)))
        statuses += got
        assert set(got) <= {200, 204, 404}, got
        assert 204 in got[12:], got  # one delete won
        is_problem(owner.get(url), 404)
    assert statuses.count(500) == 0


def test_writes_to_a_class_deleted_meanwhile_are_not_found(api: Api) -> None:
    """What the race above interleaves, one step at a time: a request holding the class row
    while another deletes the class."""
    learning = api.ctx.home.learning("alice", user_id=api.accounts.find("alice").user_id)
    daisies = api.ids("daisy")
    cls = learning.create("stale", "flowers", from_items=daisies[:1])
    learning.delete("stale")
    with pytest.raises(NotFoundError, match="deleted"):
        learning.mark(cls, Marks([daisies[1]]))
    with pytest.raises(NotFoundError, match="deleted"):
        learning.round(cls)
    with pytest.raises(NotFoundError, match="deleted"):
        learning.classes.add_example(cls.class_id, "upload", np.zeros(4, np.float32))
    with pytest.raises(NotFoundError, match="deleted"):
        learning.classes.save_version(
            cls.class_id,
            n_pos=1,
            n_neg=0,
            n_weak=0,
            cv_score=None,
            weights=np.zeros(4, np.float32),
            bias=0.0,
            params={},
        )
    with pytest.raises(NotFoundError, match="deleted"):
        learning.classes.delete_class(cls.class_id)


def _failing_app(api: Api) -> FastAPI:
    """The real app with one more route that fails as a defect would."""
    app = create_app(api.settings)

    def boom(who: CallerDep) -> None:
        raise RuntimeError("a defect")

    app.add_api_route("/v1/boom", boom, methods=["GET"])
    return app


def test_an_unexpected_error_is_a_500_problem_with_quota_headers(api: Api) -> None:
    c = TestClient(_failing_app(api), headers={"X-API-Key": api.keys["bob"]})
    with c:
        r = c.get("/v1/boom")
    is_problem(r, 500)
    assert "unexpected" in r.json()["detail"]
    assert "RateLimit" in r.headers and "RateLimit-Policy" in r.headers


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """``app`` on a real uvicorn server in this process; yields its port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_an_unexpected_error_keeps_the_connection(api: Api) -> None:
    with serving(_failing_app(api)) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"X-API-Key": api.keys["bob"]}
        for path, status in (("/v1/boom", 500), ("/v1/boom", 500), ("/v1/me", 200)):
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == status
            assert response.getheader("connection") != "close"
            assert response.getheader("RateLimit") is not None
            assert conn.sock is not None  # still open: the next request reuses it
        conn.close()
