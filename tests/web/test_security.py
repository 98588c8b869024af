"""What an attacker tries first: replayed session cookies, cross-site requests, password
guessing, keys in logs, quota by minting keys, readable files, framing, pixel bombs."""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from furet.errors import ServerBusyError
from furet.media.pixel_budget import PixelBudget
from furet.web import create_app
from furet.web.redaction import redact
from tests.conftest import free_port
from tests.web.conftest import PASSWORD, Api
from tests.web.test_api_auth import is_problem

ORIGIN = "http://testserver"


def test_logout_ends_the_session_on_the_server(api: Api) -> None:
    c = api.browser("alice")
    stolen = c.cookies["furet_session"]
    assert c.get("/v1/me").status_code == 200
    assert c.post("/v1/auth/logout").status_code == 204
    # The cookie replayed after logout (copied before it) is refused everywhere.
    replay = TestClient(api.app, raise_server_exceptions=False)
    replay.cookies.set("furet_session", stolen)
    replay.cookies.set("furet_csrf", c.cookies.get("furet_csrf") or "")
    is_problem(replay.get("/v1/me"), 401)
    body = {"name": "after-logout", "collection": "flowers", "item_ids": [api.ids("daisy")[0]]}
    headers = {"Origin": ORIGIN, "X-CSRF-Token": replay.cookies["furet_csrf"]}
    is_problem(replay.post("/v1/classes", json=body, headers=headers), 401)


def test_password_change_and_disabling_end_the_sessions(api: Api) -> None:
    account = api.accounts.create_user("sally", PASSWORD)
    first, second = api.browser("sally"), api.browser("sally")
    stolen = second.cookies["furet_session"]
    api.accounts.update_user(account.user_id, password="a-new-password-9")
    for c in (first, second):
        is_problem(c.get("/v1/me"), 401)
    replay = TestClient(api.app, raise_server_exceptions=False)
    replay.cookies.set("furet_session", stolen)
    is_problem(replay.get("/v1/me"), 401)
    third = api.browser("sally", "a-new-password-9")
    assert third.get("/v1/me").status_code == 200
    api.accounts.update_user(account.user_id, disabled=True)
    is_problem(third.get("/v1/me"), 401)


def test_logout_everywhere(api: Api) -> None:
    api.accounts.create_user("tess", PASSWORD)
    laptop, phone = api.browser("tess"), api.browser("tess")
    assert laptop.post("/v1/auth/logout", params={"everywhere": "true"}).status_code == 204
    is_problem(phone.get("/v1/me"), 401)


def test_cross_site_requests_with_the_session_cookie_are_refused(api: Api) -> None:
    c = api.browser("alice")
    token = c.cookies["furet_csrf"]
    evil = {"Origin": "http://evil.example", "X-CSRF-Token": token}
    daisy = api.image("daisy", 2)
    files = {"image": ("d.jpg", daisy, "image/jpeg")}
    form = {"name": "csrf-upload", "collection": "flowers"}
    is_problem(c.post("/v1/classes/from-image", files=files, data=form, headers=evil), 403)
    is_problem(c.post("/v1/keys", json={"name": "stolen"}, headers=evil), 403)
    # A Referer of another site counts as well when there is no Origin.
    r = c.post(
        "/v1/keys",
        json={"name": "stolen"},
        headers={"Origin": "", "Referer": "http://evil.example/page"},
    )
    is_problem(r, 403)
    # Same origin without the token (a form posted by another site cannot set headers).
    c.headers.pop("X-CSRF-Token")
    is_problem(c.post("/v1/keys", json={"name": "no-token"}), 403)
    is_problem(c.post("/v1/keys", json={"name": "bad"}, headers={"X-CSRF-Token": "x.y"}), 403)
    # Neither Origin nor Referer with the cookie: refused.
    c.headers.pop("Origin")
    is_problem(c.post("/v1/keys", json={"name": "no-origin"}, headers={"X-CSRF-Token": token}), 403)
    # Same origin and the token: accepted, the upload included.
    ok = {"Origin": ORIGIN, "X-CSRF-Token": token}
    assert c.post("/v1/classes/from-image", files=files, data=form, headers=ok).status_code == 201
    made = c.post("/v1/keys", json={"name": "mine"}, headers=ok)
    assert made.status_code == 201
    api.accounts.revoke_key(api.accounts.find("alice").user_id, made.json()["key_id"])
    # Safe methods need nothing.
    assert c.get("/v1/me", headers={"Origin": "http://evil.example"}).status_code == 200


