"""Anomaly monitoring: monitors over datasets, detection runs, triage and learning from feedback.

A **monitor** watches metrics of a dataset (daily revenue, order count,
average order value, ...), optionally split by a dimension such as Region.
Its configuration is the JSON of :class:`aihub.anomaly.MonitorConfig`, taken
from the guided form or pasted JSON (shape in the module docstring of
:mod:`aihub.anomaly.config`). Well-known metric names (``daily_revenue``,
``transaction_count``, ``average_order_value``, ...) need no definition: they
are defined from the dataset's columns (see :func:`complete_config`).

**Run now** (:func:`run_monitor`) reads the dataset's newest version, scores
the periods after those already scored (the detector state is kept in
``monitors.state``, so each run is streaming and causal: a point's score uses
only earlier data) and stores each new anomaly with its expected range,
severity, root-cause hints, money impact and a snapshot of the surrounding
points. Every run writes a ``monitor_runs`` row; a failed run records why and
changes nothing else.

**Triage** moves an anomaly through ``new → acknowledged → investigating →
resolved | false_positive`` (see :data:`TRANSITIONS`), assigns it, adds notes;
every change is an ``anomaly_events`` row. Marking false positives makes the
monitor learn :class:`aihub.anomaly.FeedbackRule` s (suppress a recurring
pattern or raise a series' threshold), which the next run applies; an analyst
can undo each rule.

Every public function takes the calling :class:`~aihub.auth.Principal` first
and checks its permission: ``read`` to look, ``create`` to add a monitor,
``detect`` to run one, ``feedback`` to triage and to undo rules.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from aihub import anomaly as core
from aihub import events
from aihub.anomaly.config import MAX_SPLIT_VALUES, NUMERIC_AGGREGATIONS
from aihub.auth import Principal, require
from aihub.db import anomaly_store as astore
from aihub.db import store
from aihub.db.anomaly_store import (
    AnomalyEventRecord,
    AnomalyRecord,
    MonitorRecord,
    MonitorRunRecord,
    RuleRecord,
)
from aihub.db.session import tenant_session
from aihub.errors import AihubError, Conflict, NotFound, ValidationError
from aihub.services import usage

log = logging.getLogger(__name__)

STATUSES = astore.STATUSES
OPEN_STATUSES = astore.OPEN_STATUSES
STATUS_LABELS = {"new": "new", "acknowledged": "acknowledged", "investigating": "investigating",
                 "resolved": "resolved", "false_positive": "false positive"}

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged", "investigating", "resolved", "false_positive"),
    "acknowledged": ("investigating", "resolved", "false_positive"),
    "investigating": ("acknowledged", "resolved", "false_positive"),
    "resolved": ("investigating",),
    "false_positive": ("investigating",),
}
"""Allowed status changes. Closed anomalies can only be reopened (to investigating)."""

BULK_ACTIONS: tuple[str, ...] = ("acknowledge", "assign", "resolve", "false_positive")


MAX_NOTE = 5000
MAX_REASON = 500
SNAPSHOT_BEFORE = 30
SNAPSHOT_AFTER = 7
TOP_SLICES = 3
STATE_FORMAT = "aihub.monitor_state"
STATE_VERSION = 1

_NUMERIC = ("number", "integer")
_FREQ_PREFIX = r"(?:(?:hourly|daily|weekly|monthly)_)?"
_REVENUE_NAMES = re.compile(rf"^{_FREQ_PREFIX}(?:revenue|sales|total_sales|gmv)$")
_COUNT_NAMES = re.compile(rf"^{_FREQ_PREFIX}(?:transaction_count|order_count|orders|transactions|transaction_volume)$")
_AOV_NAMES = re.compile(r"^(?:average_order_value|avg_order_value|aov|average_transaction_value)$")
_QTY_NAMES = re.compile(rf"^{_FREQ_PREFIX}(?:quantity|units|units_sold|items_sold)$")
_CUSTOMER_NAMES = re.compile(rf"^{_FREQ_PREFIX}(?:customer_count|unique_customers|active_customers|customers)$")

_REVENUE_COLUMNS = ("sales", "revenue", "amount", "total", "total_amount", "net_sales", "gmv", "value")
_ORDER_COLUMNS = ("order id", "order_id", "orderid", "transaction id", "transaction_id", "invoice", "invoiceno",
                  "invoice id", "invoice_id", "order number", "order_number")
_QTY_COLUMNS = ("quantity", "qty", "units")
_CUSTOMER_COLUMNS = ("customer id", "customer_id", "customerid", "customer")


# ====================================================================== configuration
def _find_column(columns: Mapping[str, str], names: Iterable[str], kinds: Iterable[str] | None) -> str | None:
    lowered = {c.lower().strip(): c for c in columns}
    kinds = tuple(kinds) if kinds is not None else None
    for n in names:
        c = lowered.get(n)
        if c is not None and (kinds is None or columns[c] in kinds):
            return c
    return None


def _revenue_column(columns: Mapping[str, str]) -> str | None:
    col = _find_column(columns, _REVENUE_COLUMNS, _NUMERIC)
    if col is None:
        numeric = [c for c, k in columns.items() if k in _NUMERIC]
        col = numeric[0] if len(numeric) == 1 else None
    return col


def _default_metric(name: str, columns: Mapping[str, str], index: int, defined: Mapping[str, Mapping[str, Any]]
                    ) -> list[dict[str, Any]]:
    """Definitions for a well-known metric name (the metric itself last), or raise naming ``monitored_metrics[i]``.

    ``defined`` holds the metrics defined so far by name; a ratio reuses a
    defined revenue and count metric.
    """
    fld = f"monitored_metrics[{index}]"

    def need(col: str | None, what: str) -> str:
        if col is None:
            raise ValidationError(
                f"Monitored metric '{name}' needs a {what} column and none was recognised among "
                f"{list(columns)}; define it in 'metrics', e.g. "
                f"{{'name': '{name}', 'agg': 'sum', 'column': '<column>'}}.",
                field=fld, details={"value": name},
            )
        return col

    def count_def(metric: str) -> dict[str, Any]:
        col = _find_column(columns, _ORDER_COLUMNS, None)
        return {"name": metric, "agg": "nunique", "column": col} if col else {"name": metric, "agg": "count"}

    if _REVENUE_NAMES.match(name):
        return [{"name": name, "agg": "sum", "column": need(_revenue_column(columns), "revenue (numeric)"),
                 "unit_value": 1.0}]
    if _COUNT_NAMES.match(name):
        return [count_def(name)]
    if _QTY_NAMES.match(name):
        return [{"name": name, "agg": "sum", "column": need(_find_column(columns, _QTY_COLUMNS, _NUMERIC),
                                                             "quantity (numeric)")}]
    if _CUSTOMER_NAMES.match(name):
        return [{"name": name, "agg": "nunique",
                 "column": need(_find_column(columns, _CUSTOMER_COLUMNS, None), "customer id")}]
    if _AOV_NAMES.match(name):
        out = []
        num = next((n for n, d in defined.items() if _REVENUE_NAMES.match(n) and d.get("agg") == "sum"), None)
        if num is None:
            num = "revenue" if "revenue" not in defined else "__revenue"
            out.append({"name": num, "agg": "sum", "column": need(_revenue_column(columns), "revenue (numeric)"),
                        "unit_value": 1.0})
        den = next((n for n, d in defined.items() if _COUNT_NAMES.match(n) and d.get("agg") in ("nunique", "count")),
                   None)
        if den is None:
            den = "orders" if "orders" not in defined else "__orders"
            out.append(count_def(den))
        return [*out, {"name": name, "agg": "ratio", "numerator": num, "denominator": den}]
    raise ValidationError(
        f"Monitored metric '{name}' is not defined in 'metrics' and is not a known metric name "
        "(daily_revenue, transaction_count, average_order_value, quantity, customer_count, ...). "
        f"Define it, e.g. {{'name': '{name}', 'agg': 'sum', 'column': '<column>'}}.",
        field=fld, details={"value": name},
    )


def complete_config(
    raw: Mapping[str, Any], columns: Mapping[str, str], frame: pd.DataFrame | None = None
) -> core.MonitorConfig:
    """Validate a monitor configuration against a dataset, filling what the dataset implies.

    Parameters
    ----------
    raw : dict
        The monitor JSON (form or pasted). ``timestamp_column`` defaults to
        the dataset's first date column. Monitored metrics without a
        definition in ``metrics`` are defined from their name when it is a
        known one: revenue names (``daily_revenue``, ``revenue``, ``sales``)
        sum the revenue column (Sales, Revenue, Amount, ...) at 1 currency
        unit per unit; count names (``transaction_count``, ``order_count``)
        count distinct order ids (rows if there is no id column);
        ``average_order_value`` is their ratio; ``quantity`` and
        ``customer_count`` sum the quantity and count distinct customers.
        Metrics without a unit value get one from their name: a summed
        revenue metric is worth 1 currency unit per unit, an order count the
        dataset's average order value per order (``unit_values`` overrides);
        ``"unit_value": null`` given explicitly means no money impact. Any
        aggregation of :data:`aihub.anomaly.config.AGGREGATIONS` works
        (median, min, max and count distinct included); numeric ones need a
        numeric column.
    columns : dict of str to str
        The dataset's columns and kinds (``date``, ``number``, ``category``, ...).
    frame : pandas.DataFrame, optional
        The dataset's rows, to check split dimensions and compute the average
        order value. A dimension with more values than ``split_top_n`` (50 by
        default, at most :data:`aihub.anomaly.config.MAX_SPLIT_VALUES`) is
        watched as its top values by volume plus "Other".

    Returns
    -------
    MonitorConfig

    Raises
    ------
    ValidationError
        ``field`` names the configuration key at fault (``"detection_name"``,
        ``"monitored_metrics[1]"``, ``"metrics[0].column"``, ``"dimensions[0]"``,
        ``"threshold_config.severity_thresholds.high"``, ...).
    """
    if not isinstance(raw, Mapping):
        raise ValidationError("The monitor configuration must be a JSON object.", field="config")
    data = {k: v for k, v in raw.items() if k not in ("dataset_id", "dataset")}
    if not data.get("timestamp_column"):
        dates = [c for c, k in columns.items() if k == "date"]
        if not dates:
            raise ValidationError(
                f"This dataset has no date column to monitor over; its columns are {list(columns)}. "
                "Set the column's type to date on the Data sources page, or give timestamp_column.",
                field="timestamp_column",
            )
        data["timestamp_column"] = dates[0]
    metrics = data.get("metrics")
    if metrics is None:
        metrics = []
    if not isinstance(metrics, list):
        raise ValidationError("metrics must be a list of metric definitions.", field="metrics")
    metrics = list(metrics)
    monitored = data.get("monitored_metrics")
    raw_units = data.get("unit_values")
    unit_values = raw_units if isinstance(raw_units, Mapping) else {}
    if isinstance(monitored, list) and all(isinstance(m, str) for m in monitored):
        defined = {m.get("name"): m for m in metrics if isinstance(m, Mapping)}
        # monitored ratios last, so that they can reuse the revenue and count metrics monitored beside them
        order = sorted(range(len(monitored)), key=lambda i: bool(_AOV_NAMES.match(monitored[i])))
        for i in order:
            name = monitored[i]
            if name in defined:
                continue
            for d in _default_metric(name, columns, i, defined):
                metrics.append(d)
                defined[d["name"]] = d
        data["metrics"] = metrics
    data["metrics"] = [dict(m) if isinstance(m, Mapping) else m for m in data.get("metrics") or []]
    for m in data["metrics"]:  # money per unit that a metric's name implies (an explicit null means none)
        if not isinstance(m, dict) or "unit_value" in m or m.get("name") in unit_values:
            continue
        name = str(m.get("name", ""))
        if _REVENUE_NAMES.match(name) and m.get("agg") == "sum":
            m["unit_value"] = 1.0
        elif _COUNT_NAMES.match(name) and m.get("agg") in ("nunique", "count"):
            aov = _average_order_value(frame, columns, m.get("column"))
            if aov is not None:
                m["unit_value"] = aov
    cfg = core.MonitorConfig.from_dict(data)
    cfg.check_columns(columns)
    ts_kind = columns[cfg.timestamp_column]
    if ts_kind != "date" and not cfg.timestamp_format:
        raise ValidationError(
            f"Column '{cfg.timestamp_column}' is {ts_kind}, not a date; choose a date column, correct its type "
            "on the Data sources page, or give timestamp_format (e.g. '%d/%m/%Y').",
            field="timestamp_column",
        )
    for i, m in enumerate(cfg.metrics):
        if m.agg in NUMERIC_AGGREGATIONS and columns.get(m.column) not in _NUMERIC:
            raise ValidationError(
                f"Metric '{m.name}' takes the {m.agg} of '{m.column}', which is {columns.get(m.column)}, not a "
                "number; choose a numeric column or correct its type on the Data sources page.",
                field=f"metrics[{i}].column",
            )
    if frame is not None:
        for i, d in enumerate(cfg.dimensions):
            if d not in frame.columns:
                continue
            n = int(frame[d].nunique(dropna=True))
            if n == 0:
                raise ValidationError(f"Column '{d}' is empty in every row; choose a column with values to split by.",
                                      field=f"dimensions[{i}]")
            if columns.get(d) == "id" or (n > cfg.split_top_n and n > len(frame) // 2):
                raise ValidationError(
                    f"Column '{d}' has {n:,} different values in {len(frame):,} rows: it identifies rows rather "
                    "than grouping them. Split by a column such as Region or Category; a split watches its "
                    f"largest {cfg.split_top_n} values (split_top_n, at most {MAX_SPLIT_VALUES}) plus Other.",
                    field=f"dimensions[{i}]", details={"values": n, "rows": len(frame)},
                )
    return cfg


def _average_order_value(frame: pd.DataFrame | None, columns: Mapping[str, str], order_col: str | None
                         ) -> float | None:
    rev = _revenue_column(columns)
    if frame is None or rev is None or rev not in frame.columns or frame.empty:
        return None
    total = float(pd.to_numeric(frame[rev], errors="coerce").sum())
    n = int(frame[order_col].nunique()) if order_col and order_col in frame.columns else len(frame)
    return round(total / n, 2) if n and math.isfinite(total) else None


def _dataset_columns(version: store.DatasetVersionRecord) -> dict[str, str]:
    return {c["name"]: c["kind"] for c in version.column_schema}


def _resolve_dataset(s: Any, raw: Mapping[str, Any], dataset_id: int | None) -> int:
    if dataset_id is None:
        dataset_id = raw.get("dataset_id") if isinstance(raw, Mapping) else None
    if dataset_id is None and isinstance(raw, Mapping) and isinstance(raw.get("dataset"), str):
        by_name = {d.name: d.id for d in store.list_datasets(s)}
        if raw["dataset"] not in by_name:
            raise ValidationError(f"No dataset named '{raw['dataset']}' in your organization; choose one of "
                                  f"{sorted(by_name)}.", field="dataset")
        dataset_id = by_name[raw["dataset"]]
    if not isinstance(dataset_id, int) or isinstance(dataset_id, bool):
        raise ValidationError("Choose the dataset the monitor watches.", field="dataset_id")
    return dataset_id


def validate_monitor(principal: Principal, raw: Mapping[str, Any], *, dataset_id: int | None = None
                     ) -> core.MonitorConfig:
    """Check a monitor configuration against the dataset's newest version without saving it.

    Returns
    -------
    MonitorConfig
        The completed configuration (``to_dict()`` is what would be stored).

    Raises
    ------
    ValidationError
        Naming the field at fault.
    NotFound
        If the dataset is not in the caller's organization or has no version.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        ds = _resolve_dataset(s, raw, dataset_id)
        version = store.get_dataset_version(s, store.latest_dataset_version_id(s, ds))
        frame = store.load_dataset_frame(s, version.id)
    return complete_config(raw, _dataset_columns(version), frame)


