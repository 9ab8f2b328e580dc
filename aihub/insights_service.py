"""Insights service: turn a tenant's data into stored, ranked findings, and track what analysts do with them.

:func:`generate` reads the caller's tenant (orders datasets, active
forecasts, open anomalies, churn predictions, RFM segment snapshots), runs
the insight engine (:func:`aihub.insights.generate_insights`) with the
tenant's feedback, and stores the findings that are new. A finding whose
fingerprint (type, subject, period) belongs to a still-valid insight is not
stored again; one that expired and is found again is refreshed in place.

Analysts move insights through :data:`STATUSES` (a dismissal needs a reason)
and vote on their usefulness; every change is an ``insight_events`` row. The
votes and dismissals per insight type are fed back to the engine, which
lowers the priority of types users keep dismissing
(:func:`aihub.insights.feedback_factor`).

Every function takes the calling :class:`~aihub.auth.Principal` and checks
its permission: ``generate`` to generate, ``feedback`` for statuses and
votes, ``read`` to view.

How orders datasets are read
----------------------------
Each dataset's roles (date, amount, customer, product, dimensions) come from
the analyst's stored choice (:func:`set_dataset_roles`) or are detected from
its saved schema by column kind and name (:func:`detect_roles`): a date
column, a money column named like sales/revenue/amount, a customer id, and up
to three low-cardinality category columns (region, category, segment first).
A dataset without a date and an amount is not an orders table and is skipped.

RFM segment snapshots
---------------------
For an orders dataset with a customer column, customers are segmented with
K-Means (k = 5, on ``log1p`` and standardised recency, frequency, monetary)
at the end of the data, the segments named from their RFM profile
(:func:`aihub.ml.name_segments`), and the same segmentation is applied to
the customers' RFM one quarter (91 days) earlier, so the two snapshots
compare like with like.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from aihub.auth import Principal, require
from aihub.db import insight_store, store
from aihub.db.insight_store import InsightEventRecord, InsightRecord
from aihub.db.session import owner_session, tenant_session
from aihub.errors import AihubError, NotFound, ValidationError
from aihub.insights import (
    CATEGORIES,
    PRIORITIES,
    AnomaliesInput,
    ForecastInput,
    InsightInputs,
    OrdersInput,
    PredictionsInput,
    SegmentsInput,
    generate_insights,
)
from aihub.insights.params import InsightParams, check_categories, check_choice, check_now
from aihub.insights.ranking import priority_rank
from aihub.services import usage

log = logging.getLogger(__name__)

#: Lifecycle of an insight.
STATUSES: tuple[str, ...] = ("new", "acknowledged", "in_progress", "implemented", "dismissed")
#: Statuses of insights that still ask for work.
OPEN_STATUSES: tuple[str, ...] = ("new", "acknowledged", "in_progress")
STATUS_LABELS: dict[str, str] = {
    "new": "New", "acknowledged": "Acknowledged", "in_progress": "In progress", "implemented": "Implemented",
    "dismissed": "Dismissed",
}
MAX_REASON = 1000
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
}

ROLE_KEYS: tuple[str, ...] = ("date", "amount", "customer", "customer_name", "product", "order", "dimensions")

_AMOUNT_NAMES = ("sales", "revenue", "amount", "turnover", "gmv", "order value", "order total", "total", "value")
_AMOUNT_EXCLUDE = re.compile(r"quantit|qty|discount|count|rate|percent|share|\bid\b|score|tax|margin", re.IGNORECASE)
_DIMENSION_NAMES = ("region", "category", "segment", "channel", "country", "market", "department", "store",
                    "division", "team", "type")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(name).lower()).strip()


# ====================================================================== roles
def detect_roles(column_schema: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Orders roles of a dataset from its saved schema, or None when it is not an orders table.

    Parameters
    ----------
    column_schema : list of dict
        ``DatasetVersionRecord.column_schema`` (``name``, ``kind``, ``n_unique``).

    Returns
    -------
    dict or None
        ``{"date", "amount", "customer", "customer_name", "product", "order", "dimensions"}``
        (missing roles are None, ``dimensions`` a list of at most three), or
        None without a date column and a money column named like sales,
        revenue, amount, turnover, GMV, total or value.
    """
    cols = [c for c in column_schema if c.get("name") is not None]
    dates = [c["name"] for c in cols if c.get("kind") == "date"]
    if not dates:
        return None
    date = next((d for d in dates if "order" in _norm(d)), None) or next(
        (d for d in dates if not re.search(r"ship|deliver|due|birth|created|updated", _norm(d))), dates[0])
    numeric = [c["name"] for c in cols if c.get("kind") in ("number", "integer")]
    amount = None
    for word in _AMOUNT_NAMES:
        amount = next((n for n in numeric if word in _norm(n).split() or _norm(n) == word
                       or (len(word) > 5 and word in _norm(n))), None)
        if amount is not None and not _AMOUNT_EXCLUDE.search(_norm(amount)):
            break
        amount = None
    if amount is None:
        return None
    idlike = [c for c in cols if c.get("kind") in ("id", "category", "text") and c["name"] not in (date, amount)]

    def find(pattern: str, *, name: bool) -> str | None:
        hits = [c["name"] for c in idlike if re.search(pattern, _norm(c["name"]))]
        named = [h for h in hits if "name" in _norm(h).split()]
        plain = [h for h in hits if "name" not in _norm(h).split()]
        return (named[0] if named else None) if name else (plain[0] if plain else None)

    customer = find(r"\b(customer|client|account|buyer|shopper)", name=False)
    customer_name = find(r"\b(customer|client|account|buyer)", name=True)
    if customer is None and customer_name is not None:
        customer, customer_name = customer_name, None
    product = find(r"\b(product|sku|item|article)", name=True) or find(r"\b(product|sku|item|article)", name=False)
    order = next((c["name"] for c in idlike if c.get("kind") == "id" and re.search(r"\b(order|invoice|transaction)",
                                                                                   _norm(c["name"]))), None)
    used = {date, amount, customer, customer_name, product, order}
    cats = [c for c in cols if c.get("kind") == "category" and c["name"] not in used
            and 2 <= int(c.get("n_unique") or 0) <= 30]

    def rank(c: dict[str, Any]) -> tuple[int, int, int]:
        n = _norm(c["name"])
        pref = next((i for i, w in enumerate(_DIMENSION_NAMES) if w in n.split()), len(_DIMENSION_NAMES))
        return (0 if n in _DIMENSION_NAMES else 1), pref, int(c.get("n_unique") or 0)

    dims = [c["name"] for c in sorted(cats, key=rank) if rank(c)[1] < len(_DIMENSION_NAMES)][:3]
    return {"date": date, "amount": amount, "customer": customer, "customer_name": customer_name,
            "product": product, "order": order, "dimensions": dims}


