"""Issue 10, low items: scheduled work of a deactivated user stops, and source changes are in the audit log.

Threat: an analyst sets up a scheduled sync (or deploys a model whose drift is checked every morning) and is then
deactivated. Before the fix the worker ran that work as the tenant's first *admin*, so a departed analyst's
schedule kept reaching the outside world with an admin's rights. Now it runs only as the person who set it up,
while active; otherwise it is skipped, the reason is recorded, and an admin must take it over. A real HTTP server
on 127.0.0.1 records whether the source was read.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from aihub import auth
from aihub.errors import PermissionDenied
from aihub.services import datasets, health, jobs, registry, sources
from aihub.services.batch_predictions import predict_batch
from aihub.services.model_config import template_config
from aihub.services.model_training import create_model
from tests.conftest import PASSWORD, shared_file

TOKEN = "scheduled-token-5a4b3c2d1e"


class _Orders(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(self.headers.get("Authorization"))
        body = json.dumps([{"day": f"2024-01-{d:02d}", "sales": d * 10} for d in range(1, 11)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Orders)
    srv.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _analyst(admin):
    email = f"leaver-{uuid.uuid4().hex[:6]}@example.com"
    user = auth.add_user(admin, email, "Leaver", "analyst", PASSWORD)
    return user, auth.principal_for(email, admin.tenant_id)


def _source(api) -> dict:
    return {"source_name": f"Orders {uuid.uuid4().hex[:4]}", "source_type": "rest_api", "sync_frequency": "hourly",
            "connection_config": {"base_url": f"http://127.0.0.1:{api.server_port}", "endpoints": ["orders"],
                                  "timeout_seconds": 5},
            "authentication_config": {"type": "bearer", "token": TOKEN}}


def test_a_deactivated_analysts_scheduled_sync_does_not_run_as_an_admin(tenant, api):
    user, analyst = _analyst(tenant)
    src = sources.create_source(analyst, _source(api))
    assert sources.sync_scheduled(tenant.tenant_id, src.id).status == "succeeded"
    assert api.seen == [f"Bearer {TOKEN}"]

    auth.set_user_role(tenant, user.id, "analyst", active=False)
    done = sources.sync_scheduled(tenant.tenant_id, src.id)  # what the worker's aihub.sync_source task calls
    assert api.seen == [f"Bearer {TOKEN}"], "the departed analyst's schedule read the source again"
    assert done.status == "skipped" and "no longer an active user" in done.error
    after = sources.get_source(tenant, src.id)
    assert not after.enabled and after.next_sync_at is None, "the schedule keeps firing"
    assert (after.last_status, after.last_error) == ("skipped", done.error)
    assert (tenant.tenant_id, src.id) not in sources.claim_due_sources()
    [skip] = auth.list_audit_log(tenant, events=("scheduled_work_skipped",))
    assert skip.target == f"source {src.id} '{src.name}'"
    assert skip.details["work"] == "sync" and skip.details["owner_id"] == user.id and skip.details["paused"]

    # An admin who resumes the schedule takes it over: it runs as them from now on.
    sources.set_enabled(tenant, src.id, True)
    assert sources.get_source(tenant, src.id).created_by == tenant.user_id
    assert sources.sync_scheduled(tenant.tenant_id, src.id).status == "unchanged"
    assert len(api.seen) == 2


def test_a_demoted_owners_schedule_is_skipped_not_escalated(tenant, api):
    user, analyst = _analyst(tenant)
    src = sources.create_source(analyst, _source(api))
    auth.set_user_role(tenant, user.id, "viewer")
    done = sources.sync_scheduled(tenant.tenant_id, src.id)
    assert done.status == "skipped" and "lacks the permission" in done.error
    assert api.seen == []


def test_acting_principal_never_falls_back_to_another_account(tenant):
    user, _ = _analyst(tenant)
    assert auth.acting_principal(tenant.tenant_id, user.id).user_id == user.id
    auth.set_user_role(tenant, user.id, "analyst", active=False)
    for who in (user.id, None):
        with pytest.raises(PermissionDenied, match="no longer an active user"):
            auth.acting_principal(tenant.tenant_id, who)


def test_a_deactivated_creators_drift_check_is_skipped_and_recorded(tenant):
    user, analyst = _analyst(tenant)
    data = shared_file("telco_churn", "telco_customer_churn.csv").read_bytes()
    saved = datasets.save_upload(analyst, "telco", "telco.csv", data)
    cfg = template_config(analyst, "churn", saved.version.dataset_id)
    cfg.update({"model_name": "churn", "algorithm": "logistic_regression"})
    model, job = create_model(analyst, cfg, saved.version.dataset_id, run=False)
    assert jobs.run_job(tenant.tenant_id, job.id) == "succeeded", registry.get_job(tenant, job.id).error
    registry.deploy(analyst, model.id, registry.list_versions(analyst, model.id)[0].id)
    frame: pd.DataFrame = datasets.load_frame(analyst, saved.version.id)
    rows = frame.sample(300, random_state=3).drop(columns=["Churn"])
    predict_batch(analyst, model.id, "recent.csv", rows.to_csv(index=False).encode())
    assert health.check_scheduled(tenant.tenant_id, model.id, user.id) == "checked"
    assert health.latest_drift(tenant, model.id) is not None
    first = health.latest_drift(tenant, model.id).id

    auth.set_user_role(tenant, user.id, "analyst", active=False)
    assert health.check_scheduled(tenant.tenant_id, model.id, user.id) == "skipped"
    assert health.latest_drift(tenant, model.id).id == first, "the check ran in another account's name"
    [skip] = auth.list_audit_log(tenant, events=("scheduled_work_skipped",))
    assert skip.target == f"model {model.id}" and skip.details["work"] == "drift_check"
    assert "no longer an active user" in skip.details["reason"]


def test_source_created_changed_and_deleted_are_audited_without_secrets(tenant, api):
    _, analyst = _analyst(tenant)
    src = sources.create_source(analyst, _source(api))
    changed = _source(api) | {"source_name": src.name, "description": "nightly orders"}
    changed["authentication_config"] = {"type": "bearer", "token": ""}  # left blank: kept
    sources.update_source(analyst, src.id, changed)
    changed["connection_config"] = {**changed["connection_config"], "base_url": f"http://localhost:{api.server_port}"}
    changed["authentication_config"] = {"type": "bearer", "token": "typed-again-9z"}
    sources.update_source(analyst, src.id, changed)
    sources.set_enabled(analyst, src.id, False)
    sources.delete_source(tenant, src.id)

    log = list(reversed(auth.list_audit_log(tenant, events=("source_created", "source_changed", "source_deleted"))))
    target = f"source {src.id} '{src.name}'"
    assert [(e.event, e.target) for e in log] == [
        ("source_created", target), ("source_changed", target), ("source_changed", target),
        ("source_changed", target), ("source_deleted", target)]
    assert [e.actor for e in log] == [analyst.username] * 4 + [tenant.username]
    assert log[0].details == {"type": "rest_api", "credentials": ["token"]}  # names of the secrets, never values
    assert log[1].details["fields"] == ["description"] and log[1].details["credentials"] == "kept"
    assert log[2].details["fields"] == ["connection_config.base_url"]
    assert log[2].details["credentials"] == "replaced"
    assert log[3].details == {"enabled": False}
    text = json.dumps([e.details for e in log])
    assert TOKEN not in text and "typed-again-9z" not in text
