"""API fixtures: a real small collection (daisies and sunflowers, lite0), accounts and keys."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import furet
from furet.catalog.accounts import AccountStore
from furet.settings import Settings
from furet.web import create_app
from furet.web.context import AppContext
from tests.conftest import FLOWERS, need

PER_KIND = 15
PASSWORD = "correct-horse-42"


@dataclass
class Api:
    app: FastAPI
    settings: Settings
    images: Path
    keys: dict[str, str] = field(default_factory=dict)  # user name -> API key
    clients: list[TestClient] = field(default_factory=list)

    @property
    def ctx(self) -> AppContext:
        ctx: AppContext = self.app.state.furet
        return ctx

    @property
    def accounts(self) -> AccountStore:
        return self.ctx.accounts

    def client(self, user: str | None = None) -> TestClient:
        """A client sending ``user``'s API key (none: anonymous)."""
        headers = {"X-API-Key": self.keys[user]} if user else {}
        c = TestClient(self.app, headers=headers, raise_server_exceptions=False)
        self.clients.append(c)
        return c

    def browser(self, user: str, password: str = PASSWORD) -> TestClient:
        """A client logged in as ``user`` by cookie, sending the same-origin ``Origin`` and the
        CSRF token as the UI does."""
        c = TestClient(self.app, raise_server_exceptions=False)
        self.clients.append(c)
        c.headers["Origin"] = "http://testserver"
        r = c.post("/v1/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = c.cookies["furet_csrf"]
        return c

    def ids(self, kind: str) -> list[int]:
        col = self.ctx.home.collection("flowers")
        infos = self.ctx.home.catalog.item_infos(col.matrix().item_ids.tolist())
        return sorted(i for i, info in infos.items() if f"/{kind}/" in info.path)

    def image(self, kind: str, n: int = 0) -> bytes:
        return sorted((self.images / kind).glob("*.jpg"))[n].read_bytes()


def build_api(root: Path, **settings: Any) -> Api:
    """The app over ``flowers`` (15 daisies, 15 sunflowers) in a new home under ``root``, users
    root (admin), alice, bob with one key each; ``settings`` override the test settings."""
    source = need(FLOWERS) / "images"
    images = root / "imgs"
    for kind in ("daisy", "sunflower"):
        (images / kind).mkdir(parents=True)
        for f in sorted((source / kind).glob("*.jpg"))[:PER_KIND]:
            shutil.copy(f, images / kind / f.name)
    values: dict[str, Any] = {
        "home": root / "home",
        "session_secret": "test-secret-not-for-production",
        "max_upload_bytes": 200_000,
        "max_image_pixels": 1_500_000,
        "default_daily_quota": 10_000,
        **settings,
    }
    config = Settings(**values)
    furet.open(settings=config).ensure_collection("flowers", "lite0").ingest([images])
    api = Api(create_app(config), config, images)
    api.accounts.create_user("root", PASSWORD, role="admin")
    api.accounts.create_user("alice", PASSWORD, groups=["ina"])
    api.accounts.create_user("bob", PASSWORD, groups=["mnhn"])
    for name in ("root", "alice", "bob"):
        _, api.keys[name] = api.accounts.create_key(api.accounts.find(name).user_id, "tests")
    return api


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app over ``flowers`` (15 daisies, 15 sunflowers), users root (admin), alice, bob."""
    api = build_api(tmp_path_factory.mktemp("api"))
    yield api
    for c in api.clients:
        c.close()