def _check_roles(roles: Mapping[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(set(roles) - set(ROLE_KEYS) - {"enabled"})
    if unknown:
        raise ValidationError(f"Unknown role {unknown[0]!r}; allowed: {', '.join(ROLE_KEYS)}, enabled.",
                              field=str(unknown[0]))
    out: dict[str, Any] = {"enabled": bool(roles.get("enabled", True))}
    for key in ROLE_KEYS:
        value = roles.get(key)
        if key == "dimensions":
            value = [str(v) for v in (value or [])]
            for v in value:
                if v not in columns:
                    raise ValidationError(f"Dimension column '{v}' is not in the dataset.", field="dimensions")
            out[key] = value[:5]
            continue
        if value in (None, ""):
            out[key] = None
            continue
        if value not in columns:
            raise ValidationError(f"Column '{value}' is not in the dataset; choose one of: {', '.join(columns)}.",
                                  field=key)
        out[key] = str(value)
    if out["enabled"]:
        for key, kinds in (("date", {"date"}), ("amount", {"number", "integer"})):
            if out[key] is None:
                raise ValidationError(f"Choose the {key} column (or turn the dataset off for insights).", field=key)
            if columns[out[key]] not in kinds:
                raise ValidationError(
                    f"Column '{out[key]}' is {columns[out[key]]}; the {key} column must be "
                    f"{' or '.join(sorted(kinds))}.", field=key)
    return out


@dataclass(frozen=True)
class DatasetRoles:
    """How insights read one dataset.

    Attributes
    ----------
    roles : dict or None
        The roles in use (None: not an orders table, skipped).
    stored : bool
        True when an analyst chose them; False when detected from the schema.
    enabled : bool
        False when an analyst turned the dataset off for insights.
    columns : dict of str to str
        ``{column: kind}`` of the dataset's newest version.
    """

    dataset_id: int
    dataset_name: str
    version_id: int | None
    roles: dict[str, Any] | None
    stored: bool
    enabled: bool
    columns: dict[str, str] = field(default_factory=dict)


def dataset_roles(principal: Principal) -> list[DatasetRoles]:
    """The roles insights use for each dataset of the tenant (stored or detected). Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return _dataset_roles(s)


def _dataset_roles(s: Any) -> list[DatasetRoles]:
    stored = insight_store.insight_roles(s)
    out = []
    for d in store.list_datasets(s):
        if d.latest_version_id is None:
            continue
        version = store.get_dataset_version(s, d.latest_version_id)
        columns = {c["name"]: c["kind"] for c in version.column_schema}
        mine = stored.get(d.id)
        if mine:
            enabled = bool(mine.get("enabled", True))
            roles = {k: mine.get(k) for k in ROLE_KEYS} if enabled else None
            out.append(DatasetRoles(d.id, d.name, version.id, roles, True, enabled, columns))
        else:
            out.append(DatasetRoles(d.id, d.name, version.id, detect_roles(version.column_schema), False, True,
                                    columns))
    return out


def set_dataset_roles(principal: Principal, dataset_id: int, roles: Mapping[str, Any] | None) -> DatasetRoles:
    """Store which columns insights read from a dataset, or with ``None`` go back to detection. Needs ``generate``.

    Parameters
    ----------
    roles : dict or None
        Keys of :data:`ROLE_KEYS` (``date`` and ``amount`` required) and
        ``enabled`` (False: do not use this dataset for insights).

    Raises
    ------
    ValidationError
        Naming the role whose column is missing or of the wrong kind.
    NotFound
        Outside the organization.
    """
    require(principal, "generate")
    with tenant_session(principal.tenant_id) as s:
        version = store.get_dataset_version(s, store.latest_dataset_version_id(s, dataset_id))
        columns = {c["name"]: c["kind"] for c in version.column_schema}
        checked = None if roles is None else _check_roles(roles, columns)
        insight_store.set_insight_roles(s, dataset_id, checked)
        return next(r for r in _dataset_roles(s) if r.dataset_id == dataset_id)


# ====================================================================== inputs
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
    from aihub import training

    used, skipped, out = [], [], []
    for m in store.list_models(s, training.FORECAST_KIND):
        if not m.active_version_id:
            continue
        spec = training.ForecastSpec(**m.config)
        if spec.agg != "sum":
            skipped.append(f"forecast {m.name}: averages per period have no total to compare")
            continue
        try:
            view = training.forecast_view(principal, m.id)
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
    params: InsightParams | None = None,
) -> Sources:
    """Build the engine's inputs from the tenant's data. Needs ``read``.

    Parameters
    ----------
    categories : iterable of str, optional
        Only build inputs that can yield these categories.
    now : datetime, optional
        Snapshots end at this time (default now).
    """
    require(principal, "read")
    cats = set(categories) if categories else set(CATEGORIES)
    wants = {k: bool(v & cats) for k, v in SOURCE_CATEGORIES.items()}
    params = params or InsightParams()
    as_of = pd.Timestamp(check_now(now)).tz_convert(None)
    orders, forecasts, predictions, segments = [], [], [], []
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
    inputs = InsightInputs(orders=orders, forecasts=forecasts, predictions=predictions, segments=segments,
                           anomalies=anomalies)
    return Sources(inputs, used, skipped)


# ====================================================================== generation
def _check_filters(categories: Any, min_priority: Any, limit: Any) -> tuple[tuple[str, ...] | None, str | None]:
    cats = check_categories(categories)
    if min_priority is not None:
        check_choice(min_priority, PRIORITIES, "min_priority")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000):
        raise ValidationError(f"limit must be a whole number from 1 to 10000; got {limit!r}", field="limit")
    return cats, min_priority


def _row(ins: Any) -> dict[str, Any]:
    d = ins.to_dict()
    figures = dict(d["figures"])
    figures[insight_store.FIGURE_TEXT_KEY] = dict(d.get("figure_text") or {})
    return {
        **{k: d[k] for k in ("type", "category", "priority", "score", "confidence", "title", "narrative",
                             "recommended_actions", "evidence", "subject", "period", "direction", "method",
                             "fingerprint")},
        "figures": figures,
        "magnitude": None if d.get("magnitude") is None else float(d["magnitude"]),
        "currency": d.get("currency"),
        "valid_from": ins.valid_from,
        "valid_until": ins.valid_until,
    }


def generate(
    principal: Principal,
    categories: str | Iterable[str] | None = None,
    min_priority: str | None = None,
    limit: int | None = None,
    *,
    now: datetime | None = None,
    types: Iterable[str] | None = None,
    params: InsightParams | Mapping[str, Any] | None = None,
) -> list[InsightRecord]:
    """Generate the tenant's insights now and store the new ones. Needs ``generate``.

    Parameters
    ----------
    categories : str or list of str, optional
        Only these categories (sales, customer, operations, finance).
    min_priority : {"low", "medium", "high", "critical"}, optional
        Only insights of at least this priority.
    limit : int, optional
        At most this many new insights (the best ranked).
    now : datetime, optional
        Generation time (default: now); data after it are ignored and the
        validity periods start at it.
    types : iterable of str, optional
        Only these insight types.
    params : InsightParams or dict, optional
        Detector thresholds (see :class:`aihub.insights.InsightParams`).

    Returns
    -------
    list of InsightRecord
        The insights stored by this call (new, or expired ones found again),
        best first. A finding that is still valid is not returned again.

    Raises
    ------
    ValidationError
        For an unknown category, priority or a bad limit.
    PermissionDenied
        Without ``generate``.
    """
    require(principal, "generate")
    cats, min_prio = _check_filters(categories, min_priority, limit)
    now_utc = check_now(now)
    prm = InsightParams.from_dict(params)
    sources = collect_sources(principal, categories=cats, now=now_utc, params=prm)
    with tenant_session(principal.tenant_id) as s:
        existing = insight_store.valid_fingerprints(s, now_utc)
        feedback = insight_store.feedback_counts(s)
    found = generate_insights(sources.inputs, categories=cats, min_priority=min_prio, limit=limit, now=now_utc,
                              feedback=feedback, existing=existing, params=prm, types=types)
    with tenant_session(principal.tenant_id) as s:
        result = insight_store.store_insights(s, tenant_id=principal.tenant_id, insights=[_row(i) for i in found],
                                              user_id=principal.user_id, now=now_utc)
        records = insight_store.list_insights(s, now=now_utc, ids=result.ids, include_expired=True,
                                              limit=max(1, len(result.ids)))
    log.info("tenant %s: %d new and %d renewed insights from %s; skipped: %s", principal.tenant_id,
             len(result.inserted), len(result.revived), "; ".join(sources.used) or "nothing",
             "; ".join(sources.skipped) or "nothing")
    usage.record(principal, "insights", "generate")
    return records if result.ids else []


def generate_for_tenant(tenant_id: int, categories: str | Iterable[str] | None = None) -> int:
    """Generate a tenant's insights as its first active admin (the worker's schedule). Returns how many are new.

    Returns 0 when the tenant has no active admin.
    """
    with tenant_session(tenant_id) as s:
        admin = insight_store.first_active_admin(s)
    if admin is None:
        log.warning("tenant %s has no active admin; no insights generated", tenant_id)
        return 0
    user_id, username, name, tenant_name = admin
    principal = Principal(tenant_id, user_id, username, "admin", tenant_name, name)
    return len(generate(principal, categories))


def generate_all(categories: str | Iterable[str] | None = None, *, tenant_ids: Iterable[int] | None = None
                 ) -> dict[str, int]:
    """Generate every tenant's insights (the worker's daily task), each as its first active admin.

    One tenant's failure is logged and counted; the others still run.

    Parameters
    ----------
    tenant_ids : iterable of int, optional
        Only these tenants (default: all, listed through the owner connection).

    Returns
    -------
    dict
        ``{"tenants": tenants processed, "insights": new insights, "failed": tenants that failed}``.
    """
    if tenant_ids is None:
        with owner_session() as s:
            tenant_ids = insight_store.tenant_ids(s)
    out = {"tenants": 0, "insights": 0, "failed": 0}
    for tenant_id in tenant_ids:
        try:
            out["insights"] += generate_for_tenant(int(tenant_id), categories)
            out["tenants"] += 1
        except Exception:  # one tenant's bad data must not stop the others' insights
            log.exception("insights of tenant %s could not be generated", tenant_id)
            out["failed"] += 1
    return out


# ====================================================================== reading
def list_insights(
    principal: Principal,
    *,
    categories: str | Iterable[str] | None = None,
    min_priority: str | None = None,
    statuses: Iterable[str] | None = OPEN_STATUSES,
    types: Iterable[str] | None = None,
    include_expired: bool = False,
    limit: int = 200,
    now: datetime | None = None,
) -> list[InsightRecord]:
    """The tenant's insights, best first (score, then money at stake). Needs ``read``.

    Parameters
    ----------
    statuses : iterable of str, optional
        Default: the open ones (new, acknowledged, in progress); None: all.
    include_expired : bool
        Also insights whose validity period has ended.
    """
    require(principal, "read")
    cats, min_prio = _check_filters(categories, min_priority, None)
    sts = None if statuses is None else [check_choice(x, STATUSES, "statuses") for x in statuses]
    prios = None if min_prio is None else [x for x in PRIORITIES if priority_rank(x) >= priority_rank(min_prio)]
    with tenant_session(principal.tenant_id) as s:
        return insight_store.list_insights(s, now=check_now(now), categories=cats, priorities=prios, statuses=sts,
                                           types=types, include_expired=include_expired, limit=limit)


def get_insight(principal: Principal, insight_id: int) -> InsightRecord:
    """One insight. Needs ``read``; NotFound outside the organization."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return insight_store.get_insight(s, insight_id)


