"""Never a 500: out-of-range integers are 422 problems, a class deleted under concurrent rounds
is a 404, and an unexpected error still answers as the API does (problem, quota headers,
connection kept)."""

from __future__ import annotations

import pytest

from furet.errors import InvalidInputError
from furet.services.learning import RoundSettings
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
