"""Daily quotas: headers on every /v1 response, 429 when spent, per key and per session."""

from __future__ import annotations

import re

from httpx import Response

from tests.web.conftest import PASSWORD, Api
from tests.web.test_api_auth import is_problem


def remaining(r: Response) -> int:
    m = re.fullmatch(r'"daily";r=(\d+);t=(\d+)', r.headers["RateLimit"])
    assert m, r.headers["RateLimit"]
    return int(m.group(1))


def test_quota_headers_count_and_429(api: Api) -> None:
    account = api.accounts.create_user("quota-user", PASSWORD, daily_quota=3)
    _, key = api.accounts.create_key(account.user_id, "q")
    c = api.client()
    c.headers["X-API-Key"] = key
    q = c.get("/v1/quota").json()
    assert q == {"limit": 3, "used": 0, "remaining": 3, "reset_seconds": q["reset_seconds"]}
    assert 0 < q["reset_seconds"] <= 86_400
    seen = []
    for _ in range(3):
        r = c.get("/v1/collections")
        assert r.status_code == 200
        assert r.headers["RateLimit-Policy"] == '"daily";q=3;w=86400'
        seen.append(remaining(r))
    assert seen == [2, 1, 0]
    r = c.get("/v1/collections")
    is_problem(r, 429)
    assert remaining(r) == 0 and int(r.headers["Retry-After"]) > 0
    assert r.headers["RateLimit-Policy"] == '"daily";q=3;w=86400'
    # Uncounted reads still answer, and report the spent quota.
    q = c.get("/v1/quota")
    assert q.status_code == 200 and q.json()["remaining"] == 0 and remaining(q) == 0
    # The quota is the account's: a new key of the same user does not get a fresh one.
    _, key2 = api.accounts.create_key(account.user_id, "q2")
    is_problem(c.get("/v1/collections", headers={"X-API-Key": key2}), 429)
    # The admin raises the quota: the same key works again.
    api.client("root").patch(f"/v1/admin/users/{account.user_id}", json={"daily_quota": 10})
    r = c.get("/v1/collections")
    assert r.status_code == 200 and remaining(r) == 6


def test_session_quota_is_per_user(api: Api) -> None:
    api.accounts.create_user("quota-browser", PASSWORD, daily_quota=2)
    c = api.client()
    c.post("/v1/auth/login", json={"username": "quota-browser", "password": PASSWORD})
    assert c.get("/v1/collections").status_code == 200
    assert c.get("/v1/collections").status_code == 200
    is_problem(c.get("/v1/collections"), 429)
    assert c.get("/v1/quota").json()["used"] == 2