def parse_config_json(text: str) -> dict[str, Any]:
    """Parse pasted monitor JSON.

    Raises
    ------
    ValidationError
        With the line and column of a syntax error, or if it is not an object.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"The JSON is not valid at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                              field="config") from None
    if not isinstance(data, dict):
        raise ValidationError("The monitor JSON must be an object {...}.", field="config")
    return data


def create_monitor(principal: Principal, raw: Mapping[str, Any], *, dataset_id: int | None = None) -> MonitorRecord:
    """Create a monitor on a dataset from form or JSON values.

    Parameters
    ----------
    raw : dict
        Monitor JSON; ``detection_name`` becomes the monitor's name. May name
        the dataset as ``"dataset_id"`` or ``"dataset"`` (its name).
    dataset_id : int, optional
        The dataset (overrides the JSON).

    Returns
    -------
    MonitorRecord
        Stored with the completed, canonical configuration.

    Raises
    ------
    ValidationError
        Naming the field at fault (see :func:`complete_config`).
    Conflict
        If the organization has a monitor of that name.
    NotFound
        If the dataset is not in the caller's organization.
    PermissionDenied
        Without ``create``.
    """
    require(principal, "create")
    with tenant_session(principal.tenant_id) as s:
        ds = _resolve_dataset(s, raw, dataset_id)
        version = store.get_dataset_version(s, store.latest_dataset_version_id(s, ds))
        frame = store.load_dataset_frame(s, version.id)
        cfg = complete_config(raw, _dataset_columns(version), frame)
        return astore.create_monitor(s, tenant_id=principal.tenant_id, name=cfg.detection_name, dataset_id=ds,
                                     config=cfg.to_dict(), user_id=principal.user_id)


def list_monitors(principal: Principal) -> list[MonitorRecord]:
    """Monitors of the caller's organization, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.list_monitors(s)


