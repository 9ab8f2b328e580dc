"""Automation workflows on real PostgreSQL with real servers on 127.0.0.1.

* a webhook receiver (``http.server``) that verifies ``X-AIHub-Signature``
  with the workflow's secret and counts deliveries; one mode fails twice
  before answering 200, to prove retries;
* an SMTP server (aiosmtpd's ``Controller``) that keeps what it receives;
* anomaly detection on an uploaded dataset with planted incidents (the
  generator of ``tests/test_monitoring.py``) starting a workflow whose retrain
  step waits for approval, then retrains a forecast model and promotes it.

Everything binds 127.0.0.1, runs inline (``AIHUB_JOB_BACKEND=inline``) and
waits with bounded loops.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import pytest
import sqlalchemy as sa

from aihub import auth, notify, workflows
from aihub.connectors.config import MASK
from aihub.db import store
from aihub.db import workflow_store as wstore
from aihub.db.session import owner_session, tenant_session
from aihub.errors import Conflict, ConnectorError, NotFound, PermissionDenied, ValidationError
from aihub.services import anomalies as anomaly_svc
from aihub.services import datasets, forecasts, insights, jobs, registry
from aihub.services import monitors as monitor_svc
from aihub.workflows import actions as acts
from tests.conftest import PASSWORD, new_tenant
from tests.test_monitoring import REGION_MONITOR, regional_csv

SECRET = "a-webhook-secret-of-32-characters!"
RUN_TIMEOUT = 90.0


# ====================================================================== servers on 127.0.0.1
class Receiver:
    """A webhook receiver on 127.0.0.1 that checks signatures; ``fail_first`` answers 500 that many times."""

    def __init__(self, secret: str = SECRET, fail_first: int = 0, status: int = 200) -> None:
        self.secret, self.fail_first, self.status = secret, fail_first, status
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sig = self.headers.get(notify.SIGNATURE_HEADER)
                expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    receiver.requests.append({
                        "body": body, "valid": hmac.compare_digest(expected, sig or ""),
                        "timestamp": self.headers.get(notify.TIMESTAMP_HEADER),
                        "delivery": self.headers.get(notify.DELIVERY_HEADER),
                        "event": self.headers.get(notify.EVENT_HEADER)})
                    failing = receiver.fail_first > 0
                    if failing:
                        receiver.fail_first -= 1
                code = 500 if failing else (receiver.status if expected == sig else 401)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if code == 200 else b'{"error": "no"}')

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    @property
    def deliveries(self) -> list[dict]:
        """Requests whose signature verified."""
        with self.lock:
            return [r for r in self.requests if r["valid"]]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    with Receiver() as r:
        yield r


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(monkeypatch):
    """An aiosmtpd server on 127.0.0.1; yields the list of received messages."""
    from aiosmtpd.controller import Controller

    received: list[dict] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                             "data": envelope.content.decode("utf-8", "replace")})
            return "250 Message accepted for delivery"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    monkeypatch.setenv("AIHUB_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AIHUB_SMTP_PORT", str(port))
    monkeypatch.setenv("AIHUB_SMTP_FROM", "hub@aihub.example.com")
    monkeypatch.delenv("AIHUB_SMTP_USER", raising=False)
    monkeypatch.delenv("AIHUB_SMTP_PASSWORD", raising=False)
    try:
        yield received
    finally:
        controller.stop()


# ====================================================================== tenants and people
@pytest.fixture(autouse=True)
def inline_backend(monkeypatch):
    monkeypatch.setenv("AIHUB_JOB_BACKEND", "inline")


def _switch_off(tenant_id: int) -> None:
    """Disable the tenant's workflows so a later test's tick (which spans tenants) does not fire them."""
    with owner_session() as s:
        s.execute(sa.text("UPDATE workflows SET enabled = false WHERE tenant_id = :t"), {"t": tenant_id})


@pytest.fixture
def org(use_db):
    admin = new_tenant("wf")
    yield admin
    _switch_off(admin.tenant_id)


def _user(admin, role: str, tag: str):
    email = f"{tag}-{admin.tenant_id}@example.com"
    auth.add_user(admin, email, f"{tag.title()} {role}", role, PASSWORD)
    return auth.principal_for(email)


def _webhook_workflow(url: str, **overrides) -> dict:
    wf = {
        "name": "Critical revenue to webhook",
        "trigger": {"type": "anomaly_detected", "min_severity": "critical"},
        "conditions": [{"field": "metric", "op": "contains", "value": "revenue"}],
        "actions": [{"type": "call_webhook", "url": url, "secret": SECRET, "backoff_seconds": 0.05,
                     "message": "{{event.severity}} anomaly on {{event.metric}}"}],
    }
    wf.update(overrides)
    return wf


def _anomaly(anomaly_id: int, severity: str = "critical", metric: str = "daily_revenue") -> dict:
    return {"anomaly_id": anomaly_id, "monitor_id": 1, "monitor": "m", "metric": metric, "slice": "total",
            "severity": severity, "score": 0.97, "impact": -1234.5}


def _runs(principal, workflow_id: int) -> list:
    return workflows.list_runs(principal, workflow_id)


def _finish(principal, run_ids: list[int]) -> list:
    return [workflows.wait_for_run(principal.tenant_id, rid, timeout=RUN_TIMEOUT) for rid in run_ids]


# ====================================================================== validation
@pytest.mark.parametrize("change, field, words", [
    ({"trigger": {"type": "schedule", "cron": "every monday"}}, "trigger.cron", "5 fields"),
    ({"trigger": {"type": "on_fire"}}, "trigger.type", "anomaly_detected"),
    ({"trigger": {"type": "anomaly_detected", "min_severity": "huge"}}, "trigger.min_severity", "critical"),
    ({"actions": []}, "actions", "at least one action"),
    ({"actions": [{"type": "call_webhook", "url": "https://x.example.com/h"}]}, "actions[0].secret", "16"),
    ({"actions": [{"type": "call_webhook", "url": "ftp://x", "secret": SECRET}]}, "actions[0].url", "https://"),
    ({"actions": [{"type": "send_email", "to": "not-an-address", "subject": "s"}]}, "actions[0].to",
     "e-mail address"),
    ({"actions": [{"type": "teleport"}]}, "actions[0].type", "create_task"),
    ({"actions": [{"type": "retrain_model"}]}, "actions[0].model_id", "choose the model"),
    ({"conditions": [{"field": "severity", "op": "~", "value": 1}]}, "conditions[0].op", ">="),
    ({"actions": [{"type": "create_task", "title": "Hi {{secrets.key}}"}]}, "actions[0].title", "placeholder"),
    ({"colour": "blue"}, "colour", "allowed"),
    ({"actions": [{"type": "call_webhook", "url": "https://x.example.com/h", "secret": SECRET,
                   "headers": {"Authorization": "Bearer abc"}}]}, "actions[0].headers", "X-AIHub-Signature"),
])
def test_invalid_workflows_name_the_field_and_the_allowed_values(change, field, words):
    raw = {**_webhook_workflow("https://hooks.example.com/h"), **change}
    with pytest.raises(ValidationError) as err:
        workflows.normalize(raw)
    assert err.value.field == field
    assert words in str(err.value), str(err.value)
    assert field in err.value.details["errors"]


def test_json_text_errors_say_where():
    with pytest.raises(ValidationError) as err:
        workflows.parse_json('{"name": "x",\n "trigger": }')
    assert err.value.field == "json" and "line 2" in str(err.value)


def test_triggers_and_conditions_match_as_documented():
    from aihub.workflows.definition import condition_holds, dedupe_key, trigger_matches

    anomaly = {"type": "anomaly_detected", "min_severity": "high"}
    assert trigger_matches(anomaly, "anomaly_detected", {"severity": "critical"}, 1)
    assert not trigger_matches(anomaly, "anomaly_detected", {"severity": "medium"}, 1)
    pred = {"type": "prediction", "model_id": 7, "field": "probability", "direction": "above", "threshold": 0.8}
    assert trigger_matches(pred, "prediction", {"model_id": 7, "probability": 0.9}, 1)
    assert not trigger_matches(pred, "prediction", {"model_id": 7, "probability": 0.7}, 1)
    assert not trigger_matches(pred, "prediction", {"model_id": 8, "probability": 0.9}, 1)
    below = {**pred, "field": "value", "direction": "below", "threshold": 100}
    assert trigger_matches(below, "prediction", {"model_id": 7, "value": 42.0}, 1)
    drop = {"type": "accuracy_drop", "model_id": 7, "tolerance": 0.05}
    assert trigger_matches(drop, "accuracy_drop", {"model_id": 7, "baseline": 0.9, "live": 0.8}, 1)
    assert not trigger_matches(drop, "accuracy_drop", {"model_id": 7, "baseline": 0.9, "live": 0.88}, 1)
    assert trigger_matches({"type": "source_synced", "source_id": None}, "source_synced", {"source_id": 3}, 1)
    assert trigger_matches({"type": "drift_detected", "model_id": 7}, "drift_detected", {"model_id": 7}, 1)
    assert not trigger_matches({"type": "drift_detected", "model_id": 7}, "drift_detected", {"model_id": 6}, 1)
    assert condition_holds({"field": "severity", "op": ">=", "value": "high"}, {"severity": "critical"})
    assert not condition_holds({"field": "severity", "op": ">=", "value": "high"}, {"severity": "low"})
    assert condition_holds({"field": "impact", "op": "<", "value": 0}, {"impact": -5})
    assert condition_holds({"field": "metric", "op": "contains", "value": "Revenue"}, {"metric": "daily_revenue"})
    assert condition_holds({"field": "a.b", "op": "in", "value": [1, 2]}, {"a": {"b": 2}})
    assert dedupe_key("anomaly_detected", {"anomaly_id": 5}) == "anomaly_detected:anomaly_id=5"
    assert dedupe_key("x", {"v": 1}) == dedupe_key("x", {"v": 1}) != dedupe_key("x", {"v": 2})


def test_due_time_is_the_latest_slot_once():
    from datetime import datetime

    trig = {"cron": "*/5 * * * *", "timezone": "UTC"}
    t = datetime(2026, 3, 2, 12, 7, 31, tzinfo=UTC)
    assert workflows.due_time(trig, datetime(2026, 3, 2, 12, 0, 10, tzinfo=UTC), t) == \
        datetime(2026, 3, 2, 12, 5, tzinfo=UTC)
    assert workflows.due_time(trig, datetime(2026, 3, 2, 12, 5, tzinfo=UTC), t) is None
    # down for a day: one firing for the latest slot, not 288
    assert workflows.due_time(trig, t - timedelta(days=1), t) == datetime(2026, 3, 2, 12, 5, tzinfo=UTC)
    berlin = {"cron": "0 6 * * *", "timezone": "Europe/Berlin"}
    assert workflows.due_time(berlin, t - timedelta(days=1), t) == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


# ====================================================================== webhooks
def test_an_anomaly_calls_the_webhook_once_with_a_valid_signature(org, receiver):
    wf = workflows.create_workflow(org, _webhook_workflow(receiver.url))
    assert wf.definition["actions"][0]["secret"] == MASK
    assert SECRET not in workflows.workflow_json(wf)
    with tenant_session(org.tenant_id) as s:  # stored encrypted, never in clear
        stored = wstore.get_workflow(s, wf.id).definition["actions"][0]
    assert "secret" not in stored and stored["secret_encrypted"] and SECRET not in json.dumps(stored)

    run_ids = workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(101))
    assert len(run_ids) == 1
    (run,) = _finish(org, run_ids)
    assert run.status == "succeeded", run.error
    step = run.steps[0]
    assert step["status"] == "succeeded" and step["output"]["status_code"] == 200 and step["output"]["attempts"] == 1
    assert step["seconds"] >= 0 and step["started_at"] and step["finished_at"]
    assert run.trigger["type"] == "anomaly_detected" and run.trigger["payload"]["anomaly_id"] == 101
    assert len(receiver.deliveries) == 1 == len(receiver.requests)
    got = receiver.deliveries[0]
    body = json.loads(got["body"])
    assert body["event"] == "anomaly_detected" and body["data"]["severity"] == "critical"
    assert body["message"] == "critical anomaly on daily_revenue" and body["run_id"] == run.id
    assert got["event"] == "anomaly_detected" and got["timestamp"].isdigit()
    assert got["delivery"] == f"aihub-{org.tenant_id}-{run.id}-0"

    # the same event never starts the workflow twice; non-matching events start nothing
    assert workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(101)) == []
    assert workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(102, severity="high")) == []
    assert workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(103, metric="transaction_count")) == []
    workflows.disable_workflow(org, wf.id)
    assert workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(104)) == []
    assert len(receiver.requests) == 1
    # saving the JSON back with the masked secret keeps the stored one
    raw = json.loads(workflows.workflow_json(workflows.get_workflow(org, wf.id)))
    raw["enabled"] = True
    workflows.update_workflow(org, wf.id, raw)
    with tenant_session(org.tenant_id) as s:
        assert wstore.get_workflow(s, wf.id).definition["actions"][0]["secret_encrypted"] == \
            stored["secret_encrypted"]
    (again,) = _finish(org, workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(105)))
    assert again.status == "succeeded" and len(receiver.deliveries) == 2


def test_webhook_retries_with_back_off_until_the_receiver_answers(monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    waits: list[float] = []
    with Receiver(fail_first=2) as r:
        result = notify.send_webhook(r.url, {"hello": "world"}, secret=SECRET, max_attempts=4,
                                     backoff_seconds=0.05, sleep=lambda s: (waits.append(s), time.sleep(s)))
        assert result.status_code == 200 and result.attempts == 3
        assert len(r.requests) == 3 and len(r.deliveries) == 3
        assert {q["delivery"] for q in r.requests} == {result.delivery_id}  # one delivery id across retries
        assert waits == [0.05, 0.1]  # exponential back-off
        assert len(result.errors) == 2 and all("HTTP 500" in e for e in result.errors)
    with Receiver(fail_first=10) as r:
        with pytest.raises(notify.DeliveryError) as err:
            notify.send_webhook(r.url, {"x": 1}, secret=SECRET, max_attempts=3, backoff_seconds=0.01)
        assert "after 3 attempts" in str(err.value) and len(r.requests) == 3
    with Receiver(status=404) as r:  # a client error is not retried
        with pytest.raises(notify.DeliveryError) as err:
            notify.send_webhook(r.url, {"x": 1}, secret=SECRET, max_attempts=5, backoff_seconds=0.01)
        assert "HTTP 404" in str(err.value) and len(r.requests) == 1
    # bounded whatever is asked
    with Receiver(fail_first=100) as r:
        with pytest.raises(notify.DeliveryError):
            notify.send_webhook(r.url, {"x": 1}, secret=SECRET, max_attempts=50, backoff_seconds=0.001)
        assert len(r.requests) == notify.MAX_ATTEMPTS


def test_a_host_off_the_allow_list_is_refused_without_a_request(org, monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "hooks.example.com")
    with Receiver() as r:
        with pytest.raises(ConnectorError) as err:
            notify.send_webhook(r.url, {"x": 1}, secret=SECRET)
        assert err.value.kind == "not_allowed" and "Nothing was sent" in str(err.value)
        wf = workflows.create_workflow(org, _webhook_workflow(r.url))
        (run,) = _finish(org, workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(7)))
        assert run.status == "failed"
        assert "not on the hub's allow-list" in run.error and run.error.startswith("Step 1 (")
        assert r.requests == []
    assert workflows.list_workflows(org)[0].workflow.id == wf.id


def test_a_failing_step_stops_its_run_and_a_later_run_still_succeeds(org, monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    analyst = _user(org, "analyst", "ana")
    with Receiver(fail_first=1) as r:
        wf = workflows.create_workflow(analyst, _webhook_workflow(r.url, actions=[
            {"type": "call_webhook", "url": r.url, "secret": SECRET, "max_attempts": 1},
            {"type": "create_task", "assignee": analyst.username, "title": "Look at {{event.metric}}",
             "assign_anomaly": False},  # the events here are made up: no anomaly row to assign
        ]))
        (first,) = _finish(org, workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(1)))
        assert first.status == "failed" and "HTTP 500" in first.error
        assert [s["status"] for s in first.steps] == ["failed", "pending"]
        assert workflows.list_tasks(org) == []  # the step after the failure never ran
        (second,) = _finish(org, workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(2)))
        assert second.status == "succeeded", second.error
        assert [s["status"] for s in second.steps] == ["succeeded", "succeeded"]
    (summary,) = workflows.list_workflows(org)
    assert summary.workflow.id == wf.id and summary.stats.total == 2
    assert summary.success_rate == pytest.approx(0.5)
    assert [status for _, status, _ in summary.stats.last_runs] == ["succeeded", "failed"]
    tasks = workflows.list_tasks(analyst, mine=True)
    assert [t.title for t in tasks] == ["Look at daily_revenue"] and tasks[0].assignee == analyst.username
    done = workflows.complete_task(analyst, tasks[0].id, "checked")
    assert done.status == "done" and done.done_at is not None and "checked" in done.description
    with pytest.raises(Conflict):
        workflows.complete_task(analyst, tasks[0].id)


# ====================================================================== e-mail
def test_an_email_step_reaches_the_smtp_server(org, smtp_server):
    wf = workflows.create_workflow(org, {
        "name": "Synced source mail",
        "trigger": {"type": "source_synced"},
        "actions": [{"type": "send_email", "to": "ops@example.com, lead@example.com",
                     "subject": "Source {{event.source_name}} synced", "body": "{{event.rows}} rows arrived."}],
    })
    (run,) = _finish(org, workflows.emit(org.tenant_id, "source_synced",
                                         {"source_id": 3, "source_name": "CRM", "sync_id": 44, "rows": 1200,
                                          "change": float("nan")}))
    assert run.status == "succeeded", run.error
    assert run.trigger["payload"]["change"] is None  # JSON in PostgreSQL has no NaN
    assert len(smtp_server) == 1
    mail = smtp_server[0]
    assert sorted(mail["to"]) == ["lead@example.com", "ops@example.com"] and mail["from"] == "hub@aihub.example.com"
    assert "Subject: Source CRM synced" in mail["data"] and "1200 rows arrived." in mail["data"]
    assert run.steps[0]["output"]["message_id"] in mail["data"]
    assert wf.definition["trigger"] == {"type": "source_synced", "source_id": None, "only_changed": False}


def test_email_failures_say_what_to_fix(monkeypatch):
    monkeypatch.delenv("AIHUB_SMTP_HOST", raising=False)
    with pytest.raises(notify.DeliveryError) as err:
        notify.send_email("a@example.com", "s", "b")
    assert "AIHUB_SMTP_HOST" in str(err.value)
    port = _free_port()  # nothing listens there
    settings = notify.SmtpSettings("127.0.0.1", port, None, None, "hub@example.com", "none", 5)
    with pytest.raises(notify.DeliveryError) as err:
        notify.send_email("a@example.com", "s", "b", settings=settings)
    assert "Nothing accepts connections" in str(err.value)
    with pytest.raises(ValidationError):
        notify.SmtpSettings.from_env({"AIHUB_SMTP_HOST": "x", "AIHUB_SMTP_TLS": "maybe"})
    assert "<set>" in repr(notify.SmtpSettings.from_env({"AIHUB_SMTP_HOST": "x", "AIHUB_SMTP_PASSWORD": "pw"}))


# ====================================================================== schedules
def test_the_tick_fires_a_schedule_once_per_due_slot(org):
    analyst = _user(org, "analyst", "sched")
    wf = workflows.create_workflow(analyst, {
        "name": "Every five minutes",
        "trigger": {"type": "schedule", "cron": "*/5 * * * *"},
        "actions": [{"type": "create_task", "assignee": analyst.username, "title": "Check {{event.scheduled_for}}"}],
    })
    from datetime import datetime

    from croniter import croniter

    slot1 = croniter("*/5 * * * *", wf.created_at).get_next(datetime)
    out = workflows.tick(slot1 - timedelta(seconds=1))  # not yet due
    assert _runs(org, wf.id) == []
    out = workflows.tick(slot1 + timedelta(seconds=10))
    assert out["workflows_fired"] >= 1
    runs = _runs(org, wf.id)
    assert len(runs) == 1 and runs[0].trigger["type"] == "schedule"
    assert runs[0].trigger["payload"]["scheduled_for"] == slot1.isoformat()
    for later in (timedelta(seconds=10), timedelta(seconds=50), timedelta(minutes=2), timedelta(minutes=4, seconds=59)):
        workflows.tick(slot1 + later)  # the same minute again, and minutes before the next slot
    assert len(_runs(org, wf.id)) == 1
    workflows.tick(slot1 + timedelta(minutes=5))  # the next slot
    runs = _runs(org, wf.id)
    assert len(runs) == 2 and runs[0].trigger["payload"]["scheduled_for"] == (slot1 + timedelta(minutes=5)).isoformat()
    done = _finish(org, [r.id for r in runs])
    assert all(r.status == "succeeded" for r in done), [r.error for r in done]
    assert len(workflows.list_tasks(org)) == 2
    with tenant_session(org.tenant_id) as s:
        assert wstore.get_workflow(s, wf.id).last_fired_at.isoformat() == runs[0].trigger["payload"]["scheduled_for"]
    workflows.disable_workflow(org, wf.id)
    workflows.tick(slot1 + timedelta(minutes=30))
    assert len(_runs(org, wf.id)) == 2


# ====================================================================== approvals on a real model
def _daily_csv(days: int = 120, seed: int = 3) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days, freq="D")
    v = 500 + 40 * np.sin(np.arange(days) / 7 * 2 * np.pi) + rng.normal(0, 10, days)
    return pd.DataFrame({"date": ts.strftime("%Y-%m-%d"), "revenue": v.round(2)}).to_csv(index=False).encode()


def _forecast_model(principal, data: bytes, name: str = "Revenue forecast", dataset: str = "daily"):
    """A deployed naive forecast model (trained synchronously)."""
    saved = datasets.save_upload(principal, dataset, f"{dataset}.csv", data)
    model, job = forecasts.create_forecast_model(principal, {
        "model_name": name, "dataset_id": saved.version.dataset_id, "date_column": "date",
        "value_column": "revenue", "freq": "D", "horizon": 7, "algorithm": "naive"}, run=False)
    assert jobs.run_job(principal.tenant_id, job.id) == "succeeded", registry.get_job(principal, job.id).error
    job = registry.get_job(principal, job.id)
    registry.deploy(principal, model.id, job.model_version_id)
    return registry.get_model(principal, model.id)


def _versions(principal, model_id):
    return {v.version: v for v in registry.list_versions(principal, model_id)}


def _add_version(principal, model_id: int, metrics: dict) -> int:
    with tenant_session(principal.tenant_id) as s:
        return store.add_model_version(
            s, tenant_id=principal.tenant_id, model_id=model_id, algorithm="naive", params={}, metrics=metrics,
            training_data_hash="0" * 64, library_versions={}, artifact_format="aihub-forecast-json", artifact=b"{}",
            training_seconds=0.0, dataset_version_id=None, user_id=principal.user_id).id


def _make_challenger(principal, model_id: int, version_id: int) -> None:
    if getattr(registry, "set_challenger", None) is not None:
        registry.set_challenger(principal, model_id, version_id, 0.0)
    else:
        with tenant_session(principal.tenant_id) as s:
            wstore.set_challenger(s, model_id, version_id)


def test_an_anomaly_starts_a_retrain_that_waits_for_approval_and_then_promotes(server_database, monkeypatch):
    """The issue's done-when: detection on planted data -> approval -> retrain -> challenger promoted."""
    admin = new_tenant("wfe2e")
    try:
        analyst = _user(admin, "analyst", "ana")
        saved = datasets.save_upload(analyst, "regions", "regions.csv", regional_csv())
        mon = monitor_svc.create_monitor(analyst, {**REGION_MONITOR, "detection_name": "regions"},
                                        dataset_id=saved.version.dataset_id)
        model = _forecast_model(analyst, _daily_csv())
        v1 = model.active_version_id
        wf = workflows.create_workflow(analyst, {
            "name": "Retrain on the West revenue drop",
            "trigger": {"type": "anomaly_detected", "min_severity": "low", "monitor_id": mon.id},
            "conditions": [{"field": "slice", "op": "==", "value": "total"},
                           {"field": "ts", "op": "contains", "value": "2023-04-02"}],
            "actions": [{"type": "retrain_model", "model_id": model.id, "require_approval": True},
                        {"type": "promote_challenger", "model_id": model.id, "metric": "mase"}],
        })
        run = monitor_svc.run_monitor(analyst, mon.id)  # emits anomaly_detected for each new anomaly
        assert run.status == "succeeded" and run.anomalies_found >= 2
        runs = _runs(admin, wf.id)
        assert len(runs) == 1, [r.trigger for r in runs]
        waiting = workflows.wait_for_run(admin.tenant_id, runs[0].id, timeout=RUN_TIMEOUT)
        assert waiting.status == "waiting_approval" and waiting.steps[0]["status"] == "waiting_approval"
        assert waiting.trigger["payload"]["ts"].startswith("2023-04-02") and waiting.trigger["payload"]["impact"] < 0
        assert len(_versions(admin, model.id)) == 1  # nothing trained before the approval
        (appr,) = workflows.list_approvals(admin)
        assert appr.workflow_run_id == waiting.id and appr.status == "pending"
        assert appr.context["champion"]["version"] == 1 and "mase" in appr.context["champion"]["metrics"]
        assert appr.context["reason"]["event"] == "anomaly_detected" and appr.context["model"] == model.name
        assert appr.expires_at > appr.requested_at + timedelta(hours=71)

        viewer = _user(admin, "viewer", "vic")
        with pytest.raises(PermissionDenied):
            workflows.decide(viewer, appr.id, True, "ok")
        decided = workflows.decide(admin, appr.id, True, "Go ahead")
        assert decided.status == "approved" and decided.decided_by_name == admin.username
        assert decided.note == "Go ahead" and decided.decided_at is not None
        with pytest.raises(Conflict):
            workflows.decide(admin, appr.id, False, "changed my mind")
        done = workflows.wait_for_run(admin.tenant_id, waiting.id, timeout=RUN_TIMEOUT,
                                      until=("succeeded", "failed", "rejected", "expired"))
        assert done.status == "succeeded", done.error
        retrain, promote = done.steps
        assert retrain["status"] == "succeeded" and retrain["approval_status"] == "approved"
        assert retrain["decided_by"] == admin.username and retrain["output"]["version"] == 2
        assert promote["status"] == "succeeded" and promote["output"]["promoted"] is True
        assert promote["output"]["guard"]["metric"] == "mase" and promote["output"]["guard"]["passes"]
        after = registry.get_model(admin, model.id)
        assert after.active_version_id != v1 and _versions(admin, model.id)[2].is_active
        # the anomaly trigger's other anomalies started nothing (conditions), the monitor run stands
        assert monitor_svc.list_runs(admin, mon.id)[0].status == "succeeded"
    finally:
        _switch_off(admin.tenant_id)


