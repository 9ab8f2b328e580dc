"""What insights read: the engine's inputs built from a tenant's data (see :func:`collect_sources`).

RFM segment snapshots
---------------------
For an orders dataset with a customer column, customers are segmented with
K-Means (k = 5, on ``log1p`` and standardised recency, frequency, monetary)
at the end of the data, the segments named from their RFM profile
(:func:`aihub.ml.name_segments`), and the same segmentation is applied to
the customers' RFM one quarter (91 days) earlier, so the two snapshots
compare like with like.

Any table
---------
Every dataset that is not read as an orders table, and every one whose
table roles an analyst confirmed, is read as a plain table
(:class:`aihub.insights.tables.TableInput`) with the roles of
:mod:`aihub.services.insight_roles`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from aihub.auth import Principal, require
from aihub.db import insight_store, store
from aihub.db.session import tenant_session
from aihub.errors import AihubError
from aihub.insights import (
    CATEGORIES,
    AnomaliesInput,
    ForecastInput,
    InsightInputs,
    OrdersInput,
    PredictionsInput,
    SegmentsInput,
)
from aihub.insights.params import InsightParams, check_now
from aihub.insights.tables import TableInput
from aihub.services.insight_roles import DatasetRoles, _dataset_roles, _norm, table_views

#: Days between the two RFM snapshots.
SEGMENT_LAG_DAYS = 91
SEGMENT_CLUSTERS = 5
MIN_SEGMENT_CUSTOMERS = 30
#: Most open anomalies read for the digest.
MAX_ANOMALIES = 5000
#: Most recent churn predictions read per model.
MAX_PREDICTIONS = 50_000

#: Input kinds and the categories their insights can fall in (to skip work a category filter excludes).
SOURCE_CATEGORIES: dict[str, frozenset[str]] = {
    "orders": frozenset({"sales", "customer"}),
    "forecasts": frozenset({"finance"}),
    "predictions": frozenset({"customer"}),
    "segments": frozenset({"customer"}),
    "anomalies": frozenset({"operations"}),
    "tables": frozenset(CATEGORIES),
    "sentiments": frozenset({"customer"}),
}

@dataclass
class Sources:
    """What a generation read, and why something was left out (for the page and the logs)."""

    inputs: InsightInputs
    used: list[str]
    skipped: list[str]


def _orders_inputs(s: Any, rec: DatasetRoles) -> tuple[OrdersInput, pd.DataFrame]:
    frame = store.load_dataset_frame(s, rec.version_id)
    r = rec.roles or {}
    orders = OrdersInput(
        frame, date=r["date"], amount=r["amount"], customer=r.get("customer"),
        customer_name=r.get("customer_name"), product=r.get("product"),
        dimensions=[d for d in r.get("dimensions") or [] if d in frame.columns],
        metric=_norm(r["amount"]) or "sales", dataset_id=rec.dataset_id, dataset_name=rec.dataset_name,
    )
    return orders, frame


def rfm_snapshots(
    frame: pd.DataFrame, roles: Mapping[str, Any], as_of: pd.Timestamp, *, lag_days: int = SEGMENT_LAG_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, pd.Timestamp] | None:
    """RFM segments of the customers at the end of the data and ``lag_days`` earlier, by one segmentation.

    Returns
    -------
    (before, after, before_date, after_date) or None
        Frames with ``customer``, ``segment``, ``monetary``; None with fewer
        than :data:`MIN_SEGMENT_CUSTOMERS` customers in either snapshot.
    """
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from aihub.ml import name_segments, rfm_table

    cols = [roles["customer"], roles["date"], roles["amount"]] + ([roles["order"]] if roles.get("order") else [])
    data = frame[cols].dropna(subset=cols[:3])
    dates = pd.to_datetime(data[roles["date"]])
    if dates.empty:
        return None
    end = min(dates.max().normalize() + pd.Timedelta(days=1), as_of.normalize())
    start = end - pd.Timedelta(days=lag_days)
    if dates.min() >= start:
        return None
    try:
        after = rfm_table(data, roles["customer"], roles["date"], roles["amount"], roles.get("order"), as_of=end)
        before = rfm_table(data, roles["customer"], roles["date"], roles["amount"], roles.get("order"), as_of=start)
    except AihubError:
        return None
    if min(len(after), len(before)) < MIN_SEGMENT_CUSTOMERS:
        return None

    def x(r: pd.DataFrame) -> np.ndarray:
        return np.log1p(r[["recency_days", "frequency", "monetary"]].to_numpy(float).clip(min=0))

    scaler = StandardScaler().fit(x(after))
    k = min(SEGMENT_CLUSTERS, len(after) // 10)
    km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(scaler.transform(x(after)))
    names = name_segments(after, km.labels_)
    after = after.assign(segment=[names[int(c)]["name"] for c in km.labels_])
    before = before.assign(segment=[names[int(c)]["name"] for c in km.predict(scaler.transform(x(before)))])
    return before, after, start, end


def _anomalies_input(s: Any, params: InsightParams) -> AnomaliesInput | None:
    from aihub.db import anomaly_store

    items = anomaly_store.list_anomalies(s, statuses=list(anomaly_store.OPEN_STATUSES),
                                         severities=list(params.anomaly_severities), limit=MAX_ANOMALIES)
    if not items:
        return None
    frame = pd.DataFrame({
        "id": [a.id for a in items], "severity": [a.severity for a in items], "status": [a.status for a in items],
        "impact": [np.nan if a.impact is None else float(a.impact) for a in items],
        "metric": [a.metric for a in items],
        "slice": ["" if a.dimension == a.slice == "total" else f"{a.dimension} = {a.slice}" for a in items],
        "ts": [pd.Timestamp(a.ts) for a in items], "score": [a.score for a in items],
        "monitor_name": [a.monitor_name for a in items],
    })
    return AnomaliesInput(frame)


def _forecast_inputs(principal: Principal, s: Any) -> tuple[list[ForecastInput], list[str], list[str]]:
    from aihub.services import forecasts as forecast_service

    used, skipped, out = [], [], []
    for m in store.list_models(s, forecast_service.FORECAST_KIND):
        if not m.active_version_id:
            continue
        spec = forecast_service.ForecastSpec(**m.config)
        if spec.agg != "sum":
            skipped.append(f"forecast {m.name}: averages per period have no total to compare")
            continue
        try:
            view = forecast_service.forecast_view(principal, m.id)
            metric = _norm(spec.value_column) or "value"
            if spec.filters:
                metric += " (" + "; ".join(f"{k} = {', '.join(v)}" for k, v in spec.filters.items()) + ")"
            out.append(ForecastInput(view.forecast, view.history, freq=spec.freq, metric=metric, model_id=m.id,
                                     model_name=m.name))
            used.append(f"forecast {m.name} (version {m.active_version})")
        except AihubError as exc:
            skipped.append(f"forecast {m.name}: {exc}")
    return out, used, skipped


_CUSTOMER_KEY = re.compile(r"^(customer|client|account)[ _]?(id|key|no|number)?$|^customerid$", re.IGNORECASE)
_MONTHLY = re.compile(r"monthly", re.IGNORECASE)
_REVENUE = re.compile(r"revenue|sales|monetary|spend|value|charges|amount", re.IGNORECASE)


_CONTRIB_RE = re.compile(r"^\s*(?P<feature>.+?) = (?P<value>.*): (?P<c>[-+]?[\d,]*\.?\d+(?:[eE][-+]?\d+)?)(?: log-odds)?\s*$")


def _reason_name(feature: Any, value: Any) -> str:
    """``"Contract = Month-to-month"`` for a category, the bare feature for a number or a blank."""
    if value is None or isinstance(value, (int, float, bool)) or value == "(blank)":
        return str(feature)
    try:
        float(str(value).replace(",", ""))
        return str(feature)
    except ValueError:
        return f"{feature} = {value}"


def shap_reasons(output: Mapping[str, Any], k: int = 3) -> list[dict[str, Any]]:
    """The ``k`` largest positive SHAP contributions of a stored prediction, as engine reasons.

    Reads ``contributions`` (single predictions: ``[{"feature", "value",
    "contribution"}]``) or ``top_contributions`` (batch predictions with
    explanations: ``"Contract = Month-to-month: +0.21; tenure = 2: +0.10"``).
    Categorical values stay in the reason ("Contract = Month-to-month") so
    customers' reasons can be counted together; numeric values are dropped
    ("tenure").
    """
    items: list[tuple[str, float]] = []
    raw = output.get("contributions")
    if isinstance(raw, list):
        for c in raw:
            if isinstance(c, Mapping) and c.get("feature") is not None:
                try:
                    items.append((_reason_name(c["feature"], c.get("value")), float(c.get("contribution"))))
                except (TypeError, ValueError):
                    continue
    elif isinstance(output.get("top_contributions"), str):
        for part in output["top_contributions"].split(";"):
            m = _CONTRIB_RE.match(part)
            if m:
                items.append((_reason_name(m["feature"], m["value"]), float(m["c"].replace(",", ""))))
    items = sorted((i for i in items if i[1] > 0), key=lambda i: -i[1])[:k]
    return [{"feature": f, "contribution": c} for f, c in items]


def _churn_frame(rows: list[tuple[dict, dict, float]]) -> tuple[pd.DataFrame, str] | None:
    """Churn predictions as a PredictionsInput frame (customer, probability, revenue, top_reasons)."""
    if not rows:
        return None
    inputs = [r[0] or {} for r in rows]
    outputs = [r[1] or {} for r in rows]
    keys = list(inputs[0])
    cust_key = next((k for k in keys if _CUSTOMER_KEY.match(str(k).strip())), None)
    customers = [o.get("customer", i.get(cust_key) if cust_key else None) for i, o in zip(inputs, outputs)]
    monthly = next((k for k in keys if _MONTHLY.search(str(k)) and _REVENUE.search(str(k))), None)
    revenue_key = monthly or next((k for k in keys if str(k).lower() in ("monetary", "revenue", "annual_revenue",
                                                                           "sales", "total_spend")), None)
    label = "annual revenue" if monthly else "revenue to date" if revenue_key else ""

    def num(v: Any) -> float:
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")

    revenue = [num(i.get(revenue_key)) * (12 if monthly else 1) if revenue_key else np.nan for i in inputs]
    reasons = [shap_reasons(o) for o in outputs]
    frame = pd.DataFrame({"customer": customers, "probability": [r[2] for r in rows], "revenue": revenue,
                          "top_reasons": reasons})
    return frame, label


def _predictions_inputs(s: Any) -> tuple[list[PredictionsInput], list[str], list[str]]:
    used, skipped, out = [], [], []
    for model_id, name, version, rows in insight_store.churn_predictions(s, limit=MAX_PREDICTIONS):
        made = _churn_frame(rows)
        if made is None:
            continue
        frame, label = made
        try:
            out.append(PredictionsInput(frame, revenue="revenue" if label else None, revenue_label=label or "revenue",
                                        model_id=model_id, model_name=name))
            used.append(f"churn model {name} (version {version}, {len(frame):,} customers)")
        except AihubError as exc:
            skipped.append(f"churn model {name}: {exc}")
    return out, used, skipped


def collect_sources(
    principal: Principal, *, categories: Iterable[str] | None = None, now: datetime | None = None,
    params: InsightParams | None = None, kinds: Iterable[str] | None = None,
) -> Sources:
    """Build the engine's inputs from the tenant's data. Needs ``read``.

    Parameters
    ----------
    categories : iterable of str, optional
        Only build inputs that can yield these categories.
    now : datetime, optional
        Snapshots end at this time (default now).
    kinds : iterable of str, optional
        Only these inputs (keys of :data:`SOURCE_CATEGORIES`), e.g. ``("anomalies",)``.
    """
    require(principal, "read")
    cats = set(categories) if categories else set(CATEGORIES)
    only = None if kinds is None else set(kinds)
    wants = {k: bool(v & cats) and (only is None or k in only) for k, v in SOURCE_CATEGORIES.items()}
    params = params or InsightParams()
    as_of = pd.Timestamp(check_now(now)).tz_convert(None)
    orders, forecasts, predictions, segments, tables = [], [], [], [], []
    anomalies = None
    used: list[str] = []
    skipped: list[str] = []
    with tenant_session(principal.tenant_id) as s:
        if wants["orders"] or wants["segments"]:
            for rec in _dataset_roles(s):
                if not rec.enabled:
                    skipped.append(f"dataset {rec.dataset_name}: turned off for insights")
                    continue
                if rec.roles is None:
                    skipped.append(f"dataset {rec.dataset_name}: no date and amount column found")
                    continue
                try:
                    o, frame = _orders_inputs(s, rec)
                except AihubError as exc:
                    skipped.append(f"dataset {rec.dataset_name}: {exc}")
                    continue
                if wants["orders"]:
                    orders.append(o)
                    used.append(f"dataset {rec.dataset_name} ({rec.roles['amount']} by {rec.roles['date']})")
                if wants["segments"] and rec.roles.get("customer"):
                    snap = rfm_snapshots(frame, rec.roles, as_of)
                    if snap is not None:
                        before, after, d0, d1 = snap
                        segments.append(SegmentsInput(before, after, d0, d1))
                        used.append(f"RFM segments of {rec.dataset_name} ({d0:%Y-%m-%d} vs {d1:%Y-%m-%d})")
        if wants["tables"]:
            tables, u, k = _table_inputs(s)
            used += u
            skipped += k
        if wants["anomalies"]:
            anomalies = _anomalies_input(s, params)
            if anomalies is not None:
                used.append(f"{len(anomalies.data):,} open {'/'.join(params.anomaly_severities)} anomalies")
        if wants["predictions"]:
            predictions, u, k = _predictions_inputs(s)
            used += u
            skipped += k
        if wants["forecasts"]:
            forecasts, u, k = _forecast_inputs(principal, s)
            used += u
            skipped += k
    sentiments = []
    if wants["sentiments"]:
        sentiments, u, k = _sentiment_inputs(principal)
        used += u
        skipped += k
    inputs = InsightInputs(orders=orders, forecasts=forecasts, predictions=predictions, segments=segments,
                           anomalies=anomalies, tables=tables, sentiments=sentiments)
    return Sources(inputs, used, skipped)


def _sentiment_inputs(principal: Principal) -> tuple[list, list[str], list[str]]:
    """Scored texts of each deployed sentiment analytic that has a time column (for "sentiment dropped for X")."""
    from aihub.insights.sentiment_insights import SentimentInput
    from aihub.services import analytics

    out, used, skipped = [], [], []
    for m in analytics.list_analytics(principal, "sentiment"):
        if m.active_version_id is None:
            continue
        try:
            res = analytics.load(principal, m.id, kind="sentiment")
            spec = res.spec
            if not spec.time_column:
                skipped.append(f"sentiment analytic {m.name}: no time column")
                continue
            rows = pd.DataFrame(res.state["rows"])
            data = pd.DataFrame({"time": pd.to_datetime(rows[spec.time_column]),
                                 "group": rows[spec.group_column].astype(str) if spec.group_column else "all",
                                 "score": rows["score"], "label": rows["label"]})
            out.append(SentimentInput(data, freq=spec.freq, model_id=m.id, model_name=m.name))
            used.append(f"sentiment analytic {m.name} ({len(data):,} texts)")
        except AihubError as exc:
            skipped.append(f"sentiment analytic {m.name}: {exc}")
    return out, used, skipped


def _table_inputs(s: Any) -> tuple[list[TableInput], list[str], list[str]]:
    """Plain-table inputs: datasets not read as orders, and those whose table roles an analyst confirmed."""
    out, used, skipped = [], [], []
    for view, frame in table_views(s):
        try:
            out.append(TableInput(frame, view.roles, dataset_id=view.dataset_id, dataset_name=view.dataset_name,
                                  version=view.version))
        except AihubError as exc:
            skipped.append(f"dataset {view.dataset_name} as a table: {exc}")
            continue
        r = view.roles
        what = [f"outcome {r.outcome}"] if r.outcome else []
        what += [f"date {r.date}"] if r.date else []
        used.append(f"dataset {view.dataset_name} as a table ({', '.join(what) or 'shifts and outliers'}"
                    f"{'' if view.confirmed else ', roles proposed'})")
    return out, used, skipped


__all__ = ["MAX_ANOMALIES", "MAX_PREDICTIONS", "SOURCE_CATEGORIES", "Sources", "collect_sources", "rfm_snapshots",
           "shap_reasons"]
