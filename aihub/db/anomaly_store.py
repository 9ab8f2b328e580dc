"""Queries of anomaly monitoring: monitors, runs, anomalies, their audit trail and learned rules.

Like :mod:`aihub.db.store`, every function takes a tenant-bound
:class:`~sqlalchemy.orm.Session` (row-level security limits it to one
tenant) and returns frozen dataclasses, never ORM rows. Permissions are
checked by the callers in :mod:`aihub.services.monitors` and :mod:`aihub.services.anomalies`.

Series naming
-------------
An anomaly belongs to one metric of one series of a monitor. The whole-data
series has ``dimension == slice == "total"``; a split series has, e.g.,
``dimension="Region"`` and ``slice="West"``. The ``anomalies.slice`` column
holds the key :func:`slice_key` (``""`` for the total, ``"Region=West"``
otherwise), which is part of the unique key ``(monitor_id, metric, slice,
ts)`` that makes inserting the anomalies of a run idempotent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, defer

from aihub.db.models import (
    SEVERITY_RANK_SQL,
    Anomaly,
    AnomalyCount,
    AnomalyCountDelta,
    AnomalyEvent,
    Dataset,
    FeedbackRule,
    Monitor,
    MonitorRun,
    User,
)
from aihub.errors import Conflict, NotFound

STATUSES: tuple[str, ...] = ("new", "acknowledged", "investigating", "resolved", "false_positive")
"""Triage statuses of an anomaly."""

OPEN_STATUSES: tuple[str, ...] = ("new", "acknowledged", "investigating")
"""Statuses that still need work."""

CLOSED_STATUSES: tuple[str, ...] = ("resolved", "false_positive")

SEVERITY_RANK: dict[str, int] = {"critical": 4, "high": 3, "medium": 2, "low": 1}

TOTAL = "total"


_FLOAT_TAG = "__float__:"


def to_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by a tagged string, so PostgreSQL accepts it as JSON.

    JSON has no NaN or infinity (``jsonb`` rejects Python's ``NaN`` token).
    Anomaly snapshots and root-cause details can hold NaN (no expected range
    while a detector warms up). Detector states no longer do: since state
    version 2 the core writes strict JSON (``null`` for "no value"), so for
    them this is only a safety net. :func:`from_json` restores tagged values
    exactly, which also keeps monitor states written before readable.
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else f"{_FLOAT_TAG}{obj!r}"
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


def from_json(obj: Any) -> Any:
    """Inverse of :func:`to_json`."""
    if isinstance(obj, str) and obj.startswith(_FLOAT_TAG):
        return float(obj[len(_FLOAT_TAG):])
    if isinstance(obj, dict):
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj


def slice_key(dimension: str, slice_: str) -> str:
    """The ``anomalies.slice`` value of a series: ``""`` for the total, else ``"<dimension>=<slice>"``."""
    if dimension == TOTAL and slice_ == TOTAL:
        return ""
    return f"{dimension}={slice_}"


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class MonitorRecord:
    """A monitor: its configuration and latest run, without the (large) detector state.

    Attributes
    ----------
    config : dict
        The canonical JSON of :class:`aihub.anomaly.MonitorConfig`.
    open_anomalies : int
        Anomalies in status new, acknowledged or investigating.
    schedule, alerting : dict
        JSON of :class:`aihub.anomaly.schedule.MonitorSchedule` and
        :class:`aihub.anomaly.schedule.AlertSettings` (empty: manual, nobody notified).
    next_run_at : datetime or None
        When the worker runs it next (None: not scheduled or paused).
    last_error, failures : str or None, int
        The newest failed run's reason, and failed runs since the last success.
    last_run_status : str or None
        ``running``, ``succeeded`` or ``failed`` of the newest run.
    scored_until : datetime or None
        The newest period the detector has scored (from its state).
    """

    id: int
    name: str
    dataset_id: int | None
    dataset_name: str | None
    config: dict[str, Any]
    enabled: bool
    created_at: datetime
    created_by: str | None
    last_run_at: datetime | None
    has_state: bool
    scored_until: datetime | None = None
    open_anomalies: int = 0
    anomalies: int = 0
    last_run_status: str | None = None
    schedule: dict[str, Any] = field(default_factory=dict)
    next_run_at: datetime | None = None
    alerting: dict[str, Any] = field(default_factory=dict)
    has_alert_secret: bool = False
    last_error: str | None = None
    failures: int = 0
    deleted_at: datetime | None = None

    @property
    def metrics(self) -> list[str]:
        """Monitored metric names."""
        return list(self.config.get("monitored_metrics") or [])

    @property
    def dimensions(self) -> list[str]:
        """Columns the monitor splits by (empty: total only)."""
        return list(self.config.get("dimensions") or [])


@dataclass(frozen=True)
class MonitorRunRecord:
    """One detection run: how many points it scored, anomalies it found, alarms rules suppressed, or its error."""

    id: int
    monitor_id: int
    status: str
    points_scored: int
    anomalies_found: int
    suppressed: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    trigger: str = "manual"

    @property
    def seconds(self) -> float | None:
        """Run time in seconds (None while running)."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class AnomalyRecord:
    """A detected anomaly and its triage state.

    Attributes
    ----------
    ts : datetime
        Start of the anomalous period (naive, in the data's own clock).
    dimension, slice : str
        The series (``"total"``/``"total"`` for all rows).
    actual, expected, lower, upper : float
        Observed value, expected value and expected range in metric units.
    score : float
        Anomaly score 0..1.
    severity : {"low", "medium", "high", "critical"}
    impact : float or None
        Signed money impact (negative: loss); None without a unit value.
    impact_note : str
        The assumption behind ``impact``.
    hint : str
        The root-cause sentence (e.g. "West (Region) explains 78% of the drop ...").
    kind, kind_evidence : str
        The anomaly's type from its shape (spike, drop, level_shift,
        trend_change, seasonality_break, missing_data; "" when unknown) and
        the evidence in words ("Level shifted from 1,240 to 860 per day on ...").
    root_cause, snapshot :
        Filled by :func:`get_anomaly` only (lists leave them empty).
    """

    id: int
    monitor_id: int
    monitor_name: str
    run_id: int | None
    metric: str
    dimension: str
    slice: str
    ts: datetime
    actual: float
    expected: float
    lower: float
    upper: float
    score: float
    severity: str
    impact: float | None
    impact_note: str
    status: str
    assignee_id: int | None
    assignee: str | None
    resolution_notes: str | None
    is_false_positive: bool
    false_positive_reason: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    hint: str = ""
    root_cause: dict[str, Any] = field(default_factory=dict)
    snapshot: list[dict[str, Any]] = field(default_factory=list)
    kind: str = ""
    kind_evidence: str = ""

    @property
    def kind_label(self) -> str:
        """The type in words ("level shift"), or "" when unknown."""
        return self.kind.replace("_", " ")

    @property
    def series_label(self) -> str:
        """``"all rows"`` or ``"Region = West"``."""
        return "all rows" if self.dimension == TOTAL and self.slice == TOTAL else f"{self.dimension} = {self.slice}"

    @property
    def is_open(self) -> bool:
        """Whether the anomaly still needs work."""
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class AnomalyEventRecord:
    """One audit-trail entry: who did what when, from which status to which, and the note."""

    id: int
    anomaly_id: int
    actor_id: int | None
    actor: str | None
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    details: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class RuleRecord:
    """A feedback rule stored for a monitor.

    Attributes
    ----------
    id : int
        Database id (what Undo takes).
    rule : dict
        :meth:`aihub.anomaly.FeedbackRule.to_dict` (``rule_id``, ``kind``, ...).
    """

    id: int
    monitor_id: int
    rule: dict[str, Any]
    description: str
    active: bool
    created_at: datetime
    undone_by: str | None
    undone_at: datetime | None

    @property
    def rule_id(self) -> str:
        """Stable id of what the rule matches (from the anomaly core)."""
        return str(self.rule.get("rule_id", ""))

    @property
    def kind(self) -> str:
        """``suppress_pattern`` or ``raise_threshold``."""
        return str(self.rule.get("kind", ""))