def test_reject_and_expiry_are_recorded(org):
    analyst = _user(org, "analyst", "ana")
    model = _forecast_model(analyst, _daily_csv(90))
    wf = workflows.create_from_template(analyst, "drift_retrain_approval", {"model_id": model.id})
    assert wf.definition["actions"][0]["require_approval"] is True
    assert wf.definition["actions"][1]["metric"] == "mase"  # a forecast model's guard metric
    first, second = (workflows.emit(org.tenant_id, "drift_detected",
                                    {"model_id": model.id, "report_id": rid, "share_drifted": 0.5})[0]
                     for rid in (1, 2))
    _finish(org, [first, second])
    pending = {a.workflow_run_id: a for a in workflows.list_approvals(org)}
    assert set(pending) == {first, second}

    with pytest.raises(ValidationError) as err:
        workflows.decide(analyst, pending[first].id, False, "")
    assert err.value.field == "note"
    rejected = workflows.decide(analyst, pending[first].id, False, "Drift is a holiday effect")
    assert rejected.status == "rejected" and rejected.decided_by_name == analyst.username
    run = workflows.get_run(org, first)
    assert run.status == "rejected" and run.finished_at is not None
    assert "rejected by" in run.error and "holiday effect" in run.error
    assert run.steps[0]["status"] == "rejected" and run.steps[1]["status"] == "pending"

    late = pending[second].expires_at + timedelta(minutes=1)
    out = workflows.tick(late)
    assert out["approvals_expired"] >= 1
    expired = workflows.get_approval(org, pending[second].id)
    assert expired.status == "expired" and expired.decided_by is None and "No decision before" in expired.note
    run = workflows.get_run(org, second)
    assert run.status == "expired" and "expired" in run.error and run.steps[0]["status"] == "expired"
    with pytest.raises(Conflict):
        workflows.decide(analyst, pending[second].id, True, "too late")
    assert workflows.list_approvals(org) == []
    assert {a.status for a in workflows.list_approvals(org, pending_only=False)} == {"rejected", "expired"}
    assert len(_versions(org, model.id)) == 1  # nothing was retrained
    summary = workflows.list_workflows(org)[0]
    assert summary.stats.rejected == 1 and summary.stats.expired == 1 and summary.success_rate is None