def test_api_keys_are_exempt_from_csrf(api: Api) -> None:
    r = api.client("bob").post(
        "/v1/keys", json={"name": "script"}, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 201, r.text
    api.accounts.revoke_key(api.accounts.find("bob").user_id, r.json()["key_id"])


def _from(api: Api, address: str) -> TestClient:
    c = TestClient(api.app, raise_server_exceptions=False, client=(address, 40000))
    api.clients.append(c)
    return c


def test_failed_logins_are_throttled_per_account_without_telling_who_exists(api: Api) -> None:
    api.accounts.create_user("guessed", PASSWORD)
    for name, address in (("guessed", "10.1.0.1"), ("nobody-here", "10.1.0.2")):
        c = _from(api, address)
        wrong = {"username": name, "password": "wrong-password"}
        for _ in range(5):
            is_problem(c.post("/v1/auth/login", json=wrong), 401)
        locked = c.post("/v1/auth/login", json=wrong)
        is_problem(locked, 429)
        assert 1 <= int(locked.headers["Retry-After"]) <= 4
        # Another address: the account name itself is locked.
        other = _from(api, address + "0")
        is_problem(other.post("/v1/auth/login", json=wrong), 429)
    right = {"username": "guessed", "password": PASSWORD}
    c = _from(api, "10.1.0.3")
    is_problem(c.post("/v1/auth/login", json=right), 429)  # even the right password waits
    time.sleep(4.2)
    assert c.post("/v1/auth/login", json=right).status_code == 200
    # A success starts the name afresh: the next wrong password is a plain 401 again.
    c.cookies.clear()
    is_problem(c.post("/v1/auth/login", json={**right, "password": "wrong-again"}), 401)


def test_the_back_off_grows(api: Api) -> None:
    api.accounts.create_user("stubborn", PASSWORD)
    c = _from(api, "10.2.0.1")
    wrong = {"username": "stubborn", "password": "wrong-password"}
    for _ in range(5):
        c.post("/v1/auth/login", json=wrong)
    first = int(c.post("/v1/auth/login", json=wrong).headers["Retry-After"])
    time.sleep(first + 0.2)
    is_problem(c.post("/v1/auth/login", json=wrong), 401)  # counted: the lock doubles
    second = int(c.post("/v1/auth/login", json=wrong).headers["Retry-After"])
    assert second > first


def test_failed_logins_are_throttled_per_address(api: Api) -> None:
    c = _from(api, "10.3.0.1")
    for n in range(20):
        is_problem(c.post("/v1/auth/login", json={"username": f"spray{n}", "password": "x"}), 401)
    is_problem(c.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD}), 429)
    assert (
        _from(api, "10.3.0.2")
        .post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
        .status_code
        == 200
    )


def test_the_daily_quota_caps_the_account_across_keys_and_sessions(api: Api) -> None:
    account = api.accounts.create_user("minter", PASSWORD, daily_quota=10)
    browser = api.browser("minter")
    keys = []
    for n in range(4):
        r = browser.post("/v1/keys", json={"name": f"k{n}"})
        assert r.status_code == 201, r.text
        keys.append(r.json()["key"])
    counted = 0
    remaining = []
    for _ in range(5):
        for c in [browser] + [api.client() for _ in keys]:
            headers = {} if c is browser else {"X-API-Key": keys[len(remaining) % len(keys)]}
            r = c.get("/v1/collections", headers=headers)
            if r.status_code == 200:
                counted += 1
            else:
                is_problem(r, 429)
            remaining.append(r.headers["RateLimit"])
    # 4 key creations + 6 reads: the account's 10, whatever key or session made them.
    assert counted == 6
    assert remaining[-1].startswith('"daily";r=0;')
    quota = api.client().get("/v1/quota", headers={"X-API-Key": keys[0]}).json()
    assert quota["used"] == 10 and quota["limit"] == 10
    assert account.daily_quota == 10


def test_a_member_holds_a_bounded_number_of_live_keys(api: Api) -> None:
    account = api.accounts.create_user("hoarder", PASSWORD)
    c = api.browser("hoarder")
    limit = api.settings.max_keys_per_member
    made = [c.post("/v1/keys", json={"name": f"k{n}"}) for n in range(limit)]
    assert all(r.status_code == 201 for r in made)
    refused = c.post("/v1/keys", json={"name": "one-too-many"})
    is_problem(refused, 409)
    assert "revoke" in refused.json()["detail"]
    api.accounts.revoke_key(account.user_id, made[0].json()["key_id"])
    assert c.post("/v1/keys", json={"name": "replacement"}).status_code == 201


def test_catalog_and_home_are_private(api: Api) -> None:
    home = api.settings.home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("catalog.sqlite3", "catalog.sqlite3-wal", "session.key"):
        path = home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert (home / "catalog.sqlite3").exists()


def test_a_home_made_readable_is_made_private_again(tmp_path: Path) -> None:
    import furet

    home = tmp_path / "shared-home"
    home.mkdir(mode=0o755)
    furet.open(home)
    (home / "catalog.sqlite3").chmod(0o644)
    home.chmod(0o755)
    furet.open(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "catalog.sqlite3").stat().st_mode) == 0o600