@dataclass(frozen=True)
class MonitorQuality:
    """Per-monitor triage figures for the dashboard.

    Attributes
    ----------
    reviewed : int
        Anomalies closed by an analyst (resolved or false positive).
    false_positive_rate : float or None
        ``false_positives / reviewed``; None before any review.
    """

    monitor_id: int
    name: str
    anomalies: int
    open: int
    reviewed: int
    false_positives: int

    @property
    def false_positive_rate(self) -> float | None:
        return self.false_positives / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class AnomalyStats:
    """Tenant-wide anomaly figures, aggregated in SQL.

    Attributes
    ----------
    open_by_severity : dict of str to int
        Open anomalies per severity (all four keys present).
    median_hours_to_resolve : float or None
        Median of ``resolved_at - created_at`` (detection to close, resolved or
        false positive) in hours; None before anything was closed.
    closed : int
        How many anomalies that median is over.
    monitors : list of MonitorQuality
    """

    open_by_severity: dict[str, int]
    median_hours_to_resolve: float | None
    closed: int
    monitors: list[MonitorQuality]


# ------------------------------------------------------------------ monitors
def _monitor_query(include_deleted: bool = False) -> sa.Select:
    # From the anomaly counts (migration 0028), not every anomaly row of the tenant: see anomaly_stats.
    src = sa.union_all(
        sa.select(AnomalyCount.monitor_id, AnomalyCount.status, AnomalyCount.n),
        sa.select(AnomalyCountDelta.monitor_id, AnomalyCountDelta.status, AnomalyCountDelta.n),
    ).subquery()
    counts = (
        sa.select(
            src.c.monitor_id,
            sa.func.sum(src.c.n).label("n"),
            sa.func.sum(src.c.n).filter(src.c.status.in_(OPEN_STATUSES)).label("open"),
        )
        .group_by(src.c.monitor_id)
        .subquery()
    )

    def newest(col: Any, *where: Any) -> Any:
        return (sa.select(col).where(MonitorRun.monitor_id == Monitor.id, *where)
                .order_by(MonitorRun.id.desc()).limit(1).correlate(Monitor).scalar_subquery())

    last_ok = newest(MonitorRun.id, MonitorRun.status == "succeeded")
    failures = (sa.select(sa.func.count()).where(MonitorRun.monitor_id == Monitor.id, MonitorRun.status == "failed",
                                                 MonitorRun.id > sa.func.coalesce(last_ok, 0))
                .correlate(Monitor).scalar_subquery())
    q = (
        sa.select(
            Monitor.id, Monitor.name, Monitor.dataset_id, Dataset.name, Monitor.config, Monitor.enabled,
            Monitor.created_at, User.username, Monitor.last_run_at, Monitor.state.is_not(None),
            Monitor.state["last_timestamp"].astext,
            sa.func.coalesce(counts.c.open, 0), sa.func.coalesce(counts.c.n, 0), newest(MonitorRun.status),
            Monitor.schedule, Monitor.next_run_at, Monitor.alerting, Monitor.alert_secret_encrypted.is_not(None),
            newest(MonitorRun.error, MonitorRun.status == "failed"), failures, Monitor.deleted_at,
        )
        .outerjoin(Dataset, Dataset.id == Monitor.dataset_id)
        .outerjoin(User, User.id == Monitor.created_by)
        .outerjoin(counts, counts.c.monitor_id == Monitor.id)
    )
    return q if include_deleted else q.where(Monitor.deleted_at.is_(None))


