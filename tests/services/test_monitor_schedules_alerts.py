"""Monitors that run by themselves and alert (issue 13), through the services on real PostgreSQL.

Alerts reach a real SMTP server (aiosmtpd) and a real HTTP receiver on 127.0.0.1 (the fixtures of
tests/test_workflows.py). Planted data is described where it is made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import schedule
from aihub.db.session import owner_session
from aihub.errors import NotFound, PermissionDenied, ValidationError
from aihub.services import alerts, datasets
from aihub.services import anomalies as anomaly_svc
from aihub.services import monitors as monitor_svc
from tests.conftest import PASSWORD
from tests.test_monitoring import REGION_MONITOR, regional_csv
from tests.test_worker import start_worker  # noqa: F401  (fixture)
from tests.test_workflows import SECRET, receiver, smtp_server  # noqa: F401  (fixtures)

ONE_SERIES = {"detection_name": "daily revenue", "anomaly_type": "revenue", "monitored_metrics": ["daily_revenue"]}


def outage_csv(days: int) -> bytes:
    """Daily revenue (weekly pattern, noise sd 10 on 1,000), the first ``days`` days from 2023-01-02.

    Planted incidents: an outage from day 120 to day 124 (revenue -60% for five days in a row: one
    incident over several periods) and a one-day spike of +500 on day 170.
    """
    rng = np.random.default_rng(3)
    ts = pd.date_range("2023-01-02", periods=200, freq="D")
    v = 1000 - 200 * ts.dayofweek.isin([5, 6]) + rng.normal(0, 10, 200)
    v[120:125] *= 0.4
    v[170] += 500
    frame = pd.DataFrame({"date": ts.strftime("%Y-%m-%d"), "revenue": v.round(2)})
    return frame.iloc[:days].to_csv(index=False).encode()


def _switch_off(tenant_id: int) -> None:
    """Stop a tenant's monitors from being claimed by later tests' ticks (claims span tenants)."""
    import sqlalchemy as sa

    with owner_session() as s:
        s.execute(sa.text("UPDATE monitors SET next_run_at = NULL WHERE tenant_id = :t"), {"t": tenant_id})


@pytest.fixture
def org(tenant):
    yield tenant
    _switch_off(tenant.tenant_id)


def test_schedule_edit_pause_and_delete(org):
    saved = datasets.save_upload(org, "regions", "regions.csv", regional_csv())
    mon = monitor_svc.create_monitor(org, REGION_MONITOR, dataset_id=saved.version.dataset_id)
    assert mon.schedule == {} and mon.next_run_at is None and mon.enabled
    now = datetime(2026, 12, 5, 21, 10, tzinfo=UTC)
    mon = monitor_svc.set_schedule(org, mon.id, {"every": "daily", "at": "06:00", "timezone": "Europe/Berlin"},
                                   now=now)
    assert mon.next_run_at == datetime(2026, 12, 6, 5, 0, tzinfo=UTC)  # 06:00 in Berlin (UTC+1)
    assert schedule.describe_schedule(schedule.parse_schedule(mon.schedule)).startswith("Every day at 06:00")
    with pytest.raises(ValidationError) as err:
        monitor_svc.set_schedule(org, mon.id, {"every": "cron", "cron": "every morning"})
    assert err.value.field == "schedule.cron"
    # pause: no next run; resume: the next slot again
    assert monitor_svc.set_enabled(org, mon.id, False, now=now).next_run_at is None
    assert monitor_svc.set_enabled(org, mon.id, True, now=now).next_run_at == datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    # the worker claims the due monitor once per slot, and the run is recorded as scheduled
    later = datetime(2026, 12, 6, 5, 0, 30, tzinfo=UTC)
    claimed = monitor_svc.claim_due_monitors(later)
    assert (org.tenant_id, mon.id) in claimed
    assert (org.tenant_id, mon.id) not in monitor_svc.claim_due_monitors(later)
    assert monitor_svc.get_monitor(org, mon.id).next_run_at == datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    assert monitor_svc.run_scheduled(org.tenant_id, mon.id) == "succeeded"
    run = monitor_svc.list_runs(org, mon.id)[0]
    assert run.trigger == "schedule" and run.anomalies_found > 0
    # edit: a new name keeps the detector state; a new algorithm starts a new one, and rescoring stores no duplicates
    n = len(anomaly_svc.list_anomalies(org, monitor_id=mon.id, statuses=[]))
    renamed = monitor_svc.update_monitor(org, mon.id, {**REGION_MONITOR, "detection_name": "Regions renamed"})
    assert renamed.name == "Regions renamed" and renamed.has_state
    changed = monitor_svc.update_monitor(org, mon.id, {**REGION_MONITOR, "detection_name": "Regions renamed",
                                                       "algorithm": "robust_seasonal"})
    assert not changed.has_state and changed.config["algorithm"] == "robust_seasonal"
    again = monitor_svc.run_monitor(org, mon.id)
    assert again.status == "succeeded" and again.points_scored > 0
    assert len(anomaly_svc.list_anomalies(org, monitor_id=mon.id, statuses=[])) == n + again.anomalies_found
    # delete keeping the history: gone from the list, its anomalies stay on the worklist
    kept = anomaly_svc.list_anomalies(org, monitor_id=mon.id, statuses=[])
    monitor_svc.delete_monitor(org, mon.id, keep_history=True)
    assert mon.id not in [m.id for m in monitor_svc.list_monitors(org)]
    assert len(anomaly_svc.list_anomalies(org, monitor_id=mon.id, statuses=[])) == len(kept)
    with pytest.raises(NotFound):
        monitor_svc.run_monitor(org, mon.id)
    # the name is free again; deleting without history removes the anomalies too
    other = monitor_svc.create_monitor(org, {**REGION_MONITOR, "detection_name": "Regions renamed"},
                                       dataset_id=saved.version.dataset_id)
    monitor_svc.run_monitor(org, other.id)
    monitor_svc.delete_monitor(org, other.id, keep_history=False)
    assert anomaly_svc.list_anomalies(org, monitor_id=other.id, statuses=[]) == []


def test_a_failing_monitor_is_listed_with_its_reason_and_a_viewer_cannot_schedule(org):
    from aihub import auth

    saved = datasets.save_upload(org, "regions", "regions.csv", regional_csv())
    mon = monitor_svc.create_monitor(org, REGION_MONITOR, dataset_id=saved.version.dataset_id)
    # the dataset's newest version loses the Region column: runs fail and say why
    frame = pd.read_csv(pd.io.common.BytesIO(regional_csv())).drop(columns=["Region"])
    datasets.save_upload(org, "regions", "regions.csv", frame.to_csv(index=False).encode())
    for _ in range(2):
        assert monitor_svc.run_monitor(org, mon.id).status == "failed"
    listed = next(m for m in monitor_svc.list_monitors(org) if m.id == mon.id)
    assert listed.failures == 2 and "Region" in listed.last_error and listed.last_run_status == "failed"
    email = f"viewer-{org.tenant_id}@example.com"
    auth.add_user(org, email, "Vic", "viewer", PASSWORD)
    viewer = auth.principal_for(email)
    with pytest.raises(PermissionDenied):
        monitor_svc.set_schedule(viewer, mon.id, {"every": "hourly"})
    with pytest.raises(PermissionDenied):
        monitor_svc.delete_monitor(viewer, mon.id, keep_history=True)


def test_one_alert_per_incident_by_email_and_webhook(org, smtp_server, receiver):  # noqa: F811
    saved = datasets.save_upload(org, "shop", "shop.csv", outage_csv(121))
    mon = monitor_svc.create_monitor(org, ONE_SERIES, dataset_id=saved.version.dataset_id)
    monitor_svc.set_alerting(org, mon.id, {"email": ["oncall@example.com"], "webhook_url": receiver.url,
                                           "min_severity": "low"}, webhook_secret=SECRET)
    stored = monitor_svc.get_monitor(org, mon.id)
    assert stored.has_alert_secret and SECRET not in str(stored.alerting)
    first = monitor_svc.run_monitor(org, mon.id)  # history up to day 120: the outage begins
    (onset,) = [a for a in anomaly_svc.list_anomalies(org, monitor_id=mon.id) if a.ts == datetime(2023, 5, 2)]
    assert onset.kind == "drop" and "too little data after it" in onset.kind_evidence, onset.kind_evidence
    # the rest of the outage, then the spike, arrive in later versions
    for days in (150, 200):
        datasets.save_upload(org, "shop", "shop.csv", outage_csv(days))
        run = monitor_svc.run_monitor(org, mon.id)
        assert run.status == "succeeded", run.error
    anomalies = anomaly_svc.list_anomalies(org, monitor_id=mon.id, statuses=[])
    incidents = monitor_svc.list_incidents(org, mon.id)
    # with the later periods in, the onset is typed again from what followed it
    settled = anomaly_svc.get_anomaly(org, onset.id)
    print(f"outage onset typed {onset.kind!r} at first, then {settled.kind!r}: {settled.kind_evidence}")
    assert "too little data" not in settled.kind_evidence
    print(f"outage + spike: {len(anomalies)} anomalies in {len(incidents)} incidents; "
          f"{len(smtp_server)} e-mails, {len(receiver.deliveries)} webhook calls; first run found "
          f"{first.anomalies_found}")
    # the detector flags the outage's onset and, a week later, the recovery over several days: the recovery's
    # anomalies (within 3 periods of each other) are one incident
    assert max(len(i.anomaly_ids) for i in incidents) >= 2
    assert len(anomalies) > len(incidents)
    # one message per incident and channel, never one per period
    assert len(smtp_server) == len(incidents) == len(receiver.deliveries)
    assert all(r["event"] == "monitor_alert" for r in receiver.deliveries)
    mail = smtp_server[0]["data"]
    assert mail.count("Monitor: daily revenue") == 1 and "Root cause:" in mail and "Type:" in mail
    sent = monitor_svc.list_alerts(org, mon.id)
    assert {d.status for d in sent} == {"sent"} and len(sent) == 2 * len(incidents)


def test_digest_and_quiet_hours_hold_alerts_until_due(org, smtp_server):  # noqa: F811
    saved = datasets.save_upload(org, "shop", "shop.csv", outage_csv(200))
    mon = monitor_svc.create_monitor(org, ONE_SERIES, dataset_id=saved.version.dataset_id)
    monitor_svc.set_alerting(org, mon.id, {"email": "a@example.com, b@example.com", "min_severity": "low",
                                           "digest": "daily", "digest_at": "08:00",
                                           "quiet_hours": {"start": "07:00", "end": "09:00"}})
    monitor_svc.run_monitor(org, mon.id)
    incidents = monitor_svc.list_incidents(org, mon.id)
    (pending,) = monitor_svc.list_alerts(org, mon.id)
    assert pending.status == "pending" and len(pending.incident_ids) == len(incidents) >= 2
    assert smtp_server == []
    # the daily digest at 08:00 falls in the quiet hours, so it waits for 09:00 UTC
    assert pending.due_at.astimezone(UTC).hour == 9 and pending.due_at.minute == 0
    assert alerts.dispatch_due(org.tenant_id, now=pending.due_at - timedelta(minutes=1)) == {"sent": 0, "failed": 0}
    assert alerts.dispatch_due(org.tenant_id, now=pending.due_at) == {"sent": 1, "failed": 0}
    (mail,) = smtp_server
    assert sorted(mail["to"]) == ["a@example.com", "b@example.com"]
    assert f"{len(incidents)} incidents on monitor daily revenue" in mail["data"]


def test_alert_due_times():
    s = schedule.parse_alerting({"email": "x@example.com", "digest": "hourly"})
    assert schedule.alert_due_at(s, datetime(2026, 1, 1, 10, 20, tzinfo=UTC)) == datetime(2026, 1, 1, 11, tzinfo=UTC)
    q = schedule.parse_alerting({"email": "x@example.com", "timezone": "Europe/Berlin",
                                 "quiet_hours": {"start": "22:00", "end": "07:00"}})
    # 23:30 in Berlin is quiet: out at 07:00 Berlin = 06:00 UTC; 12:00 goes right away
    assert schedule.alert_due_at(q, datetime(2026, 1, 1, 22, 30, tzinfo=UTC)) == datetime(2026, 1, 2, 6, tzinfo=UTC)
    noon = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    assert schedule.alert_due_at(q, noon) == noon


def test_a_monitor_runs_after_each_sync_of_its_source(org, monkeypatch):
    import time

    from aihub.services import sources
    from tests.test_sources import _rest

    monkeypatch.setenv("AIHUB_JOB_BACKEND", "inline")
    server = _start_api(monkeypatch)
    try:
        src = sources.create_source(org, _rest(server))
        assert sources.sync(org, src.id).status == "succeeded"
        dataset_id = sources.get_source(org, src.id).dataset_id
        mon = monitor_svc.create_monitor(org, {**ONE_SERIES, "monitored_metrics": ["daily_revenue"]},
                                         dataset_id=dataset_id)
        server.rows = server.rows + [{"day": f"2024-01-{d:02d}", "region": "West", "sales": 100 + d}
                                     for d in range(6, 20)]
        assert sources.sync(org, src.id).status == "succeeded"
        deadline = time.time() + 60
        while time.time() < deadline and not monitor_svc.list_runs(org, mon.id):
            time.sleep(0.2)
        (run,) = monitor_svc.list_runs(org, mon.id)
        while time.time() < deadline and run.status == "running":
            time.sleep(0.2)
            (run,) = monitor_svc.list_runs(org, mon.id)
        assert (run.trigger, run.status) == ("sync", "succeeded"), run.error
        assert run.points_scored == 19
        # paused monitors do not run after syncs
        monitor_svc.set_enabled(org, mon.id, False)
        server.rows = server.rows + [{"day": "2024-01-20", "region": "East", "sales": 90}]
        assert sources.sync(org, src.id).status == "succeeded"
        time.sleep(1.0)
        assert len(monitor_svc.list_runs(org, mon.id)) == 1
    finally:
        server.shutdown()
        server.server_close()


def _start_api(monkeypatch):
    import threading
    from http.server import ThreadingHTTPServer

    from tests.test_sources import _Api

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.rows = [{"day": f"2024-01-0{i}", "region": "West" if i % 2 else "East", "sales": 100 + i}
                   for i in range(1, 6)]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    return server


def test_the_worker_process_runs_a_scheduled_monitor_and_mails_its_alert(
        server_database, start_worker, smtp_server):  # noqa: F811
    """A real ``aihub worker`` process: its minute tick claims the due monitor, runs it, and the alert reaches SMTP."""
    import time

    import sqlalchemy as sa

    from tests.conftest import new_tenant
    from tests.test_worker import _alive, _started, _wait

    tenant = new_tenant("monsched")
    try:
        saved = datasets.save_upload(tenant, "shop", "shop.csv", outage_csv(200))
        mon = monitor_svc.create_monitor(tenant, ONE_SERIES, dataset_id=saved.version.dataset_id)
        monitor_svc.set_alerting(tenant, mon.id, {"email": "oncall@example.com", "min_severity": "low"})
        monitor_svc.set_schedule(tenant, mon.id, {"every": "cron", "cron": "* * * * *"})
        with server_database.owner.begin() as conn:  # due now, rather than at the next minute
            conn.execute(sa.text("UPDATE monitors SET next_run_at = now() - interval '1 second' WHERE id = :i"),
                         {"i": mon.id})
        before = _alive(server_database)
        proc = start_worker("monitors")
        _wait(lambda: _started(server_database, proc, before), 60, "the worker to start")
        from aihub import queue
        from aihub.runtime import worker

        with queue.get_app().open():
            worker.tick.defer(timestamp=int(time.time()))
        runs = _wait(lambda: [r for r in monitor_svc.list_runs(tenant, mon.id) if r.status != "running"], 120,
                     "the scheduled run")
        assert (runs[0].trigger, runs[0].status) == ("schedule", "succeeded"), runs[0].error
        incidents = monitor_svc.list_incidents(tenant, mon.id)
        _wait(lambda: len(smtp_server) >= 1, 30, "the alert e-mail")
        assert len(smtp_server) == 1 and f"{len(incidents)} incidents" in smtp_server[0]["data"]
        assert monitor_svc.get_monitor(tenant, mon.id).next_run_at > datetime.now(UTC)
        print(f"worker pid {proc.pid}: scheduled run {runs[0].id} scored {runs[0].points_scored} points, "
              f"{runs[0].anomalies_found} anomalies in {len(incidents)} incidents, 1 e-mail")
    finally:
        _switch_off(tenant.tenant_id)
