"""Accounts over HTTP: login sessions, API keys (header and query), revocation, admin routes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

from tests.web.conftest import PASSWORD, Api


def is_problem(r: Response, status: int) -> None:
    """``r`` is an RFC 9457 problem with ``status``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"] and body["title"]


def test_no_credentials_is_a_401_problem_with_quota_headers(api: Api) -> None:
    r = api.client().get("/v1/collections")
    is_problem(r, 401)
    assert "RateLimit" in r.headers and "RateLimit-Policy" in r.headers


def test_login_session_cookie_me_and_logout(api: Api) -> None:
    c = api.client()
    is_problem(c.post("/v1/auth/login", json={"username": "alice", "password": "nope"}), 401)
    is_problem(c.post("/v1/auth/login", json={"username": "nobody", "password": "x"}), 401)
    r = c.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["name"] == "alice"
    cookie = r.headers["set-cookie"]
    assert "furet_session=" in cookie and "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    me = c.get("/v1/me").json()
    assert me["name"] == "alice" and me["role"] == "member" and me["groups"] == ["ina"]
    assert me["daily_quota"] == api.settings.default_daily_quota
    assert c.get("/v1/collections").status_code == 200
    same_origin = {"Origin": "http://testserver", "X-CSRF-Token": c.cookies["furet_csrf"]}
    assert c.post("/v1/auth/logout", headers=same_origin).status_code == 204
    is_problem(c.get("/v1/me"), 401)


def test_tampered_cookie_is_refused(api: Api) -> None:
    c = api.client()
    c.cookies.set("furet_session", "eyJ1aWQiOiAxfQ==.forged.signature")
    is_problem(c.get("/v1/me"), 401)


def test_api_key_in_header_or_query_and_revocation(api: Api) -> None:
    alice = api.client("alice")
    created = alice.post("/v1/keys", json={"name": "script"})
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith(key["prefix"]) and key["name"] == "script"
    listed = alice.get("/v1/keys").json()
    assert any(k["key_id"] == key["key_id"] for k in listed)
    assert all("key" not in k and "secret_hash" not in k for k in listed)
    anon = api.client()
    assert anon.get("/v1/me", headers={"X-API-Key": key["key"]}).json()["name"] == "alice"
    assert anon.get("/v1/me", params={"api-key": key["key"]}).json()["name"] == "alice"
    # bob cannot revoke alice's key
    is_problem(api.client("bob").delete(f"/v1/keys/{key['key_id']}"), 404)
    assert alice.delete(f"/v1/keys/{key['key_id']}").status_code == 204
    is_problem(anon.get("/v1/me", headers={"X-API-Key": key["key"]}), 401)
    is_problem(anon.get("/v1/me", params={"api-key": key["key"]}), 401)
    is_problem(anon.get("/v1/me", headers={"X-API-Key": "furet_made-up"}), 401)
    revoked = [k for k in alice.get("/v1/keys").json() if k["key_id"] == key["key_id"]]
    assert revoked[0]["revoked_at"] is not None


def test_keys_are_stored_hashed(api: Api) -> None:
    from sqlalchemy import select

    from furet.catalog.schema import ApiKeyRow

    with api.ctx.home.catalog.sessions() as s:
        stored = [r.secret_hash for r in s.scalars(select(ApiKeyRow))]
    assert api.keys["alice"] not in stored and all(len(h) == 64 for h in stored)


def test_admin_routes_are_for_admins(api: Api) -> None:
    for path in ("/v1/admin/users", "/v1/admin/groups"):
        is_problem(api.client("alice").get(path), 403)
        assert api.client("root").get(path).status_code == 200
    is_problem(api.client("alice").post("/v1/admin/groups", json={"name": "x"}), 403)


def test_admin_manages_users_and_groups(api: Api) -> None:
    root = api.client("root")
    r = root.post("/v1/admin/groups", json={"name": "bnf"})
    assert r.status_code == 201 and r.json()["name"] == "bnf"
    is_problem(root.post("/v1/admin/groups", json={"name": "bnf"}), 409)
    r = root.post(
        "/v1/admin/users",
        json={
            "name": "carol",
            "password": "carol-password",
            "role": "member",
            "daily_quota": 50,
            "groups": ["bnf"],
        },
    )
    assert r.status_code == 201, r.text
    carol = r.json()
    assert carol["daily_quota"] == 50 and carol["groups"] == ["bnf"]
    is_problem(root.post("/v1/admin/users", json={"name": "carol", "password": "x" * 9}), 409)
    is_problem(root.post("/v1/admin/users", json={"name": "dave", "password": "short"}), 422)
    is_problem(
        root.post("/v1/admin/users", json={"name": "dave", "password": "x" * 9, "role": "god"}),
        422,
    )
    names = [u["name"] for u in root.get("/v1/admin/users").json()]
    assert {"root", "alice", "bob", "carol"} <= set(names)
    groups = {g["name"]: g["members"] for g in root.get("/v1/admin/groups").json()}
    assert groups["bnf"] == ["carol"]

    c = api.client()
    login = {"username": "carol", "password": "carol-password"}
    assert c.post("/v1/auth/login", json=login).status_code == 200
    uid = carol["user_id"]
    r = root.patch(f"/v1/admin/users/{uid}", json={"role": "admin", "daily_quota": None})
    assert r.json()["role"] == "admin"
    assert r.json()["daily_quota"] == api.settings.default_daily_quota
    # A password change ends existing sessions; disabling ends everything.
    root.patch(f"/v1/admin/users/{uid}", json={"password": "another-password"})
    is_problem(c.get("/v1/me"), 401)
    is_problem(c.post("/v1/auth/login", json=login), 401)
    login["password"] = "another-password"
    assert c.post("/v1/auth/login", json=login).status_code == 200
    root.patch(f"/v1/admin/users/{uid}", json={"disabled": True})
    is_problem(c.get("/v1/me"), 401)
    is_problem(c.post("/v1/auth/login", json=login), 401)
    is_problem(root.patch("/v1/admin/users/99999", json={"disabled": True}), 404)


def test_bad_json_and_bad_fields_are_422_problems(api: Api) -> None:
    c = api.client("alice")
    bad = c.post("/v1/keys", content=b"{not json", headers={"content-type": "application/json"})
    is_problem(bad, 422)
    is_problem(c.post("/v1/classes", json={"name": 3}), 422)
    is_problem(c.post("/v1/classes", json=[1, 2]), 422)
    is_problem(c.get("/v1/collections/flowers/items", params={"limit": -1}), 422)
    is_problem(
        c.post("/v1/auth/login", content=b"\xff\xfe", headers={"content-type": "application/json"}),
        422,
    )


def test_every_member_lists_the_group_names_not_their_members(api: Api) -> None:
    api.accounts.create_group("bnf-groups-test")
    alice = api.client("alice")
    names = alice.get("/v1/groups")
    assert names.status_code == 200
    by_name = {g["name"]: g for g in names.json()}
    assert by_name["ina"] == {"name": "ina", "mine": True}
    assert by_name["mnhn"]["mine"] is False and "bnf-groups-test" in by_name
    assert all(set(g) == {"name", "mine"} for g in names.json())  # no member lists
    is_problem(TestClient(api.app).get("/v1/groups"), 401)