def get_monitor(principal: Principal, monitor_id: int) -> MonitorRecord:
    """One monitor. Needs ``read``; NotFound outside the organization."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.get_monitor(s, monitor_id)


def list_runs(principal: Principal, monitor_id: int, limit: int = 20) -> list[MonitorRunRecord]:
    """Runs of a monitor, newest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        return astore.list_runs(s, monitor_id, limit)


# ====================================================================== detection
@dataclass(frozen=True)
class Detection:
    """What one detection pass found (pure; nothing stored yet).

    Attributes
    ----------
    anomalies : list of dict
        Rows for :func:`aihub.db.anomaly_store.insert_anomalies`.
    state : dict
        The monitor state to store (JSON).
    points_scored : int
        Scored (period, series, metric) points.
    suppressed : int
        Would-be alarms that feedback rules suppressed.
    replayed : bool
        Whether the detector memory was rebuilt under changed rules.
    """

    anomalies: list[dict[str, Any]]
    state: dict[str, Any]
    points_scored: int
    suppressed: int
    replayed: bool = False
    scored: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def _rules_fingerprint(rules: list[dict[str, Any]]) -> str:
    keys = ("rule_id", "kind", "metric", "dimension", "slice", "recurrence", "direction", "threshold")
    payload = sorted(json.dumps({k: r.get(k) for k in keys}, sort_keys=True, default=str) for r in rules)
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _iso(ts: Any) -> str:
    return pd.Timestamp(ts).isoformat()


