"""The server builds every space's index in the background at start, before the first round."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from furet.web.app import create_app
from tests.web.conftest import Api


def test_start_up_builds_the_indexes_in_the_background(api: Api) -> None:
    app = create_app(api.settings)  # a fresh app: nothing loaded yet
    col = app.state.furet.home.collection("flowers")
    assert not col._indexes
    with TestClient(app) as client:  # runs the lifespan, as uvicorn does
        assert client.get("/healthz").status_code == 200  # answers while warming up
        deadline = time.monotonic() + 60
        while "lite0" not in col._indexes:
            assert time.monotonic() < deadline, "the index was not built at start"
            time.sleep(0.1)
    assert len(col._indexes["lite0"]) == len(col.matrix())


def test_start_up_also_readies_the_knn_index(api: Api) -> None:
    settings = api.settings.model_copy(update={"knn": "faiss"})
    app = create_app(settings)
    col = app.state.furet.home.collection("flowers")
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        deadline = time.monotonic() + 120
        while "lite0" not in col._knns:
            assert time.monotonic() < deadline, "the k-NN index was not readied at start"
            time.sleep(0.1)
    assert len(col._knns["lite0"][1]) == len(col.matrix())
    assert (col.layout.space("lite0") / "knn.faiss").is_file()  # saved for the next start