def _monitor_record(row: Any) -> MonitorRecord:
    (mid, name, dsid, dsname, config, enabled, created, who, last, has_state, until, n_open, n, run_status,
     schedule, next_run, alerting, has_secret, last_error, failures, deleted) = row
    until_ts = datetime.fromisoformat(until) if until else None
    return MonitorRecord(mid, name, dsid, dsname, config, enabled, created, who, last, bool(has_state), until_ts,
                         int(n_open), int(n), run_status, dict(schedule or {}), next_run, dict(alerting or {}),
                         bool(has_secret), last_error, int(failures or 0), deleted)


def create_monitor(
    s: Session, *, tenant_id: int, name: str, dataset_id: int, config: dict[str, Any], user_id: int | None
) -> MonitorRecord:
    """Insert a monitor. Raises Conflict if the tenant already has a monitor of that name."""
    if s.scalar(sa.select(Monitor.id).where(Monitor.name == name, Monitor.deleted_at.is_(None))):
        raise Conflict(f"A monitor named '{name}' already exists; choose another detection_name.",
                       field="detection_name")
    m = Monitor(tenant_id=tenant_id, name=name, dataset_id=dataset_id, config=config, created_by=user_id)
    s.add(m)
    s.flush()
    return get_monitor(s, m.id)


def list_monitors(s: Session) -> list[MonitorRecord]:
    """Monitors of the tenant, newest first, with open-anomaly counts and the last run's status."""
    q = _monitor_query().order_by(Monitor.created_at.desc(), Monitor.id.desc())
    return [_monitor_record(r) for r in s.execute(q).all()]


def get_monitor(s: Session, monitor_id: int, *, include_deleted: bool = False) -> MonitorRecord:
    """One monitor. Raises NotFound outside the tenant (and for a deleted one unless ``include_deleted``)."""
    row = s.execute(_monitor_query(include_deleted).where(Monitor.id == monitor_id)).first()
    if row is None:
        raise NotFound(f"No monitor {monitor_id} in your organization.")
    return _monitor_record(row)