def insight_events(principal: Principal, insight_id: int) -> list[InsightEventRecord]:
    """Status changes and votes of an insight, oldest first. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        insight_store.get_insight(s, insight_id)
        return insight_store.list_events(s, insight_id)


def feedback_counts(principal: Principal) -> dict[str, dict[str, int]]:
    """Votes and dismissals per insight type, as fed to the engine. Needs ``read``."""
    require(principal, "read")
    with tenant_session(principal.tenant_id) as s:
        return insight_store.feedback_counts(s)


# ====================================================================== feedback
def set_status(principal: Principal, insight_id: int, status: str, reason: str | None = None) -> InsightRecord:
    """Move an insight to ``status``; a dismissal needs a reason. Needs ``feedback``.

    Every change is recorded in the insight's history with who and when.

    Raises
    ------
    ValidationError
        Unknown status, dismissal without a reason, a reason over 1000
        characters, or the insight already has this status.
    NotFound
        Outside the organization.
    """
    require(principal, "feedback")
    check_choice(status, STATUSES, "status")
    reason = (reason or "").strip() or None
    if status == "dismissed" and reason is None:
        raise ValidationError("Say why you dismiss this insight (the reason is kept with it).", field="reason")
    if reason is not None and len(reason) > MAX_REASON:
        raise ValidationError(f"The reason must have at most {MAX_REASON} characters.", field="reason")
    with tenant_session(principal.tenant_id) as s:
        current = insight_store.get_insight(s, insight_id, lock=True)
        if current.status == status:
            raise ValidationError(f"This insight is already {STATUS_LABELS[status].lower()}.", field="status")
        insight_store.set_status(s, tenant_id=principal.tenant_id, insight=current, status=status, reason=reason,
                                 actor_id=principal.user_id)
        out = insight_store.get_insight(s, insight_id)
    usage.record(principal, "insights", status)
    return out


def vote(principal: Principal, insight_id: int, useful: bool, note: str | None = None) -> InsightRecord:
    """Record whether the caller found an insight useful (their latest vote counts). Needs ``feedback``.

    "Not useful" votes, like dismissals, lower the priority of the insight's
    type in later generations; "useful" votes raise it a little.
    """
    require(principal, "feedback")
    if not isinstance(useful, (bool, np.bool_)):
        raise ValidationError(f"useful must be true or false; got {useful!r}", field="useful")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_REASON:
        raise ValidationError(f"The note must have at most {MAX_REASON} characters.", field="note")
    with tenant_session(principal.tenant_id) as s:
        current = insight_store.get_insight(s, insight_id)
        insight_store.add_vote(s, tenant_id=principal.tenant_id, insight=current, useful=bool(useful), note=note,
                               actor_id=principal.user_id)
        out = insight_store.get_insight(s, insight_id)
    usage.record(principal, "insights", "vote")
    return out


__all__ = [
    "OPEN_STATUSES",
    "STATUSES",
    "STATUS_LABELS",
    "DatasetRoles",
    "InsightEventRecord",
    "InsightRecord",
    "NotFound",
    "Sources",
    "collect_sources",
    "dataset_roles",
    "detect_roles",
    "feedback_counts",
    "generate",
    "generate_all",
    "generate_for_tenant",
    "get_insight",
    "insight_events",
    "list_insights",
    "rfm_snapshots",
    "set_dataset_roles",
    "set_status",
    "vote",
]
