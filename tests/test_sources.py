"""Data sources: configure, test, sync into dataset versions, schedules; real HTTP and PostgreSQL on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from aihub import auth
from aihub.errors import PermissionDenied, ValidationError
from aihub.services import datasets, sources
from tests.conftest import PASSWORD

TOKEN = "s3cret-bearer-token-123"


class _Api(BaseHTTPRequestHandler):
    """Paginated orders behind a bearer token; ``server.rows`` can change between syncs."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        page = int(self.path.split("page=")[-1]) if "page=" in self.path else 1
        rows = self.server.rows[(page - 1) * 2: page * 2]
        body = json.dumps({"data": {"items": rows}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def api(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.rows = [{"day": f"2024-01-0{i}", "region": "West" if i % 2 else "East", "sales": 100 + i}
                   for i in range(1, 6)]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    yield server
    server.shutdown()
    server.server_close()


def _rest(server, name="Orders API", frequency="hourly", token=TOKEN):
    return {
        "source_name": name, "source_type": "rest_api", "description": "orders from the shop API",
        "connection_config": {"base_url": f"http://127.0.0.1:{server.server_port}", "endpoints": ["orders"],
                              "records_path": "data.items", "pagination": {"type": "page"}, "timeout_seconds": 5},
        "authentication_config": {"type": "bearer", "token": token},
        "data_schema": {"fields": [{"name": "Order Date", "type": "date"}, {"name": "Region", "type": "category"},
                                   {"name": "Sales", "type": "number"}]},
        "field_mapping": {"day": "Order Date", "region": "Region", "sales": "Sales"},
        "sync_frequency": frequency,
    }


def test_rest_source_syncs_versions_only_when_data_changes(tenant, api, use_db):
    src = sources.create_source(tenant, _rest(api))
    assert src.has_secrets and "token" not in json.dumps(src.config)
    with use_db.owner.connect() as conn:
        stored = conn.execute(sa.text("select config::text, secrets_encrypted from data_sources where id = :i"),
                              {"i": src.id}).one()
    assert TOKEN not in stored[0] and TOKEN not in stored[1]

    report = sources.test_connection(tenant, src.id)
    assert report.ok and len(report.rows_sample) == 2 and report.truncated  # a test reads the first page only

    first = sources.sync(tenant, src.id)
    assert (first.status, first.rows_read, first.rows_written) == ("succeeded", 5, 5), first.error
    frame = datasets.load_frame(tenant, first.dataset_version_id)
    assert list(frame.columns) == ["Order Date", "Region", "Sales"] and frame["Sales"].sum() == 515
    assert first.duration_seconds is not None and first.finished_at >= first.started_at

    same = sources.sync(tenant, src.id)
    assert same.status == "unchanged" and same.dataset_version_id == first.dataset_version_id

    api.rows.append({"day": "2024-01-06", "region": "West", "sales": 200})
    second = sources.sync(tenant, src.id)
    assert second.status == "succeeded" and second.rows_written == 6
    assert datasets.get_version(tenant, second.dataset_version_id).version == 2
    assert [s.status for s in sources.list_syncs(tenant, src.id)] == ["succeeded", "unchanged", "succeeded"]


def test_a_failed_sync_says_why_and_keeps_the_previous_version(tenant, api):
    src = sources.create_source(tenant, _rest(api))
    good = sources.sync(tenant, src.id)
    api.shutdown()
    api.server_close()
    failed = sources.sync(tenant, src.id)
    assert failed.status == "failed"
    assert "127.0.0.1" in failed.error and "refused" in failed.error.lower()
    assert sources.get_source(tenant, src.id).last_status == "failed"
    (ds,) = datasets.list_datasets(tenant)
    assert (ds.latest_version_id, ds.versions) == (good.dataset_version_id, 1)


def test_wrong_token_is_an_auth_failure_and_update_keeps_unchanged_secrets(tenant, api):
    src = sources.create_source(tenant, _rest(api, token="wrong-token-value"))
    report = sources.test_connection(tenant, src.id)
    assert not report.ok and report.error_kind == "auth"
    assert "wrong-token-value" not in report.message
    sources.update_source(tenant, src.id, _rest(api, token=TOKEN))
    assert sources.test_connection(tenant, src.id).ok
    raw = _rest(api)
    raw["authentication_config"] = {"type": "bearer"}  # left blank in the form: keep the stored token
    sources.update_source(tenant, src.id, raw)
    assert sources.sync(tenant, src.id).status == "succeeded"


def test_host_outside_the_allow_list_is_refused(tenant, api, monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "example.com")
    src = sources.create_source(tenant, _rest(api))
    report = sources.test_connection(tenant, src.id)
    assert not report.ok and report.error_kind == "not_allowed"


def test_postgresql_source_reads_read_only(tenant, monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("AIHUB_HUB_SOURCE_DATABASES", "test")  # 127.0.0.1:5432 also serves the hub here
    table = f"shop_orders_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with admin.begin() as conn:
        conn.execute(sa.text(f"create table {table} (day date, region text, sales numeric)"))
        conn.execute(sa.text(f"insert into {table} select date '2024-01-01' + g, "
                             f"case when g % 2 = 0 then 'West' else 'East' end, g * 10 from generate_series(1, 40) g"))
    try:
        src = sources.create_source(tenant, {
            "source_name": "Shop DB", "source_type": "database",
            "connection_config": {"url": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
                                  "query": f"select day, region, sales from {table} order by day"},
            "sync_frequency": "daily"})
        done = sources.sync(tenant, src.id)
        assert (done.status, done.rows_written) == ("succeeded", 40), done.error
        frame = datasets.load_frame(tenant, done.dataset_version_id)
        assert float(frame["sales"].sum()) == sum(g * 10 for g in range(1, 41))
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"drop table {table}"))
        admin.dispose()


def test_schedule_claims_each_due_source_once(tenant, api):
    src = sources.create_source(tenant, _rest(api, frequency="hourly"))
    claimed = sources.claim_due_sources()
    assert (tenant.tenant_id, src.id) in claimed
    assert (tenant.tenant_id, src.id) not in sources.claim_due_sources()
    after = sources.get_source(tenant, src.id)
    assert after.next_sync_at is not None
    done = sources.sync_scheduled(tenant.tenant_id, src.id)
    assert (done.status, done.trigger) == ("succeeded", "schedule")


def test_validation_and_permissions(tenant, api):
    bad = _rest(api)
    bad["sync_frequency"] = "every-second"
    with pytest.raises(ValidationError) as err:
        sources.create_source(tenant, bad)
    assert err.value.field == "sync_frequency" and "hourly" in str(err.value)
    auth.add_user(tenant, f"v-{uuid.uuid4().hex[:6]}@example.com", "V", "viewer", PASSWORD)
    viewer = auth.principal_for(auth.list_users(tenant)[-1].username)
    if viewer.role != "viewer":
        viewer = next(auth.principal_for(u.username) for u in auth.list_users(tenant) if u.role == "viewer")
    with pytest.raises(PermissionDenied):
        sources.create_source(viewer, _rest(api))
    src = sources.create_source(tenant, _rest(api))
    with pytest.raises(PermissionDenied):
        sources.sync(viewer, src.id)
    assert [s.name for s in sources.list_sources(viewer)] == ["Orders API"]