def test_promote_guard_keeps_the_champion_when_the_metric_drops(org):
    model = _forecast_model(org, _daily_csv(90))
    champion = registry.get_model(org, model.id).active_version_id
    worse = _add_version(org, model.id, {"mase": 9.0, "mae": 99.0})
    _make_challenger(org, model.id, worse)
    wf = workflows.create_workflow(org, {
        "name": "Promote if MASE holds", "trigger": {"type": "drift_detected", "model_id": model.id},
        "actions": [{"type": "promote_challenger", "metric": "mase"}]})
    (run,) = _finish(org, workflows.emit(org.tenant_id, "drift_detected", {"model_id": model.id, "report_id": 9}))
    assert run.status == "succeeded"
    step = run.steps[0]
    assert step["status"] == "skipped" and "champion keeps serving" in step["note"]
    assert step["output"]["promoted"] is False and step["output"]["guard"]["passes"] is False
    assert registry.get_model(org, model.id).active_version_id == champion

    better = _add_version(org, model.id, {"mase": 0.01, "mae": 0.1})
    _make_challenger(org, model.id, better)
    run_id = workflows.run_now(org, wf.id)
    (run,) = _finish(org, [run_id])
    assert run.status == "failed" and "names no model" in run.error  # a manual run has no drift event
    (run,) = _finish(org, workflows.emit(org.tenant_id, "drift_detected", {"model_id": model.id, "report_id": 10}))
    assert run.status == "succeeded" and run.steps[0]["output"]["promoted"] is True
    assert registry.get_model(org, model.id).active_version_id == better

    assert acts.lower_is_better("mase") and not acts.lower_is_better("roc_auc")
    assert acts.compare("roc_auc", 0.80, 0.79, 0.0)[0] is False
    assert acts.compare("roc_auc", 0.80, 0.79, 0.02)[0] is True
    assert acts.find_metric({"test": {"roc_auc": 0.7}}, "roc_auc") == 0.7


