"""Monitors and insights over HTTP: run now and generate as jobs on a real ``aihub worker`` (202, Location, poll),
Idempotency-Key on both, the insights' generation status, and the monitors' schedule, pause/resume and alerting
(webhook hosts through the outbound allow-list; the signing secret is never returned)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from aihub.db import engine as dbengine
from aihub.services import datasets
from aihub.services import monitors as monitor_svc
from tests.api.conftest import client, make_key
from tests.fixtures import ONE_SERIES, SECRET, _alive, _started, _wait, outage_csv


def _poll(c, location: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = c.get(location.removeprefix("/api/v1")).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.5)


@pytest.fixture
def monitor(org_a):
    saved = datasets.save_upload(org_a, "shop", "shop.csv", outage_csv(200))
    return monitor_svc.create_monitor(org_a, ONE_SERIES, dataset_id=saved.version.dataset_id)


def _worker_of(job_id: int) -> str | None:
    with dbengine.get_database().owner.connect() as conn:
        return conn.execute(sa.text("SELECT worker FROM training_jobs WHERE id = :i"), {"i": job_id}).scalar()


def test_run_now_and_generate_are_jobs_on_the_worker(api, org_a, monitor, server_database, start_worker,
                                                     monkeypatch):
    before = _alive(server_database)
    proc = start_worker("api-jobs")
    _wait(lambda: _started(server_database, proc, before), 60, "the worker to start")
    monkeypatch.setenv("AIHUB_JOB_BACKEND", "worker")  # the API (in this process) queues for the worker only
    with client(api, make_key(org_a)) as c:
        queued = c.post(f"/monitors/{monitor.id}/run", headers={"Idempotency-Key": "run-1"})
        assert queued.status_code == 202, queued.text
        job = queued.json()
        assert queued.headers["location"] == f"/api/v1/jobs/{job['id']}"
        assert (job["kind"], job["model_id"], job["status"]) == ("monitor_run", None, "queued")
        again = c.post(f"/monitors/{monitor.id}/run", headers={"Idempotency-Key": "run-1"})
        assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == job["id"]
        done = _poll(c, queued.headers["location"])
        assert done["status"] == "succeeded", done
        assert _worker_of(job["id"])  # run by the worker process, not by the API's threads
        run = c.get(done["links"]["run"].removeprefix("/api/v1")).json()
        assert run["id"] == done["result"]["monitor_run_id"] and run["status"] == "succeeded"
        assert run["anomalies_found"] == done["result"]["anomalies_found"] > 0
        assert len(monitor_svc.list_runs(org_a, monitor.id)) == 1  # the replayed request ran nothing

        status = c.get("/insights/status").json()
        assert status["latest_job"] is None and not status["running"]
        gen = c.post("/insights/generate", json={"limit": 5}, headers={"Idempotency-Key": "gen-1"})
        assert gen.status_code == 202, gen.text
        assert c.get("/insights/status").json()["latest_job"]["id"] == gen.json()["id"]
        other = c.post("/insights/generate", json={"limit": 6}, headers={"Idempotency-Key": "gen-1"})
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        finished = _poll(c, gen.headers["location"])
        assert finished["status"] == "succeeded", finished
        assert _worker_of(gen.json()["id"])
        ids = finished["result"]["insight_ids"]
        assert len(ids) <= 5 and all(c.get(f"/insights/{i}").status_code == 200 for i in ids)
        status = c.get("/insights/status").json()
        assert status["running"] is False and status["latest_job"]["status"] == "succeeded"
        assert sum(status["open_by_status"].values()) >= len(ids)


def test_a_failed_run_fails_its_job_with_the_reason(api, org_a, monitor, monkeypatch):
    monkeypatch.setenv("AIHUB_JOB_BACKEND", "inline")
    from aihub.db.session import tenant_session

    with tenant_session(org_a.tenant_id) as s:  # the monitor now watches a metric its dataset cannot give
        s.execute(sa.text("UPDATE monitors SET config = jsonb_set(config, '{date_col}', '\"nope\"') WHERE id = :i"),
                  {"i": monitor.id})
    with client(api, make_key(org_a)) as c:
        done = _poll(c, c.post(f"/monitors/{monitor.id}/run").headers["location"])
        assert done["status"] == "failed" and done["error"]
        run = c.get(done["links"]["run"].removeprefix("/api/v1")).json()
        assert run["status"] == "failed" and run["error"] == done["error"]


def test_schedule_pause_resume(api, org_a, monitor):
    with client(api, make_key(org_a)) as c:
        assert c.get(f"/monitors/{monitor.id}/schedule").json()["every"] == "manual"
        r = c.put(f"/monitors/{monitor.id}/schedule", json={"every": "daily", "at": "06:00",
                                                            "timezone": "Europe/Berlin"})
        assert r.status_code == 200, r.text
        sched = r.json()
        assert sched["every"] == "daily" and sched["next_run_at"] and sched["description"].startswith("Every day")
        assert c.get(f"/monitors/{monitor.id}").json()["next_run_at"] == sched["next_run_at"]
        bad = c.put(f"/monitors/{monitor.id}/schedule", json={"every": "cron", "cron": "every morning"})
        assert bad.status_code == 422 and bad.json()["field"] == "schedule.cron"
        zone = c.put(f"/monitors/{monitor.id}/schedule", json={"every": "hourly", "timezone": "Mars/Olympus"})
        assert zone.status_code == 422 and zone.json()["field"] == "schedule.timezone"
        paused = c.post(f"/monitors/{monitor.id}/pause").json()
        assert paused["enabled"] is False and paused["next_run_at"] is None and paused["every"] == "daily"
        resumed = c.post(f"/monitors/{monitor.id}/resume").json()
        assert resumed["enabled"] is True and resumed["next_run_at"]
        cron = c.put(f"/monitors/{monitor.id}/schedule", json={"every": "cron", "cron": "0 6 * * 1-5"}).json()
        assert cron["cron"] == "0 6 * * 1-5" and cron["next_run_at"]
    monitor_svc.set_enabled(org_a, monitor.id, False)  # no later test's worker should claim it


def test_alerting_webhook_through_the_allow_list_and_the_secret_is_never_returned(api, org_a, monitor,
                                                                                 monkeypatch):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    with client(api, make_key(org_a)) as c:
        empty = c.get(f"/monitors/{monitor.id}/alerting").json()
        assert empty["email"] == [] and empty["webhook_url"] is None and empty["has_webhook_secret"] is False
        outside = c.put(f"/monitors/{monitor.id}/alerting",
                        json={"webhook_url": "https://hooks.example.com/x", "webhook_secret": SECRET})
        assert outside.status_code == 422 and outside.json()["code"] == "host_not_allowed"
        assert outside.json()["field"] == "webhook_url" and "hooks.example.com" in outside.json()["detail"]
        no_secret = c.put(f"/monitors/{monitor.id}/alerting", json={"webhook_url": "http://127.0.0.1:9/hook"})
        assert no_secret.status_code == 422 and no_secret.json()["field"] == "alerting.webhook_secret"
        body = {"email": ["oncall@example.com"], "webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": SECRET,
                "min_severity": "medium", "digest": "daily", "digest_at": "07:30",
                "quiet_hours": {"start": "22:00", "end": "06:00"}, "timezone": "Europe/Paris"}
        saved = c.put(f"/monitors/{monitor.id}/alerting", json=body)
        assert saved.status_code == 200, saved.text
        assert SECRET not in saved.text and saved.json()["has_webhook_secret"] is True
        got = c.get(f"/monitors/{monitor.id}/alerting")
        assert SECRET not in got.text
        assert {k: got.json()[k] for k in ("email", "min_severity", "digest", "digest_at", "quiet_hours")} == {
            "email": ["oncall@example.com"], "min_severity": "medium", "digest": "daily", "digest_at": "07:30",
            "quiet_hours": {"start": "22:00", "end": "06:00"}}
        kept = c.put(f"/monitors/{monitor.id}/alerting", json={**body, "webhook_secret": None, "min_severity": "high"})
        assert kept.status_code == 200 and kept.json()["has_webhook_secret"] is True  # omitted: kept
        short = c.put(f"/monitors/{monitor.id}/alerting", json={**body, "webhook_secret": "short"})
        assert short.status_code == 422 and short.json()["field"] == "webhook_secret"
        bad_mail = c.put(f"/monitors/{monitor.id}/alerting", json={"email": ["not an address"]})
        assert bad_mail.status_code == 422 and bad_mail.json()["field"].startswith("alerting.email")
        off = c.put(f"/monitors/{monitor.id}/alerting", json={"email": []}).json()
        assert off["webhook_url"] is None and off["has_webhook_secret"] is False  # no webhook: the secret goes