def test_security_headers(api: Api) -> None:
    c = api.client("alice")
    page = c.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    # The UI runs under it: no inline script in the shell pages.
    for path in ("/", "/admin"):
        html = c.get(path).text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, f"inline script in {path}: {tag}"
        assert not re.search(r"\son[a-z]+=", html), f"inline event handler in {path}"
    for path in ("/", "/v1/me", "/healthz", "/static/app.css", "/v1/nowhere"):
        r = c.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "same-origin", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    assert c.get("/v1/me").headers["content-security-policy"].startswith("default-src 'none'")


def _png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (200, 180, 40)).save(buf, "PNG")
    return buf.getvalue()


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def roomy(api: Api) -> TestClient:
    """The same home served with the default pixel limits (the ``api`` app's are small)."""
    settings = api.settings.model_copy(
        update={"max_image_pixels": 89_478_485, "max_upload_bytes": 400_000}
    )
    c = TestClient(create_app(settings), raise_server_exceptions=False)
    c.headers["X-API-Key"] = api.keys["alice"]
    return c


def test_pixels_per_request_are_bounded_before_decoding(roomy: TestClient) -> None:
    bomb = _png(9400)  # 88 Mpx, ~100 KB
    assert len(bomb) < 400_000
    files = [("images", (f"b{n}.png", bomb, "image/png")) for n in range(5)]
    start = time.perf_counter()
    r = roomy.post("/v1/collections/flowers/search/image", files=files)
    is_problem(r, 413)
    assert "per request" in r.json()["detail"]
    assert time.perf_counter() - start < 5  # refused from the headers, nothing decoded


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_a_large_image_is_decoded_and_its_memory_given_back(roomy: TestClient) -> None:
    files = [("images", ("big.png", _png(9400), "image/png"))]
    roomy.post("/v1/collections/flowers/search/image", files=files)  # warm up the allocator
    before = _rss()
    r = roomy.post("/v1/collections/flowers/search/image", files=files)
    assert r.status_code == 200, r.text
    # 88 Mpx decode to 265 MB of RGB; what stays afterwards is far less.
    assert _rss() - before < 120 * 2**20


def test_the_process_budget_makes_large_decodes_wait_then_503() -> None:
    budget = PixelBudget(100, wait_seconds=0.5)
    order: list[str] = []
    release = threading.Event()

    def first() -> None:
        with budget.hold(80):
            order.append("first in")
            release.wait(5)
        order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    while not order:
        time.sleep(0.01)
    with pytest.raises(ServerBusyError) as exc, budget.hold(50):
        pass
    assert exc.value.status_code == 503 and exc.value.retry_after > 0
    with budget.hold(20):  # fits beside the first
        order.append("small in")
    release.set()
    t.join()
    with budget.hold(500):  # larger than the whole budget: alone, it runs
        order.append("huge in")
    assert order == ["first in", "small in", "first out", "huge in"]
    assert budget.in_use == 0


def test_redaction_of_secrets() -> None:
    key = "furet_" + "A1b2C3d4E5f6G7h8I9j0_-kLmN"
    for line in (
        f'127.0.0.1:5000 - "GET /v1/me?api-key={key} HTTP/1.1" 200',
        f"/v1/quota?x=1&api-key={key}&y=2",
        f"X-API-Key: {key}",
        f"error: unknown API key {key}",
        f"/v1/me?api-key={key[6:]}",
    ):
        out = redact(line)
        assert key not in out and key[6:] not in out and "[redacted]" in out
    assert redact("GET /v1/items/12/thumbnail HTTP/1.1") == "GET /v1/items/12/thumbnail HTTP/1.1"


def test_served_logs_never_show_a_key(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "furet.cli.main", "--home", str(tmp_path / "home")]
    subprocess.run([*cli, "user", "add", "logged", "--password", PASSWORD], check=True)
    key = subprocess.run(
        [*cli, "user", "key", "create", "logged"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert key.startswith("furet_")
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*cli, "serve", "--port", str(port)], stdout=out, stderr=out)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                    break
                except OSError:
                    assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.3)
            for path in (f"/v1/me?api-key={key}", f"/v1/nowhere?api-key={key}&x=1"):
                with contextlib.suppress(urllib.error.HTTPError):
                    urllib.request.urlopen(base + path, timeout=10).read()
            request = urllib.request.Request(f"{base}/v1/me", headers={"X-API-Key": key})
            urllib.request.urlopen(request, timeout=10).read()
            metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
        finally:
            proc.terminate()
            proc.wait(20)
    text = log.read_text()
    assert "/v1/me?api-key=[redacted]" in text, text
    assert key not in text and key[6:] not in text
    assert key not in metrics