# ====================================================================== templates with a real monitor
def test_critical_revenue_template_calls_the_webhook_and_assigns_the_on_call_analyst(org, receiver):
    oncall = _user(org, "analyst", "oncall")
    templates = {t.key for t in workflows.list_templates()}
    assert templates == {"weekly_retrain_promote", "critical_revenue_alert", "drift_retrain_approval"}
    with pytest.raises(ValidationError) as err:
        workflows.create_from_template(org, "critical_revenue_alert", {"webhook_url": receiver.url})
    assert err.value.field == "webhook_secret"
    wf = workflows.create_from_template(org, "critical_revenue_alert", {
        "webhook_url": receiver.url, "webhook_secret": SECRET, "assignee": oncall.username,
        "min_severity": "low"})  # the planted incidents are not all critical: take every severity here
    saved = datasets.save_upload(org, "regions", "regions.csv", regional_csv())
    mon = monitor_svc.create_monitor(org, {**REGION_MONITOR, "detection_name": "regions"},
                                    dataset_id=saved.version.dataset_id)
    monitor_svc.run_monitor(org, mon.id)
    anomalies = anomaly_svc.list_anomalies(org, monitor_id=mon.id)
    runs = _finish(org, [r.id for r in _runs(org, wf.id)])
    assert len(runs) == len(anomalies) >= 2
    assert all(r.status == "succeeded" for r in runs), [r.error for r in runs]
    assert len(receiver.deliveries) == len(runs) == len(receiver.requests)
    assert all(anomaly_svc.get_anomaly(org, a.id).assignee == oncall.username for a in anomalies)
    tasks = workflows.list_tasks(oncall, mine=True)
    assert len(tasks) == len(anomalies) and all("daily_revenue anomaly" in t.title for t in tasks)
    events = anomaly_svc.anomaly_events(org, anomalies[0].id)
    assert any(e.action == "assign" and "Assigned by workflow" in (e.note or "") for e in events)