def detect_anomalies(
    config: core.MonitorConfig,
    orders: pd.DataFrame,
    state: Mapping[str, Any] | None = None,
    rules: list[dict[str, Any]] | None = None,
) -> Detection:
    """Score the periods not scored yet and describe each new anomaly (pure; no database).

    Parameters
    ----------
    config : MonitorConfig
    orders : pandas.DataFrame
        The dataset's rows (newest version).
    state : dict, optional
        The monitor state a previous call returned; None scores from the start.
    rules : list of dict, optional
        Active feedback rules (``FeedbackRule.to_dict()``). When they differ
        from the rules the state was built under and ``orders`` still holds
        the scored history, the detector memory is rebuilt by replaying that
        history under the new rules (nothing from the replay is reported), so
        the detector also stops having learned from the suppressed pattern.

    Returns
    -------
    Detection

    Raises
    ------
    ValidationError
        Missing columns, unparseable dates, non-numeric values, no rows, or a
        state of another format.
    """
    rules = list(rules or [])
    frame = core.build_metric_frame(orders, config)
    if frame.empty:
        raise ValidationError("The dataset has no rows to score.", field="dataset")
    fingerprint = _rules_fingerprint(rules)
    series_states = None
    first_ts = frame["timestamp"].min()
    replayed = False
    if state:
        if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise ValidationError("The monitor's stored detector state has an unknown format; recreate the monitor.",
                                  field="state")
        series_states = dict(state.get("series") or {})
        first_ts = pd.Timestamp(state["first_timestamp"]) if state.get("first_timestamp") else first_ts
        last = state.get("last_timestamp")
        if state.get("rules") != fingerprint and last and frame["timestamp"].min() <= first_ts:
            history = frame[frame["timestamp"] <= pd.Timestamp(last)]
            _, replay = core.detect_metric_frame(history, config, rules=rules)
            series_states.update(replay)
            replayed = True
    scored, new_states = core.detect_metric_frame(frame, config, rules=rules, states=series_states)
    last_ts = max(pd.Timestamp(frame["timestamp"].max()),
                  pd.Timestamp(state["last_timestamp"]) if state and state.get("last_timestamp") else pd.Timestamp.min)
    new_state = {"format": STATE_FORMAT, "version": STATE_VERSION, "rules": fingerprint,
                 "first_timestamp": _iso(first_ts), "last_timestamp": _iso(last_ts), "series": new_states}
    suppressed = int(scored["suppressed_by"].notna().sum()) if len(scored) else 0
    rows = _describe(config, frame, scored, rules, orders) if len(scored) else []
    return Detection(rows, new_state, len(scored), suppressed, replayed, scored)


