"""Built-in alerting of monitors: incidents, one alert per incident, e-mail and webhook, digests and quiet hours.

After a run stores new anomalies, :func:`record_incidents` (inside the run's
transaction) groups each into an incident of its series (an anomaly within
``incident_gap`` periods of the series' last one joins that incident) and,
the first time an incident reaches the monitor's ``min_severity``, adds it to
the pending message of each channel. A message is due right away, at the next
digest time, or when the quiet hours end (:func:`aihub.anomaly.schedule.alert_due_at`);
:func:`dispatch_due` sends what is due, right after the run and every minute
from the worker (:func:`dispatch_all_due`). So an ongoing incident alerts
once, never once per period, and a digest carries every incident since the last one.

E-mail goes through :func:`aihub.notify.send_email` (the hub's SMTP
settings); webhooks through :func:`aihub.notify.send_webhook`, signed with
the monitor's secret and checked against the outbound allow-list
(:mod:`aihub.connectors.policy`) when saved and before every delivery.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from aihub import connectors, notify
from aihub.anomaly.config import FREQUENCIES
from aihub.anomaly.schedule import AlertSettings, alert_due_at, parse_alerting, severity_at_least
from aihub.anomaly.severity import SEVERITIES
from aihub.config import load_settings
from aihub.db import alert_store
from aihub.db import anomaly_store as astore
from aihub.db.session import owner_session, tenant_session
from aihub.errors import AihubError

log = logging.getLogger(__name__)

#: Length of one period of each detection frequency (a month counts as 31 days).
PERIODS: dict[str, timedelta] = {"minutely": timedelta(minutes=1), "5min": timedelta(minutes=5),
                                 "15min": timedelta(minutes=15), "hourly": timedelta(hours=1),
                                 "daily": timedelta(days=1), "weekly": timedelta(weeks=1),
                                 "monthly": timedelta(days=31)}
assert set(PERIODS) == set(FREQUENCIES)


def secret_box() -> connectors.SecretBox:
    """The Fernet box of webhook secrets (the data-source key: ``AIHUB_SECRET_KEY`` or ``secret.key``)."""
    return connectors.SecretBox.from_env(load_settings().data_dir / "secret.key", create=True)


def _worse(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def record_incidents(s: Any, *, tenant_id: int, monitor: astore.MonitorRecord, anomalies: list[tuple[int, dict]],
                     now: datetime | None = None) -> list[int]:
    """Group new anomalies into incidents and queue the alerts of incidents that reach ``min_severity``.

    Parameters
    ----------
    s : Session
        The run's tenant session (so incidents commit with the anomalies).
    monitor : MonitorRecord
    anomalies : list of (int, dict)
        Stored anomaly ids with their rows (``metric``, ``slice``, ``ts``, ``severity``).
    now : datetime, optional
        The time the alerts are raised (tests); default now.

    Returns
    -------
    list of int
        Incidents that alert for the first time.
    """
    settings = parse_alerting(monitor.alerting or None)
    gap = PERIODS.get(monitor.config.get("detection_frequency", "daily"), timedelta(days=1)) * settings.incident_gap
    alerting: list[int] = []
    for aid, row in sorted(anomalies, key=lambda x: (pd.Timestamp(x[1]["ts"]), x[0])):
        ts = pd.Timestamp(row["ts"]).to_pydatetime()
        sev = str(row["severity"])
        inc = alert_store.latest_incident(s, monitor.id, row["metric"], row["slice"], since=ts - gap)
        if inc is None:
            inc = alert_store.add_incident(s, tenant_id=tenant_id, monitor_id=monitor.id, metric=row["metric"],
                                           slice_=row["slice"], ts=ts, severity=sev, anomaly_id=aid)
            worst = sev
        else:
            worst = _worse(inc.severity, sev) if sev in SEVERITIES else inc.severity
            alert_store.extend_incident(s, inc.id, ts=ts, severity=worst, anomaly_ids=[*inc.anomaly_ids, aid])
        if inc.alerted_at is None and inc.id not in alerting and severity_at_least(worst, settings.min_severity):
            alerting.append(inc.id)
    if alerting:
        for iid in alerting:
            alert_store.mark_alerted(s, iid)
        if settings.active:
            _queue(s, tenant_id, monitor.id, settings, alerting, now or datetime.now(UTC))
    return alerting


def _queue(s: Any, tenant_id: int, monitor_id: int, settings: AlertSettings, incident_ids: list[int],
           now: datetime) -> None:
    for channel, target in settings.channels():
        pending = alert_store.pending_delivery(s, monitor_id, channel, target)
        if pending is not None:
            alert_store.add_to_delivery(s, pending.id, [*pending.incident_ids, *incident_ids])
            continue
        alert_store.add_delivery(s, tenant_id=tenant_id, monitor_id=monitor_id, channel=channel, target=target,
                                 incident_ids=incident_ids, due_at=alert_due_at(settings, now),
                                 delivery_key=f"monitor-{monitor_id}-incidents-{min(incident_ids)}-{channel}")


# ---------------------------------------------------------------------- sending
def _incident_lines(inc: alert_store.IncidentRecord, a: astore.AnomalyRecord) -> list[str]:
    periods = len(inc.anomaly_ids)
    span = f"{inc.first_ts:%Y-%m-%d}" + (f" to {inc.last_ts:%Y-%m-%d}, {periods} anomalous periods"
                                         if periods > 1 else "")
    lines = [f"{inc.severity.upper()} · {a.metric} · {a.series_label} · {span}",
             (f"  Actual {a.actual:,.2f}, expected {a.expected:,.2f} (range {a.lower:,.2f} to {a.upper:,.2f}); "
             f"anomaly score {a.score:.2f}.")]
    if a.kind:
        lines.append(f"  Type: {a.kind_label}. {a.kind_evidence}")
    if a.hint:
        lines.append(f"  Root cause: {a.hint}")
    text = a.root_cause.get("impact_text")
    if text:
        lines.append(f"  Money impact: {text}")
    return lines


def _payload_item(inc: alert_store.IncidentRecord, a: astore.AnomalyRecord) -> dict[str, Any]:
    return {"incident_id": inc.id, "severity": inc.severity, "metric": a.metric, "dimension": a.dimension,
            "slice": a.slice, "first_period": inc.first_ts.isoformat(), "last_period": inc.last_ts.isoformat(),
            "anomaly_ids": inc.anomaly_ids, "actual": a.actual, "expected": a.expected, "lower": a.lower,
            "upper": a.upper, "score": a.score, "type": a.kind or None, "type_evidence": a.kind_evidence or None,
            "root_cause": a.hint, "impact": a.impact}


def _message(tenant_id: int, d: alert_store.DeliveryRecord) -> tuple[str, str, dict[str, Any], str | None]:
    """Subject, text, webhook payload and encrypted secret of a delivery."""
    with tenant_session(tenant_id) as s:
        mon = astore.get_monitor(s, d.monitor_id, include_deleted=True)
        incidents = alert_store.get_incidents(s, d.incident_ids)
        first = {i.id: astore.get_anomaly(s, i.anomaly_ids[0]) for i in incidents}
        token = astore.alert_secret(s, d.monitor_id)
    worst = max((i.severity for i in incidents), key=SEVERITIES.index, default="low")
    if len(incidents) == 1:
        a = first[incidents[0].id]
        subject = f"[AI Analytics Hub] {worst} anomaly: {a.metric} ({a.series_label}) on {incidents[0].first_ts:%Y-%m-%d}"
    else:
        subject = f"[AI Analytics Hub] {len(incidents)} incidents on monitor {mon.name} (worst: {worst})"
    body = [f"Monitor: {mon.name}", f"Dataset: {mon.dataset_name or '(deleted)'}", ""]
    for inc in incidents:
        body += [*_incident_lines(inc, first[inc.id]), ""]
    body.append("One message per incident: later periods of the same incident are not sent again. "
                "Open the Anomalies page to triage.")
    payload = {"event": "monitor_alert", "monitor_id": mon.id, "monitor": mon.name,
               "incidents": [_payload_item(i, first[i.id]) for i in incidents]}
    return subject, "\n".join(body), payload, token


#: Waits before the 2nd, 3rd, ... attempt of a delivery that failed for a passing reason; after the last one it is
#: ``failed`` for good. 1 + 4 attempts over about 3 hours, in the spirit of RFC 5321 4.5.4.1's advice that a
#: sender keep retrying for hours, shortened because an alert that arrives a day late has lost its use.
RETRY_WAITS: tuple[timedelta, ...] = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30),
                                      timedelta(hours=2))


def retry_wait(attempts: int) -> timedelta | None:
    """Wait before the next attempt after ``attempts`` failed ones (1-based), or None when they are used up."""
    return RETRY_WAITS[attempts - 1] if 1 <= attempts <= len(RETRY_WAITS) else None


def _send(tenant_id: int, delivery_id: int, now: datetime) -> str | None:
    """One attempt at a due delivery: ``sent``, ``retrying`` (a passing failure, due again later), ``failed``
    (for good: a setting must change, or the attempts are used up), or None when another sender holds it."""
    with tenant_session(tenant_id) as s:
        d = alert_store.claim_delivery(s, delivery_id, now)
    if d is None:
        return None
    retryable = False
    try:
        subject, body, payload, token = _message(tenant_id, d)
        if d.channel == "email":
            notify.send_email(d.target, subject, body)
        else:
            if not token:
                raise notify.DeliveryError("The webhook has no signing secret; edit the monitor's alerting and "
                                           "enter one.")
            secret = secret_box().decrypt(token, source=f"monitor {d.monitor_id}").get("secret", "")
            notify.send_webhook(d.target, payload, secret=secret, event="monitor_alert", delivery_id=d.delivery_key,
                                name=f"alert of monitor {payload['monitor']}")
        status, error = "sent", None
    except AihubError as exc:
        status, error, retryable = "failed", str(exc), bool(getattr(exc, "retryable", False))
        log.warning("alert delivery %s of monitor %s failed (attempt %s): %s", d.id, d.monitor_id, d.attempts, exc)
    except Exception as exc:  # a delivery must never fail the run or the tick; the reason is kept
        log.exception("alert delivery %s of monitor %s failed", d.id, d.monitor_id)
        status, error = "failed", f"Unexpected error ({type(exc).__name__}): {exc}"
    wait = retry_wait(d.attempts) if retryable else None
    with tenant_session(tenant_id) as s:
        if wait is not None:
            due = now + wait
            alert_store.retry_delivery(s, d.id, due_at=due, error=f"Attempt {d.attempts} failed: {error} "
                                       f"Next attempt at {due:%Y-%m-%d %H:%M} UTC.")
            return "retrying"
        if retryable:
            error = f"Gave up after {d.attempts} attempts. Last: {error}"
        alert_store.finish_delivery(s, d.id, status=status, error=error)
    return status


def dispatch_due(tenant_id: int, *, monitor_id: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Send a tenant's due alert messages (of one monitor when given).

    Returns
    -------
    dict
        ``{"sent": n, "failed": m, "retrying": k}``: ``retrying`` counts attempts that failed for a passing
        reason and are due again later (:data:`RETRY_WAITS`).
    """
    now = now or datetime.now(UTC)
    with tenant_session(tenant_id) as s:
        ids = alert_store.due_deliveries(s, now, monitor_id)
    out = {"sent": 0, "failed": 0, "retrying": 0}
    for i in ids:
        status = _send(tenant_id, i, now)
        if status in out:
            out[status] += 1
    return out


def dispatch_all_due(now: datetime | None = None) -> dict[str, int]:
    """Every tenant's due alert messages (the worker's minute tick; owner connection to find them)."""
    now = now or datetime.now(UTC)
    with owner_session() as s:
        due = alert_store.owner_due_deliveries(s, now)
    out = {"alerts_sent": 0, "alerts_failed": 0, "alerts_retrying": 0}
    for tenant_id, delivery_id in due:
        status = _send(tenant_id, delivery_id, now)
        if status is not None:
            out[f"alerts_{status}"] += 1
    return out
