"""Monitors that run by themselves and alert (issue 13), through the services on real PostgreSQL.

Alerts reach a real SMTP server (aiosmtpd) and a real HTTP receiver on 127.0.0.1 (the fixtures of
tests/services/test_workflows.py). Planted data is described where it is made.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from aihub.anomaly import schedule
from aihub.db.session import owner_session
from aihub.errors import NotFound, PermissionDenied, ValidationError
from aihub.services import alerts, datasets
from aihub.services import anomalies as anomaly_svc
from aihub.services import monitors as monitor_svc
from tests.conftest import PASSWORD
from tests.fixtures import (
    ONE_SERIES,
    REGION_MONITOR,
    SECRET,
    _alive,
    _rest,
    _start_api,
    _started,
    _wait,
    outage_csv,
    regional_csv,
)


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


def test_one_alert_per_incident_by_email_and_webhook(org, smtp_server, receiver):
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


def test_digest_and_quiet_hours_hold_alerts_until_due(org, smtp_server):
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
    nothing = {"sent": 0, "failed": 0, "retrying": 0}
    assert alerts.dispatch_due(org.tenant_id, now=pending.due_at - timedelta(minutes=1)) == nothing
    assert alerts.dispatch_due(org.tenant_id, now=pending.due_at) == {**nothing, "sent": 1}
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




def test_the_worker_process_runs_a_scheduled_monitor_and_mails_its_alert(
        server_database, start_worker, smtp_server):
    """A real ``aihub worker`` process: its minute tick claims the due monitor, runs it, and the alert reaches SMTP."""
    import time

    import sqlalchemy as sa

    from tests.conftest import new_tenant

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


def _dead_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


def test_a_delivery_that_fails_for_a_passing_reason_is_retried_then_given_up(org, smtp_server, monkeypatch):
    """SMTP down: the alert waits and is tried again (1, 5, 30, 120 min); back up: it goes out once, same message."""
    saved = datasets.save_upload(org, "shop", "shop.csv", outage_csv(200))
    mon = monitor_svc.create_monitor(org, ONE_SERIES, dataset_id=saved.version.dataset_id)
    monitor_svc.set_alerting(org, mon.id, {"email": "oncall@example.com", "min_severity": "low"})
    up = os.environ["AIHUB_SMTP_PORT"]
    monkeypatch.setenv("AIHUB_SMTP_PORT", str(_dead_port()))
    monitor_svc.run_monitor(org, mon.id)  # the run sends what is due at once: SMTP refuses the connection
    (d,) = monitor_svc.list_alerts(org, mon.id)
    assert d.status == "pending" and d.attempts == 1 and smtp_server == []
    assert d.error.startswith("Attempt 1 failed: Nothing accepts connections") and "Next attempt at" in d.error
    assert alerts.dispatch_due(org.tenant_id, now=d.due_at - timedelta(seconds=1))["retrying"] == 0  # not due yet
    monkeypatch.setenv("AIHUB_SMTP_PORT", up)
    assert alerts.dispatch_due(org.tenant_id, now=d.due_at) == {"sent": 1, "failed": 0, "retrying": 0}
    (d,) = monitor_svc.list_alerts(org, mon.id)
    assert d.status == "sent" and d.attempts == 2 and len(smtp_server) == 1

    # a second monitor whose SMTP never comes back: five attempts, then failed for good with the reason
    mon2 = monitor_svc.create_monitor(org, {**ONE_SERIES, "detection_name": "second"},
                                      dataset_id=saved.version.dataset_id)
    monitor_svc.set_alerting(org, mon2.id, {"email": "oncall@example.com", "min_severity": "low"})
    monkeypatch.setenv("AIHUB_SMTP_PORT", str(_dead_port()))
    monitor_svc.run_monitor(org, mon2.id)
    waits = []
    for _ in range(len(alerts.RETRY_WAITS)):
        (d,) = monitor_svc.list_alerts(org, mon2.id)
        assert d.status == "pending", d
        before = d.due_at
        alerts.dispatch_due(org.tenant_id, monitor_id=mon2.id, now=before)
        (after,) = monitor_svc.list_alerts(org, mon2.id)
        waits.append(after.due_at - before if after.status == "pending" else None)
    assert waits == [*alerts.RETRY_WAITS[1:], None]
    (d,) = monitor_svc.list_alerts(org, mon2.id)
    assert d.status == "failed" and d.attempts == 1 + len(alerts.RETRY_WAITS)
    assert d.error.startswith(f"Gave up after {d.attempts} attempts. Last: Nothing accepts connections")
    assert len(smtp_server) == 1  # nothing more was sent


def test_a_delivery_that_cannot_pass_without_a_change_fails_at_once(org, monkeypatch):
    """No SMTP server configured: retrying cannot help, so the alert fails at the first attempt and says why."""
    monkeypatch.delenv("AIHUB_SMTP_HOST", raising=False)
    saved = datasets.save_upload(org, "shop", "shop.csv", outage_csv(200))
    mon = monitor_svc.create_monitor(org, ONE_SERIES, dataset_id=saved.version.dataset_id)
    monitor_svc.set_alerting(org, mon.id, {"email": "oncall@example.com", "min_severity": "low"})
    monitor_svc.run_monitor(org, mon.id)
    (d,) = monitor_svc.list_alerts(org, mon.id)
    assert d.status == "failed" and d.attempts == 1 and "E-mail is not configured" in d.error


def test_a_delivery_left_sending_by_a_dead_sender_is_taken_again_after_its_lease(org, smtp_server):
    import sqlalchemy as sa

    from aihub.db.alert_store import SEND_LEASE

    saved = datasets.save_upload(org, "shop", "shop.csv", outage_csv(200))
    mon = monitor_svc.create_monitor(org, ONE_SERIES, dataset_id=saved.version.dataset_id)
    monitor_svc.set_alerting(org, mon.id, {"email": "oncall@example.com", "min_severity": "low",
                                           "digest": "daily", "digest_at": "08:00"})
    monitor_svc.run_monitor(org, mon.id)
    (d,) = monitor_svc.list_alerts(org, mon.id)
    claimed_at = d.due_at
    with owner_session() as s:  # a sender claimed it at its due time and died before recording the outcome
        s.execute(sa.text("UPDATE alert_deliveries SET status = 'sending', attempts = 1, due_at = :t WHERE id = :i"),
                  {"t": claimed_at + SEND_LEASE, "i": d.id})
    assert alerts.dispatch_due(org.tenant_id, now=claimed_at + SEND_LEASE - timedelta(seconds=1))["sent"] == 0
    assert smtp_server == []
    assert alerts.dispatch_due(org.tenant_id, now=claimed_at + SEND_LEASE)["sent"] == 1
    (d,) = monitor_svc.list_alerts(org, mon.id)
    assert d.status == "sent" and d.attempts == 2 and len(smtp_server) == 1