def _describe(cfg: core.MonitorConfig, frame: pd.DataFrame, scored: pd.DataFrame, rules: list[dict[str, Any]],
              orders: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Anomaly rows (expected range, severity, type, root cause, impact, snapshot) for the alarms in ``scored``."""
    alarms = scored[scored["is_anomaly"].astype(bool)]
    if alarms.empty:
        return []
    if cfg.algorithm == "isolation_forest" and len(cfg.monitored_metrics) > 1:
        # a joint forest flags the point on every metric's row: report it once, on the metric that moved most
        order = alarms.assign(_abs_z=alarms["z"].abs().fillna(-1.0)).sort_values("_abs_z", ascending=False)
        alarms = order.drop_duplicates(["dimension", "slice", "timestamp"]).drop(columns="_abs_z")
    history: dict[tuple[str, str], pd.DataFrame] = {}
    first_scored = scored.groupby(["dimension", "slice"])["timestamp"].min()
    wanted_ts = set(alarms["timestamp"])
    at_period = {ts: grp for ts, grp in scored[scored["timestamp"].isin(wanted_ts)].groupby("timestamp")}
    wanted_series = set(zip(alarms["dimension"], alarms["slice"], alarms["metric"]))
    by_series = {key: grp for key, grp in scored.groupby(["dimension", "slice", "metric"], sort=False)
                 if key in wanted_series}
    out = []
    for r in alarms.itertuples(index=False):
        dim, sl, metric, ts = r.dimension, r.slice, r.metric, pd.Timestamp(r.timestamp)
        series = by_series[(dim, sl, metric)]
        if pd.Timestamp(first_scored[(dim, sl)]) > frame["timestamp"].min():
            if (dim, sl) not in history:
                part = frame[(frame["dimension"] == dim) & (frame["slice"] == sl)
                             & (frame["timestamp"] < first_scored[(dim, sl)])]
                history[(dim, sl)] = core.detect_metric_frame(part, cfg, rules=rules)[0] if len(part) else part
            past = history[(dim, sl)]
            if len(past):
                past = past[past["metric"] == metric]
                series = pd.concat([past, series], ignore_index=True)
        snap = core.snapshot(series, ts, before=SNAPSHOT_BEFORE, after=SNAPSHOT_AFTER, metric=metric,
                             dimension=dim, slice=sl)
        root_cause = _root_cause(cfg, at_period[r.timestamp], r, orders)
        root_cause["shape"] = anomaly_shape(cfg, metric, series, ts)
        impact = _impact(cfg, frame, r)
        root_cause["impact_text"] = impact.text
        out.append({
            "metric": metric, "slice": astore.slice_key(dim, sl), "ts": ts.to_pydatetime(),
            "actual": float(r.value), "expected": float(r.expected), "lower": float(r.lower),
            "upper": float(r.upper), "score": float(r.anomaly_score), "severity": str(r.severity),
            "impact": _finite(impact.amount), "impact_note": impact.assumption, "root_cause": root_cause,
            "snapshot": [
                {"timestamp": _iso(p.timestamp), "value": _finite(p.value), "expected": _finite(p.expected),
                 "lower": _finite(p.lower), "upper": _finite(p.upper), "anomaly_score": _finite(p.anomaly_score),
                 "is_anomaly": bool(p.is_anomaly), "severity": str(p.severity), "is_focus": bool(p.is_focus)}
                for p in snap.itertuples(index=False)
            ],
        })
    return out


def _deviation_sentence(metric: str, actual: float, expected: float) -> str:
    dev = actual - expected
    pct = f" ({dev / abs(expected):+.0%})" if expected else ""
    word = "above" if dev > 0 else "below"
    return f"{metric} was {actual:,.2f}, {abs(dev):,.2f} {word} the expected {expected:,.2f}{pct}."


def anomaly_shape(cfg: core.MonitorConfig, metric: str, series: pd.DataFrame, ts: pd.Timestamp
                  ) -> dict[str, Any] | None:
    """Type of one alarm from its series' shape (:func:`aihub.anomaly.classify_anomaly`), JSON-ready.

    Parameters
    ----------
    series : pandas.DataFrame
        The alarm's series with columns ``timestamp`` and ``value``: the
        history before the alarm and whatever was scored after it.
    ts : pandas.Timestamp
        The alarm's period.

    Returns
    -------
    dict or None
        ``{"type", "confidence", "evidence", "figures", "weights"}``; None when
        the series is too short to tell (fewer than 8 periods) or off a
        regular grid, which the log records.
    """
    m = cfg.metric(metric)
    unit = cfg.currency if m.unit_value == 1.0 else ""
    data = series[["timestamp", "value"]].rename(columns={"timestamp": "ds", "value": "y"})
    data = data.drop_duplicates("ds").sort_values("ds")
    try:
        shape = core.classify_anomaly(data, ts, unit=unit, per_period=m.additive)
    except ValidationError as exc:
        log.info("no anomaly type for %s at %s: %s", metric, ts, exc)
        return None
    return shape.to_dict()


def _breakdown(cfg: core.MonitorConfig, scored: pd.DataFrame, r: Any, orders: pd.DataFrame | None
               ) -> pd.DataFrame:
    """Slices behind one alarm: over every dimension for the total, over the *other* dimensions within a slice."""
    dim, sl, metric, ts = r.dimension, r.slice, r.metric, pd.Timestamp(r.timestamp)
    try:
        if dim == core.TOTAL:
            return core.dimension_breakdown(cfg, metric, ts, scored=scored)
        if orders is None:
            return pd.DataFrame()
        return core.dimension_breakdown(cfg, metric, ts, orders_df=orders, within=(dim, sl))
    except ValidationError:
        return pd.DataFrame()


def _root_cause(cfg: core.MonitorConfig, scored: pd.DataFrame, r: Any, orders: pd.DataFrame | None = None
                ) -> dict[str, Any]:
    """Root-cause JSON of one alarm: the hint sentence, the top slices per dimension, the metric movers.

    ``scored`` holds the scored points of the alarm's period (every series and
    metric); ``orders`` the raw rows, so that an alarm on a slice (West) is
    explained by the other dimensions within it (Category within West), never
    by its own dimension.
    """
    dim, sl, metric, ts = r.dimension, r.slice, r.metric, pd.Timestamp(r.timestamp)
    result: dict[str, Any] = {"series": {"dimension": dim, "slice": sl}, "period": _iso(ts),
                              "breakdown": [], "movers": []}
    hint = None
    if cfg.dimensions:
        bd = _breakdown(cfg, scored, r, orders)
        if bd.attrs.get("note"):
            result["breakdown_note"] = str(bd.attrs["note"])
        if len(bd):
            rows = []
            for _d, grp in bd.groupby("dimension", sort=False):
                rows += [{"dimension": str(x.dimension), "slice": str(x.slice), "actual": _finite(x.actual),
                          "expected": _finite(x.expected), "deviation": _finite(x.deviation),
                          "share": _finite(x.share), "z": _finite(x.z), "explanation": x.explanation}
                         for x in grp.head(TOP_SLICES).itertuples(index=False)]
            result["breakdown"] = rows
            best = bd[bd["share"].notna()].sort_values("share", ascending=False)
            if len(best):
                hint = str(best["explanation"].iloc[0])
    try:
        movers = core.metric_movers(scored, ts, dimension=dim, slice=sl)
        result["movers"] = [
            {"metric": str(m.metric), "value": _finite(m.value), "expected": _finite(m.expected),
             "deviation": _finite(m.deviation), "z": _finite(m.z), "is_anomaly": bool(m.is_anomaly),
             "explanation": m.explanation}
            for m in movers.itertuples(index=False)
        ]
    except ValidationError:
        pass
    if hint is None:
        hint = _deviation_sentence(metric, float(r.value), float(r.expected))
    if len(result["movers"]) > 1:
        top = result["movers"][0]
        if top["metric"] != metric and top["z"] is not None:
            hint += f" The metric that moved most: {top['explanation']}"
    result["hint"] = hint
    return result


def _impact(cfg: core.MonitorConfig, frame: pd.DataFrame, r: Any) -> core.BusinessImpact:
    """Money impact of one alarm; a ratio without a unit value is priced by its denominator in that period."""
    metric, actual, expected = r.metric, float(r.value), float(r.expected)
    if not (math.isfinite(actual) and math.isfinite(expected)):
        note = f"No expected value for {metric} yet, so no impact is estimated."
        return core.BusinessImpact(None, cfg.currency, float("nan"), None, metric, note, note)
    m = cfg.metric(metric)
    if m.agg == "ratio" and m.unit_value is None and cfg.metric(m.numerator).unit_value is not None:
        row = frame[(frame["dimension"] == r.dimension) & (frame["slice"] == r.slice)
                    & (frame["timestamp"] == r.timestamp)]
        count = float(row[m.denominator].iloc[0]) if len(row) else float("nan")
        unit = cfg.metric(m.numerator).unit_value
        if math.isfinite(count):
            base = core.business_impact(actual, expected, count * unit, metric=metric, currency=cfg.currency)
            den = m.denominator.lstrip("_") if m.denominator.startswith("__") else m.denominator
            assumption = (
                f"Impact = (actual - expected) x {den} in the period x {unit:,.2f} {cfg.currency} = "
                f"({actual:,.2f} - {expected:,.2f}) x {count:,.0f} x {unit:,.2f}. Assumes the "
                f"{count:,.0f} {den} of the period would have had the expected {metric}; effects on "
                "later periods are not counted."
            )
            return core.BusinessImpact(base.amount, cfg.currency, base.deviation, base.unit_value, metric,
                                       assumption, base.text)
    return core.impact_for(cfg, metric, actual, expected)


def run_monitor(principal: Principal, monitor_id: int) -> MonitorRunRecord:
    """Run a monitor now on its dataset's newest version.

    Scores the periods after those already scored (all of them on the first
    run) with the monitor's active feedback rules, inserts the new anomalies
    (idempotently: one per monitor, metric, slice and period) and stores the
    detector state, all in one transaction.

    Returns
    -------
    MonitorRunRecord
        ``status`` ``succeeded`` with ``points_scored``, ``anomalies_found``
        (newly stored) and ``suppressed``; or ``failed`` with ``error`` saying
        why. A failed run changes neither the state nor earlier anomalies.

    Raises
    ------
    NotFound
        If the monitor is not in the caller's organization.
    ValidationError
        If the monitor's dataset was deleted.
    PermissionDenied
        Without ``detect``.
    """
    require(principal, "detect")
    usage.record(principal, "detect", "run")
    tid = principal.tenant_id
    with tenant_session(tid) as s:
        mon = astore.get_monitor(s, monitor_id)
        if mon.dataset_id is None:
            raise ValidationError(f"The dataset of monitor '{mon.name}' was deleted; create a new monitor.",
                                  field="dataset_id")
        run = astore.start_run(s, tenant_id=tid, monitor_id=monitor_id)
    try:
        with tenant_session(tid) as s:
            state, last_run_at = astore.monitor_state(s, monitor_id)
            version_id = store.latest_dataset_version_id(s, mon.dataset_id)
            orders = store.load_dataset_frame(s, version_id)
            rules = [r.rule for r in astore.list_rules(s, monitor_id, active_only=True)]
        cfg = core.MonitorConfig.from_dict(mon.config)
        found = detect_anomalies(cfg, orders, state, rules)
        with tenant_session(tid) as s:
            _, now_last = astore.lock_monitor(s, monitor_id)
            if now_last != last_run_at:
                raise Conflict("Another run of this monitor finished while this one was scoring; run it again.")
            ids = astore.insert_anomalies(s, tenant_id=tid, monitor_id=monitor_id, run_id=run.id,
                                          rows=found.anomalies)
            astore.save_monitor_state(s, monitor_id, found.state)
            done = astore.finish_run(s, run.id, status="succeeded", points_scored=found.points_scored,
                                     anomalies_found=len(ids), suppressed=found.suppressed)
        _emit_anomalies(tid, ids)
        return done
    except Exception as exc:
        if isinstance(exc, AihubError):
            message = str(exc)
        else:
            log.exception("monitor %s run %s failed", monitor_id, run.id)
            message = f"Unexpected error ({type(exc).__name__}): {exc}"
        with tenant_session(tid) as s:
            return astore.finish_run(s, run.id, status="failed", error=message)


def _emit_anomalies(tenant_id: int, anomaly_ids: list[int]) -> None:
    """Publish each new anomaly (after the run committed); a subscriber's problem never fails the run."""
    if not anomaly_ids:
        return
    try:
        with tenant_session(tenant_id) as s:
            found = [astore.get_anomaly(s, i) for i in anomaly_ids]
        for a in found:
            events.publish(tenant_id, events.ANOMALY_DETECTED, {
                "anomaly_id": a.id, "monitor_id": a.monitor_id, "monitor": a.monitor_name, "metric": a.metric,
                "dimension": a.dimension, "slice": a.slice, "ts": _iso(a.ts), "severity": a.severity,
                "score": _finite(a.score), "impact": _finite(a.impact), "actual": _finite(a.actual),
                "expected": _finite(a.expected)})
    except Exception:  # detection stands even if an automation cannot start
        log.warning("workflows for the anomalies %s could not start", anomaly_ids, exc_info=True)


