"""Health, metrics, OpenAPI docs, the UI shell and static files."""

from __future__ import annotations

from tests.web.conftest import Api


def test_healthz_docs_and_shell(api: Api) -> None:
    c = api.client()
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/docs").status_code == 200
    spec = c.get("/openapi.json").json()
    assert "/v1/classes/{class_id}/rounds" in spec["paths"]
    body = spec["paths"]["/v1/classes/{class_id}/rounds"]["post"]["requestBody"]
    schema_name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert spec["components"]["schemas"][schema_name]["examples"]
    r = c.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]


def test_metrics_by_route_template(api: Api) -> None:
    c = api.client("alice")
    item = api.ids("daisy")[0]
    c.get(f"/v1/items/{item}/thumbnail")
    c.get("/v1/items/999999/thumbnail")
    text = api.client().get("/metrics").text
    assert 'route="/v1/items/{item_id}/thumbnail",status="200"' in text
    assert 'route="/v1/items/{item_id}/thumbnail",status="404"' in text
    assert f"/v1/items/{item}/" not in text
    assert "furet_http_request_duration_seconds_bucket" in text
    assert "furet_rounds_total" in text