def lock_monitor(s: Session, monitor_id: int) -> tuple[dict[str, Any] | None, datetime | None]:
    """Lock a monitor row for the rest of the transaction; return ``(state, last_run_at)``.

    Raises
    ------
    NotFound
        Outside the tenant.
    """
    row = s.execute(
        sa.select(Monitor.state, Monitor.last_run_at).where(Monitor.id == monitor_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"No monitor {monitor_id} in your organization.")
    return from_json(row[0]), row[1]


def monitor_state(s: Session, monitor_id: int) -> tuple[dict[str, Any] | None, datetime | None]:
    """``(state, last_run_at)`` of a monitor without locking it."""
    row = s.execute(sa.select(Monitor.state, Monitor.last_run_at).where(Monitor.id == monitor_id)).first()
    if row is None:
        raise NotFound(f"No monitor {monitor_id} in your organization.")
    return from_json(row[0]), row[1]


def save_monitor_state(s: Session, monitor_id: int, state: dict[str, Any]) -> None:
    """Store the detector state and stamp ``last_run_at`` with the transaction time.

    Detector states are strict JSON already; :func:`to_json` stays as a
    safety net for anything non-finite.
    """
    s.execute(sa.update(Monitor).where(Monitor.id == monitor_id)
              .values(state=to_json(state), last_run_at=sa.func.now()))


def update_monitor(s: Session, monitor_id: int, **values: Any) -> None:
    """Set columns of a (not deleted) monitor and stamp ``updated_at``. Raises NotFound outside the tenant."""
    n = s.execute(sa.update(Monitor).where(Monitor.id == monitor_id, Monitor.deleted_at.is_(None))
                  .values(**values, updated_at=sa.func.now())).rowcount
    if not n:
        raise NotFound(f"No monitor {monitor_id} in your organization.")


def rename_taken(s: Session, name: str, monitor_id: int) -> bool:
    """Whether another live monitor of the tenant has ``name``."""
    return bool(s.scalar(sa.select(Monitor.id).where(Monitor.name == name, Monitor.id != monitor_id,
                                                     Monitor.deleted_at.is_(None))))


def delete_monitor(s: Session, monitor_id: int) -> None:
    """Delete a monitor with its runs, anomalies, rules, incidents and deliveries (CASCADE)."""
    s.execute(sa.delete(Monitor).where(Monitor.id == monitor_id))


def archive_monitor(s: Session, monitor_id: int) -> None:
    """Delete a monitor but keep its anomalies' history: it stops running and leaves the monitor list.

    Its name gets a suffix so a new monitor may take it.
    """
    s.execute(sa.update(Monitor).where(Monitor.id == monitor_id).values(
        deleted_at=sa.func.now(), enabled=False, next_run_at=None,
        name=sa.func.left(Monitor.name, 150) + " (deleted " + sa.cast(Monitor.id, sa.Text) + ")"))


def due_monitors(s: Session, now: datetime) -> list[tuple[int, int, dict[str, Any]]]:
    """``(tenant_id, monitor_id, schedule)`` of enabled monitors due to run (owner session: spans tenants)."""
    rows = s.execute(sa.select(Monitor.tenant_id, Monitor.id, Monitor.schedule)
                     .where(Monitor.enabled, Monitor.deleted_at.is_(None), Monitor.next_run_at <= now)
                     .order_by(Monitor.next_run_at))
    return [(t, i, dict(sch or {})) for t, i, sch in rows.all()]


def claim_monitor(s: Session, monitor_id: int, now: datetime, next_at: datetime | None) -> bool:
    """Move a due monitor's ``next_run_at`` forward atomically; False if another scheduler took it."""
    n = s.execute(sa.update(Monitor).where(Monitor.id == monitor_id, Monitor.next_run_at <= now)
                  .values(next_run_at=next_at)).rowcount
    return bool(n)


def monitors_after_sync(s: Session, dataset_id: int) -> list[int]:
    """Enabled monitors of a dataset that run after each sync (``schedule.after_sync`` not false)."""
    return list(s.scalars(sa.select(Monitor.id).where(
        Monitor.dataset_id == dataset_id, Monitor.enabled, Monitor.deleted_at.is_(None),
        sa.func.coalesce(Monitor.schedule["after_sync"].astext, "true") != "false")).all())


def monitor_owner(s: Session, monitor_id: int) -> int | None:
    """The user who created the monitor (scheduled runs act for them)."""
    return s.scalar(sa.select(Monitor.created_by).where(Monitor.id == monitor_id))


def alert_secret(s: Session, monitor_id: int) -> str | None:
    """The encrypted webhook secret of a monitor's alerting."""
    return s.scalar(sa.select(Monitor.alert_secret_encrypted).where(Monitor.id == monitor_id))


# ------------------------------------------------------------------ runs
def _run_record(r: MonitorRun) -> MonitorRunRecord:
    return MonitorRunRecord(r.id, r.monitor_id, r.status, r.points_scored, r.anomalies_found, r.suppressed,
                            r.error, r.started_at, r.finished_at, r.trigger)


def start_run(s: Session, *, tenant_id: int, monitor_id: int, trigger: str = "manual") -> MonitorRunRecord:
    """Insert a run in status ``running``; ``trigger`` is manual, schedule, sync or workflow."""
    r = MonitorRun(tenant_id=tenant_id, monitor_id=monitor_id, status="running", trigger=trigger)
    s.add(r)
    s.flush()
    s.refresh(r)
    return _run_record(r)


def finish_run(
    s: Session, run_id: int, *, status: str, points_scored: int = 0, anomalies_found: int = 0,
    suppressed: int = 0, error: str | None = None,
) -> MonitorRunRecord:
    """Close a run with its outcome and ``finished_at = now()``."""
    r = s.get(MonitorRun, run_id)
    if r is None:
        raise NotFound(f"No monitor run {run_id} in your organization.")
    r.status, r.points_scored, r.anomalies_found, r.suppressed, r.error = (
        status, points_scored, anomalies_found, suppressed, error)
    r.finished_at = sa.func.now()
    s.flush()
    s.refresh(r)
    return _run_record(r)


def list_runs(s: Session, monitor_id: int, limit: int = 20, *, before_id: int | None = None) -> list[MonitorRunRecord]:
    """Runs of a monitor, newest first; ``before_id`` keeps runs with a smaller id (a keyset page)."""
    q = sa.select(MonitorRun).where(MonitorRun.monitor_id == monitor_id)
    if before_id is not None:
        q = q.where(MonitorRun.id < before_id)
    rows = s.scalars(q.order_by(MonitorRun.id.desc()).limit(limit)).all()
    return [_run_record(r) for r in rows]


def get_run(s: Session, monitor_id: int, run_id: int) -> MonitorRunRecord:
    """One run of a monitor. Raises NotFound outside the tenant or for another monitor's run."""
    r = s.scalar(sa.select(MonitorRun).where(MonitorRun.id == run_id, MonitorRun.monitor_id == monitor_id))
    if r is None:
        raise NotFound(f"No run {run_id} of monitor {monitor_id} in your organization.")
    return _run_record(r)


# ------------------------------------------------------------------ anomalies
def insert_anomalies(
    s: Session, *, tenant_id: int, monitor_id: int, run_id: int, rows: list[dict[str, Any]]
) -> list[int]:
    """Insert anomalies, skipping any already stored for the same (monitor, metric, slice, ts).

    Parameters
    ----------
    rows : list of dict
        Keys ``metric``, ``slice`` (see :func:`slice_key`), ``ts``, ``actual``,
        ``expected``, ``lower``, ``upper``, ``score``, ``severity``,
        ``impact``, ``impact_note``, ``root_cause``, ``snapshot``.

    Returns
    -------
    list of int
        Ids of the rows actually inserted; each also gets a ``detected``
        audit event.
    """
    if not rows:
        return []
    values = [{**r, "root_cause": to_json(r["root_cause"]), "snapshot": to_json(r["snapshot"]),
               "tenant_id": tenant_id, "monitor_id": monitor_id, "run_id": run_id, "status": "new"}
              for r in rows]
    stmt = (
        pg_insert(Anomaly)
        .values(values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "monitor_id", "metric", "slice", "ts"])
        .returning(Anomaly.id)
    )
    ids = [int(i) for i in s.execute(stmt).scalars().all()]
    if ids:
        s.execute(sa.insert(AnomalyEvent), [
            {"tenant_id": tenant_id, "anomaly_id": i, "actor_id": None, "action": "detected",
             "from_status": None, "to_status": "new", "note": None, "details": {"run_id": run_id}}
            for i in ids
        ])
    return sorted(ids)