# ====================================================================== anomalies
def list_anomalies(
    principal: Principal,
    *,
    severities: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    monitor_id: int | None = None,
    metric: str | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    assignee_id: int | None = None,
    limit: int = 500,
) -> list[AnomalyRecord]:
    """The triage worklist, most severe first, then by absolute money impact. Needs ``read``.

    Parameters
    ----------
    severities : iterable of {"low", "medium", "high", "critical"}, optional
    statuses : iterable of str, optional
        Of :data:`STATUSES`.
    date_from, date_to : date, optional
        Inclusive bounds on the anomaly's period.

    Raises
    ------
    ValidationError
        For an unknown severity or status, or ``date_from`` after ``date_to``.
    """
    require(principal, "read")
    sev = list(severities or [])
    for i, v in enumerate(sev):
        if v not in core.SEVERITIES:
            raise ValidationError(f"Unknown severity {v!r}; choose from {', '.join(core.SEVERITIES)}.",
                                  field=f"severities[{i}]")
    sts = list(statuses or [])
    for i, v in enumerate(sts):
        if v not in STATUSES:
            raise ValidationError(f"Unknown status {v!r}; choose from {', '.join(STATUSES)}.",
                                  field=f"statuses[{i}]")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValidationError(f"The date range starts ({date_from}) after it ends ({date_to}).", field="date_from")
    with tenant_session(principal.tenant_id) as s:
        return astore.list_anomalies(s, severities=sev, statuses=sts, monitor_id=monitor_id, metric=metric,
                                     date_from=date_from, date_to=date_to, assignee_id=assignee_id, limit=limit)


def get_anomaly(principal: Principal, anomaly_id: int) -> AnomalyRecord:
    """One anomaly with its root cause and snapshot. Needs ``read``; NotFound outside the organization."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.get_anomaly(s, anomaly_id)


def anomaly_events(principal: Principal, anomaly_id: int) -> list[AnomalyEventRecord]:
    """Audit trail of an anomaly, oldest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_anomaly(s, anomaly_id)
        return astore.list_events(s, anomaly_id)


def allowed_transitions(status: str) -> tuple[str, ...]:
    """Statuses an anomaly in ``status`` may move to."""
    return TRANSITIONS.get(status, ())


def assignable_users(principal: Principal) -> list[tuple[int, str, str]]:
    """``(id, username, name)`` of the organization's active users. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return astore.list_active_users(s)


def _text(value: Any, fld: str, limit: int, what: str, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"{what} is required.", field=fld)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text; got {type(value).__name__}.", field=fld)
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{what} must be at most {limit:,} characters; got {len(value):,}.", field=fld)
    return value


def _transition(a: AnomalyRecord, status: str, resolution_notes: str | None, reason: str | None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Column values and event details of moving ``a`` to ``status``; ValidationError if not allowed."""
    if status not in STATUSES:
        raise ValidationError(f"Unknown status {status!r}; choose from {', '.join(STATUSES)}.", field="status",
                              details={"allowed": list(STATUSES)})
    if status == a.status:
        raise ValidationError(f"Anomaly {a.id} is already {STATUS_LABELS[status]}.", field="status")
    allowed = TRANSITIONS[a.status]
    if status not in allowed:
        raise ValidationError(
            f"Anomaly {a.id} is {STATUS_LABELS[a.status]} and can move only to "
            f"{', '.join(STATUS_LABELS[x] for x in allowed)}; not to {STATUS_LABELS[status]}.",
            field="status", details={"from": a.status, "to": status, "allowed": list(allowed)},
        )
    values: dict[str, Any] = {"status": status}
    details: dict[str, Any] = {}
    if status == "resolved":
        notes = _text(resolution_notes, "resolution_notes", MAX_NOTE,
                      "Resolution notes (what was found and done)", True)
        values.update(resolution_notes=notes, is_false_positive=False, false_positive_reason=None,
                      resolved_at="now()")
        details["resolution_notes"] = notes
    elif status == "false_positive":
        why = _text(reason, "false_positive_reason", MAX_REASON,
                    "A false positive needs a reason (e.g. promotion, holiday, data issue); it", True)
        notes = _text(resolution_notes, "resolution_notes", MAX_NOTE, "Resolution notes", False)
        values.update(resolution_notes=notes, is_false_positive=True, false_positive_reason=why,
                      resolved_at="now()")
        details.update(false_positive_reason=why, resolution_notes=notes)
    elif a.status in astore.CLOSED_STATUSES:
        values.update(is_false_positive=False, false_positive_reason=None, resolved_at=None)
        details["reopened"] = True
    return values, details