def test_weekly_churn_template_retrains_a_challenger_and_promotes_it_on_roc_auc(org):
    from tests.test_predictive import _quick_model

    analyst = _user(org, "analyst", "ana")
    model, v1 = _quick_model(analyst, "Churn")
    raw = workflows.template_workflow(analyst, "weekly_retrain_promote", {"model_id": model.id})
    assert raw["trigger"] == {"type": "schedule", "cron": "0 6 * * 1", "timezone": "UTC"}
    assert raw["actions"][1]["metric"] == "roc_auc" and raw["name"] == "Weekly retrain of Churn"
    raw["actions"].append({"type": "batch_prediction", "model_id": model.id})
    wf = workflows.create_workflow(analyst, raw)
    assert wf.trigger_type == "schedule" and wf.enabled
    (run,) = _finish(org, [workflows.run_now(analyst, wf.id)])
    assert run.status == "succeeded", run.error
    retrain, promote, batch = run.steps
    assert retrain["output"]["version"] == 2 and "roc_auc" in retrain["output"]["metrics"]
    assert retrain["output"].get("challenger_share") == 0.2  # it served as challenger before the promote
    guard = promote["output"]["guard"]
    assert guard["metric"] == "roc_auc" and guard["passes"] and "higher is better" in guard["summary"]
    assert promote["output"]["promoted"] is True
    after = registry.get_model(analyst, model.id)
    assert after.active_version_id == retrain["output"]["version_id"] != v1.id
    assert getattr(after, "challenger_version_id", None) is None
    assert batch["output"]["rows_total"] == 600 and batch["output"]["rows_predicted"] > 0


