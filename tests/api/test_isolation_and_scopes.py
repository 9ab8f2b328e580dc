"""Every route of the API against another organization's key (404), a key without the route's scope (403), and
no key, a revoked key and an expired key (401). The table must name every route of the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from aihub import apikeys
from aihub.auth import PERMISSIONS
from aihub.db import engine as dbengine
from aihub.db.session import tenant_session
from tests.api.conftest import client, make_key
from tests.api.world import build_world

CSV = b"a,b\n1,2\n"
FILE = {"file": ("x.csv", CSV, "text/csv")}

#: (method, path template, json body, multipart, permission the route needs)
ROUTES: list[tuple[str, str, dict | None, dict | None, str]] = [
    ("GET", "/datasets", None, None, "read"),
    ("POST", "/datasets", None, {"data": {"name": "n"}, "files": FILE}, "create"),
    ("GET", "/datasets/{dataset_id}", None, None, "read"),
    ("GET", "/datasets/{dataset_id}/versions", None, None, "read"),
    ("GET", "/datasets/{dataset_id}/schema", None, None, "read"),
    ("GET", "/jobs/{job_id}", None, None, "read"),
    ("POST", "/jobs/{job_id}/cancel", None, None, "update"),
    ("GET", "/models", None, None, "read"),
    ("POST", "/models", {"kind": "ml", "dataset_id": "{dataset_id}", "config": {"model_name": "x"}}, None, "create"),
    ("GET", "/models/templates/churn?dataset_id={dataset_id}", None, None, "create"),
    ("GET", "/models/{model_id}", None, None, "read"),
    ("POST", "/models/{model_id}/train", {}, None, "create"),
    ("GET", "/models/{model_id}/jobs", None, None, "read"),
    ("GET", "/models/{model_id}/versions", None, None, "read"),
    ("GET", "/models/{model_id}/versions/{version_id}", None, None, "read"),
    ("GET", "/models/{model_id}/compare", None, None, "read"),
    ("POST", "/models/{model_id}/deploy", {"version_id": "{version_id}"}, None, "update"),
    ("POST", "/models/{model_id}/rollback", None, None, "update"),
    ("PUT", "/models/{model_id}/challenger", {"version_id": "{version_id}", "share": 0.2}, None, "update"),
    ("POST", "/models/{model_id}/challenger/promote", None, None, "update"),
    ("POST", "/models/{model_id}/predictions", {"values": {"x": 1}}, None, "predict"),
    ("GET", "/models/{model_id}/predictions", None, None, "read"),
    ("POST", "/models/{model_id}/batches", None, {"files": FILE}, "predict"),
    ("GET", "/predictions/batches/{batch_id}", None, None, "read"),
    ("GET", "/predictions/batches/{batch_id}/results.csv", None, None, "read"),
    ("GET", "/predictions/{prediction_id}", None, None, "read"),
    ("PUT", "/predictions/{prediction_id}/outcome", {"actual": "yes"}, None, "feedback"),
    ("POST", "/predictions/outcomes", {"outcomes": [{"prediction_id": "{prediction_id}", "actual": "yes"}]}, None,
     "feedback"),
    ("GET", "/forecasts/{forecast_id}", None, None, "read"),
    ("GET", "/forecasts/{forecast_id}/forecast.csv", None, None, "read"),
    ("GET", "/monitors", None, None, "read"),
    ("GET", "/monitors/{monitor_id}", None, None, "read"),
    ("POST", "/monitors/{monitor_id}/run", None, None, "detect"),
    ("GET", "/monitors/{monitor_id}/runs", None, None, "read"),
    ("GET", "/monitors/{monitor_id}/runs/{monitor_run_id}", None, None, "read"),
    ("GET", "/monitors/{monitor_id}/schedule", None, None, "read"),
    ("PUT", "/monitors/{monitor_id}/schedule", {"every": "daily", "at": "07:00"}, None, "update"),
    ("POST", "/monitors/{monitor_id}/pause", None, None, "update"),
    ("POST", "/monitors/{monitor_id}/resume", None, None, "update"),
    ("GET", "/monitors/{monitor_id}/alerting", None, None, "read"),
    ("PUT", "/monitors/{monitor_id}/alerting", {"email": ["ops@example.com"]}, None, "update"),
    ("GET", "/anomalies", None, None, "read"),
    ("GET", "/anomalies/{anomaly_id}", None, None, "read"),
    ("GET", "/anomalies/{anomaly_id}/events", None, None, "read"),
    ("POST", "/anomalies/{anomaly_id}/status", {"status": "acknowledged"}, None, "feedback"),
    ("POST", "/anomalies/{anomaly_id}/false-positive", {"reason": "promotion"}, None, "feedback"),
    ("PUT", "/anomalies/{anomaly_id}/assignee", {"user_id": None}, None, "feedback"),
    ("POST", "/anomalies/{anomaly_id}/notes", {"note": "looked"}, None, "feedback"),
    ("GET", "/insights", None, None, "read"),
    ("POST", "/insights/generate", {}, None, "generate"),
    ("GET", "/insights/status", None, None, "read"),
    ("GET", "/insights/{insight_id}", None, None, "read"),
    ("GET", "/insights/{insight_id}/events", None, None, "read"),
    ("POST", "/insights/{insight_id}/status", {"status": "acknowledged"}, None, "feedback"),
    ("POST", "/insights/{insight_id}/votes", {"useful": True}, None, "feedback"),
    ("GET", "/workflows", None, None, "read"),
    ("GET", "/workflows/{workflow_id}", None, None, "read"),
    ("POST", "/workflows/{workflow_id}/runs", None, None, "automation"),
    ("GET", "/workflows/{workflow_id}/runs", None, None, "read"),
    ("GET", "/workflow-runs/{run_id}", None, None, "read"),
    ("GET", "/approvals", None, None, "read"),
    ("GET", "/approvals/{approval_id}", None, None, "read"),
    ("POST", "/approvals/{approval_id}/decision", {"approve": False, "note": "no"}, None, "automation"),
    ("GET", "/dashboard", None, None, "read"),
    ("GET", "/analytics", None, None, "read"),
    ("GET", "/analytics/{analytic_id}/recommendations?customer=u1", None, None, "read"),
    ("GET", "/analytics/{analytic_id}/also-bought?product=p1", None, None, "read"),
    ("GET", "/analytics/{analytic_id}/results", None, None, "read"),
    ("POST", "/models/external", {"dataset_id": "{dataset_id}", "model_name": "x",
                                  "config": {"url": "http://127.0.0.1:9/invocations"}}, None, "create"),
    ("POST", "/models/{model_id}/versions/external", {"dataset_id": "{dataset_id}",
                                                      "config": {"url": "http://127.0.0.1:9/invocations"}}, None,
     "create"),
    ("GET", "/models/{model_id}/versions/{version_id}/circuit", None, None, "read"),
    ("POST", "/models/{model_id}/next-best-actions", {"dataset_id": "{dataset_id}", "actionable": {"Contract": None}},
     None, "predict"),
]
#: A bulk route reports each unknown id by its position instead of failing the whole request.
BULK = ("POST", "/predictions/outcomes")
WITH_IDS = [r for r in ROUTES if ("{" in r[1] or (r[2] and "{" in str(r[2]))) and r[:2] != BULK]


@pytest.fixture(scope="module")
def world(_server_database_session, live_api):
    dbengine.set_database(_server_database_session)
    return build_world()


def _fill(value, ids):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _send(c: httpx.Client, route, ids) -> httpx.Response:
    method, path, body, multipart, _ = route
    kwargs = dict(multipart or {})
    if body is not None:
        kwargs["json"] = _fill(body, ids)
    return c.request(method, _fill(path, ids), **kwargs)


def _route_key(method: str, path: str) -> tuple[str, str]:
    import re

    path = path.split("?")[0]
    return method, re.sub(r"\{[a-z_]+\}", "{}", path)


def test_the_table_names_every_route(api):
    doc = httpx.get(api.url + "/api/v1/openapi.json", timeout=60).json()  # the first render takes seconds
    served = {_route_key(m.upper(), p.removeprefix("/api/v1")) for p, ops in doc["paths"].items() for m in ops}
    served -= {("GET", "/health")}
    named = {_route_key(m, p.replace("/templates/churn", "/templates/{template}")) for m, p, *_ in ROUTES}
    assert served == named


@pytest.mark.parametrize("route", WITH_IDS, ids=lambda r: f"{r[0]} {r[1]}")
def test_another_organizations_ids_are_404(api, world, route):
    with client(api, make_key(world["b"])) as c:
        r = _send(c, route, world["ids"])
    assert r.status_code == 404, (route, r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    assert "iso" not in r.text  # nothing of A's names leaks


def test_bulk_outcomes_for_another_organizations_ids_record_nothing(api, world):
    route = next(r for r in ROUTES if r[:2] == BULK)
    with client(api, make_key(world["b"])) as c:
        r = _send(c, route, world["ids"])
    assert r.status_code == 200 and r.json()["updated"] == 0
    assert "no prediction" in r.json()["errors"][0]["message"]
    from aihub.services import predictions

    assert predictions.get_prediction(world["a"], world["ids"]["prediction_id"]).actual is None


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_a_key_without_the_scope_is_403(api, world, route):
    others = [p for p in PERMISSIONS if p != route[4]]
    with client(api, make_key(world["a"], others)) as c:
        r = _send(c, route, world["ids"])
    assert r.status_code == 403, (route, r.status_code, r.text)
    assert r.json()["code"] == "scope_missing" and route[4] in r.json()["detail"]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_no_revoked_or_expired_key_is_401(api, world, route):
    a = world["a"]
    revoked = make_key(a)
    apikeys.revoke_key(a, apikeys.list_keys(a)[0].id)
    expired = make_key(a)
    with tenant_session(a.tenant_id) as s:
        s.execute(sa.text("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = :i"),
                  {"i": apikeys.list_keys(a)[0].id})
    for token, code in ((None, "missing_api_key"), (revoked, "api_key_revoked"), (expired, "api_key_expired")):
        with client(api, token) as c:
            r = _send(c, route, world["ids"])
        assert r.status_code == 401, (route, token, r.text)
        assert r.json()["code"] == code