def _relearn(s: Any, principal: Principal, monitor_id: int) -> list[str]:
    """Relearn a monitor's rules from its reviewed anomalies; descriptions of new rules."""
    mon = astore.get_monitor(s, monitor_id)
    cfg = core.MonitorConfig.from_dict(mon.config)
    events = [
        core.FeedbackEvent(
            timestamp=a.ts, label="false_positive" if a.status == "false_positive" else "true_positive",
            reason=a.false_positive_reason or "", metric=a.metric, dimension=a.dimension, slice=a.slice,
            anomaly_score=min(max(a.score, 0.0), 1.0), value=_finite(a.actual), expected=_finite(a.expected),
            event_id=str(a.id),
        )
        for a in astore.reviewed_anomalies(s, monitor_id)
    ]
    existing = [r.rule for r in astore.list_rules(s, monitor_id)]
    learned = core.learn_from_feedback(events, existing_rules=existing, alert_threshold=cfg.thresholds.low)
    return astore.sync_rules(s, tenant_id=principal.tenant_id, monitor_id=monitor_id,
                             learned=[r.to_dict() for r in learned])


def change_status(
    principal: Principal,
    anomaly_id: int,
    status: str,
    *,
    note: str = "",
    resolution_notes: str | None = None,
    false_positive_reason: str | None = None,
) -> AnomalyRecord:
    """Move an anomaly to another status and record it in the audit trail. Needs ``feedback``.

    Parameters
    ----------
    status : str
        One of :data:`STATUSES`, allowed from the current one by :data:`TRANSITIONS`.
    note : str
        Free text for the audit trail.
    resolution_notes : str, optional
        Required to resolve.
    false_positive_reason : str, optional
        Required to mark a false positive (e.g. "promotion"). Marking or
        reopening a false positive relearns the monitor's feedback rules.

    Returns
    -------
    AnomalyRecord
        The anomaly after the change.

    Raises
    ------
    ValidationError
        Unknown or disallowed status (the message names the allowed ones),
        missing resolution notes or false-positive reason.
    NotFound
        Outside the organization.
    PermissionDenied
        Without ``feedback``.
    """
    require(principal, "feedback")
    note = _text(note, "note", MAX_NOTE, "The note", False)
    with tenant_session(principal.tenant_id) as s:
        a = astore.get_anomaly(s, anomaly_id, lock=True)
        values, details = _transition(a, status, resolution_notes, false_positive_reason)
        astore.update_anomaly(s, anomaly_id, values)
        if status in astore.CLOSED_STATUSES or a.status in astore.CLOSED_STATUSES:
            learned = _relearn(s, principal, a.monitor_id)
            if learned:
                details["learned_rules"] = learned
        event_note = note or details.get("false_positive_reason") or details.get("resolution_notes")
        astore.add_event(s, tenant_id=principal.tenant_id, anomaly_id=anomaly_id, actor_id=principal.user_id,
                         action="status", from_status=a.status, to_status=status, note=event_note, details=details)
        out = astore.get_anomaly(s, anomaly_id)
    if (status in astore.CLOSED_STATUSES) != (a.status in astore.CLOSED_STATUSES):
        events.publish(principal.tenant_id, events.ANOMALY_TRIAGED,
                       {"anomaly_ids": [anomaly_id], "from_status": a.status, "to_status": status,
                        "at": datetime.now(UTC).isoformat()})
    return out


def resolve(principal: Principal, anomaly_id: int, payload: Mapping[str, Any]) -> AnomalyRecord:
    """Close an anomaly from a resolution payload. Needs ``feedback``.

    Parameters
    ----------
    payload : dict
        ``{"resolution_notes": "...", "is_false_positive": true, "false_positive_reason": "promotion"}``;
        with ``is_false_positive`` false or absent the anomaly is resolved and
        ``resolution_notes`` is required; with true it becomes a false positive
        and ``false_positive_reason`` is required. An optional ``note`` goes
        to the audit trail.

    Raises
    ------
    ValidationError
        Unknown keys, a non-boolean ``is_false_positive``, missing notes or reason,
        or a disallowed transition.
    """
    require(principal, "feedback")
    if not isinstance(payload, Mapping):
        raise ValidationError("The resolution must be an object with resolution_notes.", field="payload")
    allowed = ("resolution_notes", "is_false_positive", "false_positive_reason", "note")
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise ValidationError(f"Unknown key(s) {unknown} in the resolution; allowed: {list(allowed)}.",
                              field=unknown[0])
    fp = payload.get("is_false_positive", False)
    if not isinstance(fp, bool):
        raise ValidationError(f"is_false_positive must be true or false; got {fp!r}.", field="is_false_positive")
    if not fp and payload.get("false_positive_reason"):
        raise ValidationError("A false_positive_reason is given but is_false_positive is not true.",
                              field="is_false_positive")
    return change_status(principal, anomaly_id, "false_positive" if fp else "resolved",
                         note=payload.get("note") or "", resolution_notes=payload.get("resolution_notes"),
                         false_positive_reason=payload.get("false_positive_reason"))


def assign(principal: Principal, anomaly_id: int, user_id: int | None, *, note: str = "") -> AnomalyRecord:
    """Assign an anomaly to an active user of the organization (None: unassign). Needs ``feedback``.

    Raises
    ------
    ValidationError
        If the user is not an active user of the organization, or already assigned.
    NotFound
        Outside the organization.
    """
    require(principal, "feedback")
    note = _text(note, "note", MAX_NOTE, "The note", False)
    with tenant_session(principal.tenant_id) as s:
        a = astore.get_anomaly(s, anomaly_id, lock=True)
        _assign(s, principal, a, user_id, note, {})
        return astore.get_anomaly(s, anomaly_id)