# ====================================================================== owner, permissions, isolation
def test_viewers_look_analysts_automate_and_actions_run_with_the_owners_rights(org, receiver):
    viewer = _user(org, "viewer", "vic")
    analyst = _user(org, "analyst", "ana")
    raw = _webhook_workflow(receiver.url)
    with pytest.raises(PermissionDenied) as err:
        workflows.create_workflow(viewer, raw)
    assert "ai_analytics:automation" in str(err.value)
    wf = workflows.create_workflow(analyst, raw)
    assert wf.created_by_name == analyst.username
    assert [w.workflow.name for w in workflows.list_workflows(viewer)] == [wf.name]
    for call in (lambda: workflows.disable_workflow(viewer, wf.id), lambda: workflows.run_now(viewer, wf.id),
                 lambda: workflows.delete_workflow(viewer, wf.id), lambda: workflows.update_workflow(viewer, wf.id, raw)):
        with pytest.raises(PermissionDenied):
            call()
    # the owner is demoted: the workflow's runs may no longer act
    auth.set_user_role(org, analyst.user_id, "viewer")
    (run,) = _finish(org, workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(1)))
    assert run.status == "failed" and "ai_analytics:automation" in run.error and receiver.requests == []
    # the owner leaves: someone saves the workflow to take it over
    auth.set_user_role(org, analyst.user_id, "analyst", active=False)
    (run,) = _finish(org, workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(2)))
    assert run.status == "failed" and "take it over" in run.error
    taken = workflows.update_workflow(org, wf.id, json.loads(workflows.workflow_json(wf)))
    assert taken.created_by_name == org.username
    (run,) = _finish(org, workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(3)))
    assert run.status == "succeeded" and len(receiver.deliveries) == 1
    # a viewer completes their own task but not someone else's
    t = workflows.create_workflow(org, {"name": "task for viewer", "trigger": {"type": "source_synced"},
                                        "actions": [{"type": "create_task", "assignee": viewer.username,
                                                     "title": "Review sync {{event.sync_id}}"}]})
    _finish(org, workflows.emit(org.tenant_id, "source_synced", {"source_id": 1, "sync_id": 5}))
    (task,) = workflows.list_tasks(viewer, mine=True)
    assert workflows.complete_task(viewer, task.id).status == "done"
    workflows.delete_workflow(org, t.id)
    assert [w.workflow.id for w in workflows.list_workflows(org)] == [wf.id]


