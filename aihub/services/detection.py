"""Detection on a monitor's data (pure: no database): score new periods, and describe each alarm.

:func:`detect_anomalies` scores the periods after those a stored detector
state already scored (streaming and causal) and describes each alarm: its
expected range, severity, type from its shape with the evidence
(:func:`aihub.anomaly.classify_anomaly`), root cause (slices and metrics that
moved; a slice's alarm is explained by the other dimensions within it), money
impact with its assumption, and a snapshot of the surrounding points.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from aihub import anomaly as core
from aihub.db import anomaly_store as astore
from aihub.errors import ValidationError

log = logging.getLogger(__name__)

SNAPSHOT_BEFORE = 30
SNAPSHOT_AFTER = 7
TOP_SLICES = 3
STATE_FORMAT = "aihub.monitor_state"
STATE_VERSION = 1


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
    frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def _rules_fingerprint(rules: list[dict[str, Any]]) -> str:
    keys = ("rule_id", "kind", "metric", "dimension", "slice", "recurrence", "direction", "threshold")
    payload = sorted(json.dumps({k: r.get(k) for k in keys}, sort_keys=True, default=str) for r in rules)
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def iso(ts: Any) -> str:
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
                 "first_timestamp": iso(first_ts), "last_timestamp": iso(last_ts), "series": new_states}
    suppressed = int(scored["suppressed_by"].notna().sum()) if len(scored) else 0
    rows = _describe(config, frame, scored, rules, orders) if len(scored) else []
    return Detection(rows, new_state, len(scored), suppressed, replayed, scored, frame)


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
            "impact": finite(impact.amount), "impact_note": impact.assumption, "root_cause": root_cause,
            "snapshot": [
                {"timestamp": iso(p.timestamp), "value": finite(p.value), "expected": finite(p.expected),
                 "lower": finite(p.lower), "upper": finite(p.upper), "anomaly_score": finite(p.anomaly_score),
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
    result: dict[str, Any] = {"series": {"dimension": dim, "slice": sl}, "period": iso(ts),
                              "breakdown": [], "movers": []}
    hint = None
    if cfg.dimensions:
        bd = _breakdown(cfg, scored, r, orders)
        if bd.attrs.get("note"):
            result["breakdown_note"] = str(bd.attrs["note"])
        if len(bd):
            rows = []
            for _d, grp in bd.groupby("dimension", sort=False):
                rows += [{"dimension": str(x.dimension), "slice": str(x.slice), "actual": finite(x.actual),
                          "expected": finite(x.expected), "deviation": finite(x.deviation),
                          "share": finite(x.share), "z": finite(x.z), "explanation": x.explanation}
                         for x in grp.head(TOP_SLICES).itertuples(index=False)]
            result["breakdown"] = rows
            best = bd[bd["share"].notna()].sort_values("share", ascending=False)
            if len(best):
                hint = str(best["explanation"].iloc[0])
    try:
        movers = core.metric_movers(scored, ts, dimension=dim, slice=sl)
        result["movers"] = [
            {"metric": str(m.metric), "value": finite(m.value), "expected": finite(m.expected),
             "deviation": finite(m.deviation), "z": finite(m.z), "is_anomaly": bool(m.is_anomaly),
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


#: Periods after an anomaly that settle whether a spike or drop was a pulse or a lasting shift.
SETTLED_AFTER = 3


def needs_retype(shape: dict[str, Any] | None) -> bool:
    """Whether an anomaly's type may still change with later data (no type yet, or a spike/drop too recent to tell)."""
    if not shape:
        return True
    return shape.get("type") in ("spike", "drop") and (shape.get("figures") or {}).get("periods_after", 0) < SETTLED_AFTER


def retype(cfg: core.MonitorConfig, frame: pd.DataFrame, anomalies: list[dict[str, Any]]) -> dict[int, dict]:
    """New types of earlier anomalies now that later periods arrived (a drop that lasts is a level shift).

    Parameters
    ----------
    frame : pandas.DataFrame
        The metric frame of the whole data (:func:`aihub.anomaly.build_metric_frame`).
    anomalies : list of dict
        ``id``, ``metric``, ``dimension``, ``slice``, ``ts`` and ``shape`` (the stored one).

    Returns
    -------
    dict of int to dict
        Anomaly id -> new shape, for those whose type or evidence changed.
    """
    out: dict[int, dict] = {}
    for a in anomalies:
        if not needs_retype(a.get("shape")) or a["metric"] not in frame.columns:
            continue
        part = frame[(frame["dimension"] == a["dimension"]) & (frame["slice"] == a["slice"])]
        series = pd.DataFrame({"timestamp": part["timestamp"], "value": part[a["metric"]]})
        shape = anomaly_shape(cfg, a["metric"], series, pd.Timestamp(a["ts"]))
        old = a.get("shape") or {}
        if shape is not None and (shape["type"] != old.get("type") or shape["evidence"] != old.get("evidence")):
            out[int(a["id"])] = shape
    return out