def _assignee(s: Any, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = astore.active_user(s, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
    if user is None:
        raise ValidationError(f"User {user_id!r} is not an active user of your organization.", field="assignee")
    return user[1]


def _assign(s: Any, principal: Principal, a: AnomalyRecord, user_id: int | None, note: str | None,
            details: dict[str, Any]) -> None:
    to = _assignee(s, user_id)
    if user_id == a.assignee_id:
        raise ValidationError(f"Anomaly {a.id} is already assigned to {to or 'nobody'}.", field="assignee")
    astore.update_anomaly(s, a.id, {"assignee_id": user_id})
    astore.add_event(s, tenant_id=principal.tenant_id, anomaly_id=a.id, actor_id=principal.user_id,
                     action="assign", from_status=a.status, to_status=a.status,
                     note=note or (f"Assigned to {to}" if to else "Unassigned"),
                     details={**details, "from": a.assignee, "to": to})


def add_note(principal: Principal, anomaly_id: int, note: str) -> AnomalyEventRecord:
    """Add a note to an anomaly's audit trail. Needs ``feedback``.

    Raises
    ------
    ValidationError
        If the note is empty or longer than :data:`MAX_NOTE` characters.
    """
    require(principal, "feedback")
    text = _text(note, "note", MAX_NOTE, "The note", True)
    with tenant_session(principal.tenant_id) as s:
        a = astore.get_anomaly(s, anomaly_id, lock=True)
        astore.update_anomaly(s, anomaly_id, {})
        astore.add_event(s, tenant_id=principal.tenant_id, anomaly_id=anomaly_id, actor_id=principal.user_id,
                         action="note", from_status=a.status, to_status=a.status, note=text)
        return astore.list_events(s, anomaly_id)[-1]


@dataclass(frozen=True)
class BulkResult:
    """Outcome of :func:`bulk_triage`.

    Attributes
    ----------
    changed : list of int
        Anomalies changed (each with its own audit event).
    skipped : dict of int to str
        Anomalies left as they were, with the reason (already in that state,
        transition not allowed, not found).
    learned_rules : list of str
        Descriptions of rules learned from the false positives.
    """

    changed: list[int]
    skipped: dict[int, str]
    learned_rules: list[str] = field(default_factory=list)


def bulk_triage(
    principal: Principal,
    anomaly_ids: Iterable[int],
    action: str,
    *,
    assignee_id: int | None = None,
    resolution_notes: str | None = None,
    false_positive_reason: str | None = None,
    note: str = "",
) -> BulkResult:
    """Acknowledge, assign, resolve or mark false positive several anomalies at once. Needs ``feedback``.

    All changes happen in one transaction; anomalies the action does not
    apply to (already acknowledged, closed, ...) are skipped with the reason.

    Parameters
    ----------
    action : {"acknowledge", "assign", "resolve", "false_positive"}
    assignee_id : int or None
        For ``assign`` (None unassigns).
    resolution_notes : str
        Required for ``resolve``.
    false_positive_reason : str
        Required for ``false_positive``.

    Raises
    ------
    ValidationError
        Unknown action, no anomalies, missing notes or reason, unknown assignee.
    PermissionDenied
        Without ``feedback``.
    """
    require(principal, "feedback")
    if action not in BULK_ACTIONS:
        raise ValidationError(f"Unknown bulk action {action!r}; choose from {', '.join(BULK_ACTIONS)}.",
                              field="action")
    ids = sorted({int(i) for i in anomaly_ids})
    if not ids:
        raise ValidationError("Select at least one anomaly.", field="anomaly_ids")
    note = _text(note, "note", MAX_NOTE, "The note", False)
    if action == "resolve":
        _text(resolution_notes, "resolution_notes", MAX_NOTE, "Resolution notes (what was found and done)", True)
    if action == "false_positive":
        _text(false_positive_reason, "false_positive_reason", MAX_REASON,
              "A false positive needs a reason (e.g. promotion, holiday, data issue); it", True)
    status = {"acknowledge": "acknowledged", "resolve": "resolved", "false_positive": "false_positive"}.get(action)
    changed: list[int] = []
    skipped: dict[int, str] = {}
    relearn: set[int] = set()
    with tenant_session(principal.tenant_id) as s:
        if action == "assign":
            _assignee(s, assignee_id)
        for i in ids:
            try:
                a = astore.get_anomaly(s, i, lock=True)
                if action == "assign":
                    _assign(s, principal, a, assignee_id, note, {"bulk": True})
                else:
                    values, details = _transition(a, status, resolution_notes, false_positive_reason)
                    astore.update_anomaly(s, i, values)
                    astore.add_event(
                        s, tenant_id=principal.tenant_id, anomaly_id=i, actor_id=principal.user_id,
                        action="status", from_status=a.status, to_status=status,
                        note=note or details.get("false_positive_reason") or details.get("resolution_notes"),
                        details={**details, "bulk": True},
                    )
                    if status in astore.CLOSED_STATUSES:
                        relearn.add(a.monitor_id)
                changed.append(i)
            except (ValidationError, NotFound) as exc:
                skipped[i] = str(exc)
        learned: list[str] = []
        for monitor_id in sorted(relearn):
            learned += _relearn(s, principal, monitor_id)
    if relearn and changed:
        events.publish(principal.tenant_id, events.ANOMALY_TRIAGED,
                       {"anomaly_ids": changed, "to_status": status, "at": datetime.now(UTC).isoformat()})
    return BulkResult(changed, skipped, learned)


# ====================================================================== rules
def list_rules(principal: Principal, monitor_id: int) -> list[RuleRecord]:
    """What a monitor learned from feedback (active and undone), oldest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        astore.get_monitor(s, monitor_id)
        return astore.list_rules(s, monitor_id)


def undo_rule(principal: Principal, rule_id: int) -> RuleRecord:
    """Undo a learned rule: the next run reports what it suppressed again. Needs ``feedback``.

    Relearning keeps an undone rule undone. Raises NotFound outside the organization.
    """
    require(principal, "feedback")
    with tenant_session(principal.tenant_id) as s:
        return astore.set_rule_active(s, rule_id, active=False, user_id=principal.user_id)


def reapply_rule(principal: Principal, rule_id: int) -> RuleRecord:
    """Re-activate an undone rule. Needs ``feedback``."""
    require(principal, "feedback")
    with tenant_session(principal.tenant_id) as s:
        return astore.set_rule_active(s, rule_id, active=True, user_id=principal.user_id)


# ====================================================================== views
def snapshot_frame(anomaly: AnomalyRecord) -> pd.DataFrame:
    """The stored snapshot of an anomaly as a DataFrame (columns of :func:`aihub.anomaly.snapshot`)."""
    frame = pd.DataFrame(anomaly.snapshot)
    if frame.empty:
        return frame
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    for c in ("value", "expected", "lower", "upper", "anomaly_score"):
        if c in frame:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def anomaly_figure(anomaly: AnomalyRecord):
    """Plotly chart of an anomaly's snapshot: actual values, expected band, the point circled."""
    title = f"{anomaly.metric} · {anomaly.series_label}"
    return core.snapshot_figure(snapshot_frame(anomaly), title=title)


def format_money(amount: float | None, currency: str = "USD") -> str:
    """``-1,234.50 USD`` or ``"n/a"``."""
    if amount is None or not np.isfinite(amount):
        return "n/a"
    return f"{amount:+,.2f} {currency}"