def test_tenants_never_see_or_start_each_others_workflows(org, receiver):
    other = new_tenant("wfother")
    try:
        wf = workflows.create_workflow(org, {**_webhook_workflow(receiver.url), "actions": [
            {"type": "create_task", "title": "approve me", "require_approval": True}]})
        (run_id,) = workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(1))
        _finish(org, [run_id])
        (appr,) = workflows.list_approvals(org)
        assert workflows.emit(other.tenant_id, "anomaly_detected", _anomaly(1)) == []
        assert workflows.list_workflows(other) == [] and workflows.list_runs(other) == []
        assert workflows.list_approvals(other) == [] and workflows.list_tasks(other) == []
        for call in (lambda: workflows.get_workflow(other, wf.id), lambda: workflows.get_run(other, run_id),
                     lambda: workflows.decide(other, appr.id, True, "mine now"),
                     lambda: workflows.delete_workflow(other, wf.id)):
            with pytest.raises(NotFound):
                call()
        # a workflow cannot point at another tenant's model or assignee
        model = _add_model(other)
        with pytest.raises(ValidationError) as err:
            workflows.create_workflow(org, {"name": "x", "trigger": {"type": "drift_detected"},
                                            "actions": [{"type": "retrain_model", "model_id": model}]})
        assert err.value.field == "actions[0].model_id"
        with pytest.raises(ValidationError) as err:
            workflows.create_workflow(org, {"name": "y", "trigger": {"type": "source_synced"},
                                            "actions": [{"type": "create_task", "title": "t",
                                                         "assignee": other.username}]})
        assert err.value.field == "actions[0].assignee"
        assert workflows.decide(org, appr.id, True, "").status == "approved"
        assert workflows.wait_for_run(org.tenant_id, run_id, until=("succeeded", "failed")).status == "succeeded"
    finally:
        _switch_off(other.tenant_id)


