"""Changes made by another process (another worker, the CLI) hold from the next request,
although each process caches keys, accounts and classes (see furet.catalog.acl_cache)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from furet.web import create_app
from tests.web.conftest import PASSWORD, Api


def test_changes_by_another_process_hold_at_the_next_request(api: Api) -> None:
    other = create_app(api.settings)  # a second worker: its own engine, hence its own cache
    accounts, elsewhere = api.accounts, other.state.furet.accounts
    erin = accounts.create_user("erin", PASSWORD)
    key_info, key = accounts.create_key(erin.user_id, "cache test")
    c = api.client()
    c.headers["X-API-Key"] = key
    assert c.get("/v1/me").status_code == 200  # not counted: peeks at the quota
    assert c.get("/v1/classes").status_code == 200  # counted
    is_admin_route = "/v1/admin/users"
    assert c.get(is_admin_route).status_code == 403

    elsewhere.update_user(erin.user_id, role="admin")
    assert c.get(is_admin_route).status_code == 200
    elsewhere.update_user(erin.user_id, role="member")
    assert c.get(is_admin_route).status_code == 403

    daisy = api.ids("daisy")[0]
    body = {"name": "cached", "collection": "flowers", "item_ids": [daisy]}
    made = c.post("/v1/classes", json=body)
    assert made.status_code == 201, made.text
    class_id = made.json()["class_id"]
    assert c.get(f"/v1/classes/{class_id}").status_code == 200
    with TestClient(other, headers={"X-API-Key": key}) as o:
        assert o.delete(f"/v1/classes/{class_id}").status_code == 204
    assert c.get(f"/v1/classes/{class_id}").status_code == 404

    browser = api.client()
    login = browser.post("/v1/auth/login", json={"username": "erin", "password": PASSWORD})
    assert login.status_code == 200
    assert browser.get("/v1/me").status_code == 200
    elsewhere.update_user(erin.user_id, password="another-password-7")
    assert browser.get("/v1/me").status_code == 401  # the session died with the old password

    elsewhere.revoke_key(erin.user_id, key_info.key_id)
    assert c.get("/v1/me").status_code == 401
    assert c.get("/v1/classes").status_code == 401