def anomaly_keys(s: Session, ids: list[int]) -> list[tuple[int, dict[str, Any]]]:
    """``(id, {"metric", "slice", "ts", "severity"})`` of anomalies, for grouping them into incidents."""
    if not ids:
        return []
    rows = s.execute(sa.select(Anomaly.id, Anomaly.metric, Anomaly.slice, Anomaly.ts, Anomaly.severity)
                     .where(Anomaly.id.in_(ids)).order_by(Anomaly.ts, Anomaly.id)).all()
    return [(int(i), {"metric": m, "slice": sl, "ts": ts, "severity": sev}) for i, m, sl, ts, sev in rows]


def shapes_of(s: Session, monitor_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The newest anomalies of a monitor with their series and stored shape (to type them again)."""
    rows = s.execute(sa.select(Anomaly.id, Anomaly.metric, Anomaly.root_cause["series"], Anomaly.slice, Anomaly.ts,
                               Anomaly.root_cause["shape"])
                     .where(Anomaly.monitor_id == monitor_id).order_by(Anomaly.ts.desc()).limit(limit)).all()
    out = []
    for i, metric, series, key, ts, shape in rows:
        if isinstance(series, dict):
            dim, sl = str(series.get("dimension", TOTAL)), str(series.get("slice", TOTAL))
        else:
            dim, sl = (TOTAL, TOTAL) if not key else tuple(key.split("=", 1))
        out.append({"id": int(i), "metric": metric, "dimension": dim, "slice": sl, "ts": ts,
                    "shape": shape if isinstance(shape, dict) else None})
    return out


def set_shape(s: Session, anomaly_id: int, shape: dict[str, Any]) -> None:
    """Store an anomaly's new type and evidence (``root_cause.shape``)."""
    s.execute(sa.update(Anomaly).where(Anomaly.id == anomaly_id).values(
        root_cause=Anomaly.root_cause.op("||")(sa.cast(to_json({"shape": shape}), JSONB)),
        updated_at=sa.func.now()))


def _anomaly_select() -> sa.Select:
    return (
        sa.select(Anomaly, Monitor.name, User.username, Anomaly.root_cause["hint"].astext,
                  Anomaly.root_cause["series"], Anomaly.root_cause["shape"])
        .join(Monitor, Monitor.id == Anomaly.monitor_id)
        .outerjoin(User, User.id == Anomaly.assignee_id)
    )


def _anomaly_record(a: Anomaly, monitor_name: str, assignee: str | None, hint: str | None,
                    series: dict[str, Any] | None, shape: Any, full: bool) -> AnomalyRecord:
    # ``shape`` comes with the row: reading ``a.root_cause`` where it is deferred (the lists) loaded it row by
    # row, one query per anomaly (0.38 s of the worklist's 0.42 s for 500 rows).
    if isinstance(series, dict):
        dim, sl = str(series.get("dimension", TOTAL)), str(series.get("slice", TOTAL))
    else:
        dim, sl = (TOTAL, TOTAL) if not a.slice else tuple(a.slice.split("=", 1))
    shape = shape if isinstance(shape, dict) else {}
    return AnomalyRecord(
        a.id, a.monitor_id, monitor_name, a.run_id, a.metric, dim, sl, a.ts, a.actual, a.expected, a.lower,
        a.upper, a.score, a.severity, a.impact, a.impact_note, a.status, a.assignee_id, assignee,
        a.resolution_notes, a.is_false_positive, a.false_positive_reason, a.created_at, a.updated_at,
        a.resolved_at, hint or "", dict(a.root_cause or {}) if full else {}, list(a.snapshot or []) if full else [],
        str(shape.get("type") or ""), str(shape.get("evidence") or ""),
    )


def _severity_rank() -> Any:
    """:data:`SEVERITY_RANK` in SQL, as written in ``ix_anomalies_tenant_open_worklist`` (migration 0030) so the
    planner matches the index; literals, not bound values, so a generic plan matches it too."""
    return sa.literal_column(SEVERITY_RANK_SQL.replace("CASE severity", "CASE anomalies.severity"))


def list_anomalies(
    s: Session,
    *,
    severities: list[str] | None = None,
    statuses: list[str] | None = None,
    monitor_id: int | None = None,
    metric: str | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    assignee_id: int | None = None,
    ids: list[int] | None = None,
    limit: int = 500,
    before_id: int | None = None,
    newest_first: bool = False,
) -> list[AnomalyRecord]:
    """The worklist: anomalies matching the filters, by severity (critical first) then |impact|.

    With ``newest_first`` they come by id, newest first, and ``before_id``
    bounds a cursor page.

    Parameters
    ----------
    severities, statuses : list of str, optional
        Keep only these (None or empty: all).
    date_from, date_to : date, optional
        Inclusive bounds on the anomaly's period ``ts`` (a date covers the whole day).
    limit : int
        At most this many rows.

    Returns
    -------
    list of AnomalyRecord
        Without ``root_cause`` and ``snapshot`` (use :func:`get_anomaly`); ties
        broken by newest period first.
    """
    q = _anomaly_select().options(defer(Anomaly.snapshot), defer(Anomaly.root_cause))
    if severities:
        q = q.where(Anomaly.severity.in_(list(severities)))
    if statuses:
        q = q.where(Anomaly.status.in_(list(statuses)))
    if monitor_id is not None:
        q = q.where(Anomaly.monitor_id == monitor_id)
    if metric:
        q = q.where(Anomaly.metric == metric)
    if assignee_id is not None:
        q = q.where(Anomaly.assignee_id == assignee_id)
    if ids is not None:
        q = q.where(Anomaly.id.in_(list(ids)))
    if date_from is not None:
        q = q.where(Anomaly.ts >= _as_datetime(date_from))
    if date_to is not None:
        end = _as_datetime(date_to)
        if not isinstance(date_to, datetime):
            end = end + timedelta(days=1)
            q = q.where(Anomaly.ts < end)
        else:
            q = q.where(Anomaly.ts <= end)
    if before_id is not None:
        q = q.where(Anomaly.id < before_id)
    if newest_first:
        q = q.order_by(Anomaly.id.desc()).limit(limit)
    else:
        q = q.order_by(
            _severity_rank().desc(), sa.func.abs(Anomaly.impact).desc().nulls_last(), Anomaly.ts.desc(),
            Anomaly.id.desc(),
        ).limit(limit)
    return [_anomaly_record(*row, False) for row in s.execute(q).all()]


def _as_datetime(d: date | datetime) -> datetime:
    return d if isinstance(d, datetime) else datetime(d.year, d.month, d.day)


def get_anomaly(s: Session, anomaly_id: int, *, lock: bool = False) -> AnomalyRecord:
    """One anomaly with root cause and snapshot; ``lock`` holds its row until the transaction ends.

    Raises
    ------
    NotFound
        Outside the tenant.
    """
    q = _anomaly_select().where(Anomaly.id == anomaly_id)
    if lock:
        q = q.with_for_update(of=Anomaly)
    row = s.execute(q).first()
    if row is None:
        raise NotFound(f"No anomaly {anomaly_id} in your organization.")
    return _anomaly_record(*row, True)


def update_anomaly(s: Session, anomaly_id: int, values: dict[str, Any]) -> None:
    """Set anomaly columns and ``updated_at``; ``"now()"`` as a value means the transaction time."""
    vals = {k: (sa.func.now() if isinstance(v, str) and v == "now()" else v) for k, v in values.items()}
    s.execute(sa.update(Anomaly).where(Anomaly.id == anomaly_id).values(updated_at=sa.func.now(), **vals))


def add_event(
    s: Session, *, tenant_id: int, anomaly_id: int, actor_id: int | None, action: str,
    from_status: str | None = None, to_status: str | None = None, note: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit-trail entry of an anomaly (in the caller's transaction)."""
    s.add(AnomalyEvent(tenant_id=tenant_id, anomaly_id=anomaly_id, actor_id=actor_id, action=action,
                       from_status=from_status, to_status=to_status, note=note or None, details=details or {}))
    s.flush()


def list_events(s: Session, anomaly_id: int) -> list[AnomalyEventRecord]:
    """Audit trail of one anomaly, oldest first."""
    q = (
        sa.select(AnomalyEvent, User.username)
        .outerjoin(User, User.id == AnomalyEvent.actor_id)
        .where(AnomalyEvent.anomaly_id == anomaly_id)
        .order_by(AnomalyEvent.created_at, AnomalyEvent.id)
    )
    return [
        AnomalyEventRecord(e.id, e.anomaly_id, e.actor_id, who, e.action, e.from_status, e.to_status, e.note,
                           dict(e.details or {}), e.created_at)
        for e, who in s.execute(q).all()
    ]


def reviewed_anomalies(s: Session, monitor_id: int) -> list[AnomalyRecord]:
    """Anomalies of a monitor an analyst closed (false positive or resolved), oldest period first.

    They are the feedback a monitor learns from: false positives reject, resolved ones confirm.
    """
    q = (
        _anomaly_select().options(defer(Anomaly.snapshot))
        .where(Anomaly.monitor_id == monitor_id, Anomaly.status.in_(CLOSED_STATUSES))
        .order_by(Anomaly.ts, Anomaly.id)
    )
    return [_anomaly_record(*row, False) for row in s.execute(q).all()]


def active_user(s: Session, user_id: int) -> tuple[int, str] | None:
    """``(id, username)`` of an active user of the tenant, or None."""
    row = s.execute(sa.select(User.id, User.username).where(User.id == user_id, User.is_active)).first()
    return (int(row[0]), row[1]) if row else None


def list_active_users(s: Session) -> list[tuple[int, str, str]]:
    """``(id, username, name)`` of the tenant's active users, by username."""
    rows = s.execute(sa.select(User.id, User.username, User.name).where(User.is_active).order_by(User.username))
    return [(int(i), u, n) for i, u, n in rows.all()]


# ------------------------------------------------------------------ rules
def _rule_record(r: FeedbackRule, who: str | None) -> RuleRecord:
    return RuleRecord(r.id, r.monitor_id, dict(r.rule), r.description, r.active, r.created_at, who, r.undone_at)


def list_rules(s: Session, monitor_id: int, *, active_only: bool = False) -> list[RuleRecord]:
    """Rules of a monitor, oldest first."""
    q = (
        sa.select(FeedbackRule, User.username)
        .outerjoin(User, User.id == FeedbackRule.undone_by)
        .where(FeedbackRule.monitor_id == monitor_id)
        .order_by(FeedbackRule.created_at, FeedbackRule.id)
    )
    if active_only:
        q = q.where(FeedbackRule.active)
    return [_rule_record(r, who) for r, who in s.execute(q).all()]


def sync_rules(s: Session, *, tenant_id: int, monitor_id: int, learned: list[dict[str, Any]]) -> list[str]:
    """Make the stored rules of a monitor match a freshly learned set.

    A learned rule whose ``rule_id`` is stored updates that row (its rule JSON
    and description; the row's ``active`` flag wins, so an undone rule stays
    undone); a new one is inserted. Active stored rules that are no longer
    learned (their false positives were reopened) are deleted; undone ones are
    kept as history.

    Returns
    -------
    list of str
        Descriptions of the newly inserted rules.
    """
    rows = s.scalars(sa.select(FeedbackRule).where(FeedbackRule.monitor_id == monitor_id).with_for_update()).all()
    by_id = {str((r.rule or {}).get("rule_id")): r for r in rows}
    learned_ids = set()
    added = []
    for rule in learned:
        rid = str(rule["rule_id"])
        learned_ids.add(rid)
        row = by_id.get(rid)
        if row is None:
            s.add(FeedbackRule(tenant_id=tenant_id, monitor_id=monitor_id, rule=rule,
                               description=rule.get("description", ""), active=bool(rule.get("active", True))))
            added.append(rule.get("description", ""))
        else:
            row.rule = {**rule, "active": row.active}
            row.description = rule.get("description", row.description)
    for rid, row in by_id.items():
        if rid not in learned_ids and row.active:
            s.delete(row)
    s.flush()
    return added


def set_rule_active(s: Session, rule_pk: int, *, active: bool, user_id: int | None) -> RuleRecord:
    """Undo (``active=False``, stamping who and when) or re-apply a stored rule.

    Raises
    ------
    NotFound
        Outside the tenant.
    """
    r = s.scalars(sa.select(FeedbackRule).where(FeedbackRule.id == rule_pk).with_for_update()).first()
    if r is None:
        raise NotFound(f"No learned rule {rule_pk} in your organization.")
    r.active = active
    r.rule = {**(r.rule or {}), "active": active}
    r.undone_by = None if active else user_id
    r.undone_at = None if active else sa.func.now()
    s.flush()
    s.refresh(r)
    who = s.scalar(sa.select(User.username).where(User.id == r.undone_by)) if r.undone_by else None
    return _rule_record(r, who)


# ------------------------------------------------------------------ dashboard
#: Anomalies per (monitor, severity, status): the folded counts plus the deltas not yet folded (migration 0028).
_COUNTS = ("(SELECT monitor_id, severity, status, n FROM anomaly_counts "
           "UNION ALL SELECT monitor_id, severity, status, n FROM anomaly_count_deltas)")

_OPEN_BY_SEVERITY = f"""
    SELECT c.severity, sum(c.n)::bigint FROM {_COUNTS} c WHERE c.status = ANY(:open) GROUP BY c.severity"""

#: Median close time and how many anomalies it is over, in one statement (one snapshot). The histogram (folded
#: plus pending) names the bucket holding rank ``(total - 1) / 2`` and how many closed anomalies lie in lower
#: buckets; ``ix_anomalies_tenant_closed`` then reads that bucket in order from the rank (``OFFSET``), two values.
#: The interpolation is PostgreSQL's own for ``percentile_cont(0.5)``: the middle value for an odd count, else
#: ``lo + (hi - lo) * 0.5`` in double precision.
_MEDIAN = """
    WITH hist AS (
        SELECT h.bucket, sum(h.n)::bigint AS n
        FROM (SELECT bucket, n FROM anomaly_close_hist
              UNION ALL SELECT bucket, n FROM anomaly_count_deltas WHERE bucket >= 0) h
        GROUP BY h.bucket HAVING sum(h.n) <> 0),
    cum AS (SELECT bucket, n, (sum(n) OVER (ORDER BY bucket))::bigint - n AS below,
                   (sum(n) OVER ())::bigint AS total FROM hist),
    target AS MATERIALIZED (
        SELECT bucket, (total - 1) / 2 - below AS skip, total FROM cum
        WHERE (total - 1) / 2 >= below AND (total - 1) / 2 < below + n),
    mid AS (
        SELECT array_agg(v.close_seconds ORDER BY v.close_bucket, v.close_seconds) AS vals
        FROM (SELECT a.close_bucket, a.close_seconds FROM anomalies a
              WHERE a.resolved_at IS NOT NULL AND a.close_bucket >= (SELECT bucket FROM target)
              ORDER BY a.close_bucket, a.close_seconds
              OFFSET (SELECT skip FROM target) LIMIT 2) v)
    SELECT CASE WHEN t.total % 2 = 1 THEN m.vals[1] ELSE m.vals[1] + (m.vals[2] - m.vals[1]) * 0.5::float8 END,
           coalesce(t.total, 0)
    FROM mid m LEFT JOIN target t ON TRUE"""

_PER_MONITOR = f"""
    SELECT mo.id, mo.name, coalesce(sum(c.n), 0)::bigint,
           coalesce(sum(c.n) FILTER (WHERE c.status = ANY(:open)), 0)::bigint,
           coalesce(sum(c.n) FILTER (WHERE c.status = ANY(:closed)), 0)::bigint,
           coalesce(sum(c.n) FILTER (WHERE c.status = 'false_positive'), 0)::bigint
    FROM monitors mo LEFT JOIN {_COUNTS} c ON c.monitor_id = mo.id
    GROUP BY mo.id, mo.name ORDER BY mo.name, mo.id"""


def anomaly_stats(s: Session) -> AnomalyStats:
    """Open anomalies by severity, median time to close and per-monitor false-positive figures (3 queries).

    Read from the anomaly counts of migration 0028 (folded plus pending
    deltas, so exact at any moment), never from every anomaly row: each
    query reads a few hundred count rows per monitor at most, and the median
    one bucket of ``ix_anomalies_tenant_closed`` from the median's rank
    (see :data:`_MEDIAN`). The figures equal the aggregates over the raw rows
    (``percentile_cont(0.5)`` of ``resolved_at - created_at`` in seconds over
    rows with ``resolved_at`` set, counts per monitor and status);
    ``tests/db/test_anomaly_counts.py`` compares them.

    Returns
    -------
    AnomalyStats
        Monitors by name (archived ones included), each with its counts.
    """
    params = {"open": list(OPEN_STATUSES), "closed": list(CLOSED_STATUSES)}
    by_sev = dict(s.execute(sa.text(_OPEN_BY_SEVERITY), params).all())
    open_by_severity = {k: int(by_sev.get(k, 0)) for k in ("critical", "high", "medium", "low")}
    median, closed = s.execute(sa.text(_MEDIAN)).one()
    monitors = [MonitorQuality(int(i), n, int(a), int(o), int(r), int(f))
                for i, n, a, o, r, f in s.execute(sa.text(_PER_MONITOR), params).all()]
    hours = float(median) / 3600.0 if median is not None else None
    return AnomalyStats(open_by_severity, hours, int(closed or 0), monitors)