def _add_model(principal) -> int:
    with tenant_session(principal.tenant_id) as s:
        return store.create_model(s, tenant_id=principal.tenant_id, name="other model", kind="forecast",
                                  dataset_id=None, config={}, user_id=principal.user_id).id


def test_a_run_is_executed_by_one_runner_at_a_time_and_repeats_nothing(org, receiver):
    workflows.create_workflow(org, _webhook_workflow(receiver.url))
    (run_id,) = workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(1), run=False)
    results = []
    threads = [threading.Thread(target=lambda: results.append(workflows.execute_run(org.tenant_id, run_id)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=RUN_TIMEOUT)
    assert sorted(results).count("succeeded") >= 1
    assert set(results) <= {"succeeded", "busy"}
    assert len(receiver.requests) == 1  # four runners, one delivery
    assert workflows.execute_run(org.tenant_id, run_id) == "succeeded"  # an ended run is left alone
    assert len(receiver.requests) == 1


def test_insight_and_monitor_steps_record_their_outcome(org):
    saved = datasets.save_upload(org, "regions", "regions.csv", regional_csv())
    mon = monitor_svc.create_monitor(org, {**REGION_MONITOR, "detection_name": "regions"},
                                    dataset_id=saved.version.dataset_id)
    wf = workflows.create_workflow(org, {
        "name": "Refresh after a sync", "trigger": {"type": "source_synced"},
        "actions": [{"type": "run_monitor", "monitor_id": mon.id},
                    {"type": "generate_insights", "categories": ["sales"]},
                    {"type": "generate_insights", "categories": ["astrology"]}]})
    (run,) = _finish(org, workflows.emit(org.tenant_id, "source_synced", {"source_id": 1, "sync_id": 2}))
    monitor_step, insights_step, bad_step = run.steps
    assert monitor_step["status"] == "succeeded" and monitor_step["output"]["anomalies_found"] >= 2
    assert monitor_step["output"]["points_scored"] > 0
    assert insights_step["status"] == "succeeded"
    stored = insights.list_insights(org, categories=["sales"], statuses=None, include_expired=True)
    assert insights_step["output"]["insights"] == len(stored)  # the step generated every stored sales insight
    assert set(insights_step["output"]["titles"]) <= {i.title for i in stored}
    assert run.status == "failed" and bad_step["status"] == "failed" and "astrology" in bad_step["error"]
    assert run.error.startswith("Step 3 (Generate insights) failed")
    assert wf.definition["actions"][1]["categories"] == ["sales"]


def test_runs_go_to_the_worker_queue_and_fall_back_to_a_thread(org, receiver, monkeypatch):
    from aihub import queue

    workflows.create_workflow(org, _webhook_workflow(receiver.url))
    deferred = []
    monkeypatch.setenv("AIHUB_JOB_BACKEND", "worker")
    monkeypatch.setattr(queue, "defer_for_tenant",
                        lambda name, kw: deferred.append((kw["tenant_id"], kw["run_id"])) or 4242)
    (queued,) = workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(1))
    assert deferred == [(org.tenant_id, queued)] and workflows.get_run(org, queued).status == "queued"
    assert workflows.execute_run(org.tenant_id, queued) == "succeeded"  # what the worker task runs

    def refuse(name, kw):
        raise NotImplementedError("the worker's app is open asynchronously")

    monkeypatch.setattr(queue, "defer_for_tenant", refuse)
    (fallback,) = workflows.emit(org.tenant_id, "anomaly_detected", _anomaly(2))
    assert workflows.wait_for_run(org.tenant_id, fallback, timeout=RUN_TIMEOUT).status == "succeeded"
    assert len(receiver.deliveries) == 2
