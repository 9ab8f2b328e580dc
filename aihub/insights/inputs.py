"""Input contracts of the insight engine.

The engine reads plain pandas frames that the caller (database layer,
worker, tests) prepares; each contract validates its frame when it is built,
so a bad column shows up as one :class:`~aihub.errors.ValidationError` naming
the column and the columns that exist.

=====================  ==========================================================
contract               frame
=====================  ==========================================================
:class:`OrdersInput`   one row per order line; roles ``date``, ``amount``,
                       optional ``customer``, ``customer_name``, ``product``,
                       ``dimensions``
:class:`ForecastInput` the active forecast (``ds``, ``yhat``, ``yhat_lower_80``,
                       ``yhat_upper_80`` as from :mod:`aihub.forecasting`) and the
                       history it continues (``ds``, ``y``)
:class:`PredictionsInput` churn predictions: ``customer``, ``probability``
                       (0 to 1), ``revenue`` (currency), ``top_reasons`` (SHAP)
:class:`SegmentsInput` two RFM snapshots: ``customer``, ``segment``, optional
                       ``monetary``; or segment counts
:class:`AnomaliesInput` anomalies: ``id``, ``severity``, ``status``, ``impact``,
                       optional ``metric``, ``ts``, ``score``, ``slice``
=====================  ==========================================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from aihub.errors import ValidationError
from aihub.insights.model import CATEGORIES
from aihub.insights.params import FREQUENCIES, check_choice
from aihub.insights.tables import TableInput

ANOMALY_OPEN_STATUSES: tuple[str, ...] = ("new", "acknowledged", "investigating")
"""Anomaly statuses that count as open (as in :mod:`aihub.db.anomaly_store`)."""

_PERIOD_ALIAS = {"D": "D", "W": "W-SUN", "M": "M", "Q": "Q-DEC", "Y": "Y-DEC"}


# ---------------------------------------------------------------- helpers
def _require_frame(frame: Any, field_name: str) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, (list, tuple)):
        rows = [r if isinstance(r, Mapping) else getattr(r, "__dict__", r) for r in frame]
        return pd.DataFrame(list(rows))
    raise ValidationError(f"{field_name} must be a pandas DataFrame; got {type(frame).__name__}", field=field_name)


def _require_columns(frame: pd.DataFrame, columns: Mapping[str, str | None], what: str) -> None:
    for role, col in columns.items():
        if col is not None and col not in frame.columns:
            cols = ", ".join(map(str, list(frame.columns)[:30]))
            raise ValidationError(
                f"{what}: {role} column {col!r} is not in the table; columns: {cols}",
                field=role,
                details={"value": col, "allowed": [str(c) for c in frame.columns]},
            )


def _to_dates(values: pd.Series, column: str) -> pd.Series:
    """Naive datetimes from datetime or ISO-8601 text; other text is rejected."""
    if ptypes.is_datetime64_any_dtype(values.dtype):
        out = pd.to_datetime(values)
    else:
        out = pd.to_datetime(values, errors="coerce", format="ISO8601")
        bad = out.isna() & values.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"column {column!r} has values that are not ISO dates (row {i + 1}: {values.iloc[i]!r}); "
                "pass parsed datetimes (e.g. from aihub.ingest read_upload(...).typed())",
                field=column,
                details={"row": i + 1},
            )
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def _to_numbers(values: pd.Series, column: str) -> pd.Series:
    if ptypes.is_bool_dtype(values.dtype) or not ptypes.is_numeric_dtype(values.dtype):
        out = pd.to_numeric(values, errors="coerce")
        bad = out.isna() & values.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"column {column!r} must be numeric; row {i + 1} holds {values.iloc[i]!r}",
                field=column,
                details={"row": i + 1},
            )
        values = out
    return values.astype("float64")


def _text(values: pd.Series) -> pd.Series:
    """Object column of str (missing stays None), the same on pandas 2 and 3."""
    arr = values.astype(object).to_numpy()
    return pd.Series(
        [None if (v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA) else str(v) for v in arr],
        index=values.index,
        dtype=object,
    )


def period_index(dates: pd.Series, freq: str) -> pd.PeriodIndex:
    """Calendar periods (pandas ``Period``) of naive datetimes."""
    return pd.PeriodIndex(dates.dt.to_period(_PERIOD_ALIAS[freq]))


def period_label(period: pd.Period, freq: str) -> str:
    """Analyst label of a period: ``30 Dec 2022``, ``week of 26 Dec 2022``, ``Dec 2022``, ``Q4 2022``, ``2022``."""
    start = period.start_time
    if freq == "D":
        return f"{start.day} {start:%b %Y}"
    if freq == "W":
        return f"week of {start.day} {start:%b %Y}"
    if freq == "M":
        return f"{start:%b %Y}"
    if freq == "Q":
        return f"Q{period.quarter} {period.year}"
    return f"{period.year}"


def complete_periods(
    dates: pd.Series, values: pd.Series, freq: str, as_of: pd.Timestamp, *, check_coverage: bool = True
) -> pd.Series:
    """Sum ``values`` by calendar period, keeping complete periods only.

    A period is complete when it ended on or before ``as_of`` and (with
    ``check_coverage``) the data reach within a tolerance of its end (and of
    its start, for the first period): ``max(1 day, 10% of the period's
    length)``. Periods without rows in between are 0.

    Parameters
    ----------
    dates : Series of datetime64, shape (n,)
    values : Series of float, shape (n,)
        Amounts (currency) to sum.
    freq : {"D", "W", "M", "Q", "Y"}
    as_of : Timestamp
        Naive time after which data do not count ("now").

    Returns
    -------
    Series of float indexed by PeriodIndex, sorted, possibly empty.
    """
    keep = dates.notna() & values.notna() & (dates <= as_of)
    d, v = dates[keep], values[keep]
    if d.empty:
        return pd.Series(dtype="float64", index=pd.PeriodIndex([], freq=_PERIOD_ALIAS[freq]))
    per = period_index(d, freq)
    sums = v.groupby(per).sum()
    full = pd.period_range(per.min(), per.max(), freq=_PERIOD_ALIAS[freq])
    sums = sums.reindex(full, fill_value=0.0).astype("float64")
    dmin, dmax = d.min(), d.max()

    def tol(p: pd.Period) -> pd.Timedelta:
        return max(pd.Timedelta(days=1), (p.end_time - p.start_time) * 0.1)

    last = full[-1]
    if last.end_time > as_of or (check_coverage and dmax < last.end_time.normalize() - tol(last)):
        sums = sums.iloc[:-1]
    if len(sums) and check_coverage:
        first = sums.index[0]
        if dmin > first.start_time + tol(first):
            sums = sums.iloc[1:]
    return sums


# ---------------------------------------------------------------- contracts
@dataclass
class OrdersInput:
    """Orders (or any money events) for trend, change, drivers and concentration.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, ...)
        One row per order line.
    date : str
        Order-date column: datetime64 or ISO-8601 text (parse other formats
        first, e.g. with ``read_upload(...).typed()``).
    amount : str
        Numeric money column (currency units), e.g. ``"Sales"``.
    customer : str, optional
        Customer id column; enables customer concentration.
    customer_name : str, optional
        Display name of the customer, used in narratives instead of the id.
    product : str, optional
        Product column; enables product concentration.
    dimensions : sequence of str
        Categorical columns whose slices may explain a change (``["Region",
        "Category"]``).
    metric : str, default "sales"
        Business name of ``amount`` in narratives ("sales", "revenue").
    category : {"sales", "customer", "operations", "finance"}, default "sales"
        Category of trend, change and driver insights on this metric.
    currency : str, default "USD"
    dataset_id : int or str, optional
        Linked as ``{"kind": "dataset", "id": dataset_id}`` evidence.
    dataset_name : str, optional
    pre_aggregated : bool, default False
        Rows are already totals per period (e.g. one row per month dated the
        1st). Then a period counts as complete as soon as it has ended;
        otherwise the data must also reach close to its end (see
        :func:`complete_periods`).

    Raises
    ------
    ValidationError
        A role names a missing column (``field`` = the role), dates are not
        dates, amounts are not numbers, or the table has no usable rows.
    """

    frame: pd.DataFrame
    date: str
    amount: str
    customer: str | None = None
    customer_name: str | None = None
    product: str | None = None
    dimensions: Sequence[str] = ()
    metric: str = "sales"
    category: str = "sales"
    currency: str = "USD"
    dataset_id: Any = None
    dataset_name: str | None = None
    pre_aggregated: bool = False
    data: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        frame = _require_frame(self.frame, "orders")
        if isinstance(self.dimensions, str):
            self.dimensions = (self.dimensions,)
        self.dimensions = tuple(self.dimensions)
        roles = {
            "date": self.date,
            "amount": self.amount,
            "customer": self.customer,
            "customer_name": self.customer_name,
            "product": self.product,
        }
        _require_columns(frame, roles, "orders")
        _require_columns(frame, {f"dimensions[{i}]": d for i, d in enumerate(self.dimensions)}, "orders")
        check_choice(self.category, CATEGORIES, "category")
        data = pd.DataFrame(
            {"date": _to_dates(frame[self.date], self.date), "amount": _to_numbers(frame[self.amount], self.amount)},
            index=frame.index,
        )
        for role in ("customer", "customer_name", "product"):
            col = getattr(self, role)
            if col is not None:
                data[role] = _text(frame[col])
        for d in self.dimensions:
            data[f"dim:{d}"] = _text(frame[d])
        data = data[data["date"].notna() & data["amount"].notna()].reset_index(drop=True)
        if data.empty:
            raise ValidationError("orders: no row has both a date and an amount", field="date")
        self.data = data

    def periods(self, freq: str, as_of: pd.Timestamp) -> pd.Series:
        """Complete-period totals of ``amount`` (see :func:`complete_periods`)."""
        return complete_periods(
            self.data["date"], self.data["amount"], freq, as_of, check_coverage=not self.pre_aggregated
        )

    @classmethod
    def from_roles(cls, frame: pd.DataFrame, roles: Mapping[str, Any], **kwargs: Any) -> OrdersInput:
        """Build from ``{"date": ..., "amount": ..., "customer": ..., "dimensions": [...]}``."""
        allowed = ("date", "amount", "customer", "customer_name", "product", "dimensions")
        for k in roles:
            check_choice(k, allowed, "roles key")
        for k in ("date", "amount"):
            if k not in roles:
                raise ValidationError(f"roles must name the {k!r} column; got {dict(roles)!r}", field=k)
        return cls(frame, **dict(roles), **kwargs)


@dataclass
class ForecastInput:
    """The active forecast of a metric, and the history it continues.

    Parameters
    ----------
    forecast : pandas.DataFrame, shape (horizon, >= 4)
        Columns ``ds`` (period start, datetime), ``yhat``,
        ``yhat_lower_80``, ``yhat_upper_80`` (currency per period), as
        ``ForecastResult.forecast`` of :mod:`aihub.forecasting`; extra columns
        are ignored. Rows at or before the last history date are dropped.
    history : pandas.DataFrame, optional
        ``ds``, ``y`` on the same grid (``prepare_series`` output). Needed
        unless ``target`` is given.
    freq : {"D", "W", "M"}, default "M"
    metric : str, default "sales"
    target : float, optional
        Planned total over the forecast horizon (currency).
    model_id : int or str, optional
        Linked as ``{"kind": "model", "id": model_id}``.
    model_name : str, optional
    category : str, default "finance"
    currency : str, default "USD"
    """

    forecast: pd.DataFrame
    history: pd.DataFrame | None = None
    freq: str = "M"
    metric: str = "sales"
    target: float | None = None
    model_id: Any = None
    model_name: str | None = None
    category: str = "finance"
    currency: str = "USD"

    def __post_init__(self) -> None:
        check_choice(self.freq, ("D", "W", "M"), "freq")
        check_choice(self.category, CATEGORIES, "category")
        fc = _require_frame(self.forecast, "forecast")
        _require_columns(
            fc,
            {"ds": "ds", "yhat": "yhat", "yhat_lower_80": "yhat_lower_80", "yhat_upper_80": "yhat_upper_80"},
            "forecast",
        )
        out = pd.DataFrame({"ds": _to_dates(fc["ds"], "ds")})
        for c in ("yhat", "yhat_lower_80", "yhat_upper_80"):
            out[c] = _to_numbers(fc[c], c).to_numpy()
        self.forecast = out.dropna().sort_values("ds").reset_index(drop=True)
        if self.history is not None:
            h = _require_frame(self.history, "history")
            _require_columns(h, {"ds": "ds", "y": "y"}, "history")
            hist = pd.DataFrame({"ds": _to_dates(h["ds"], "ds"), "y": _to_numbers(h["y"], "y").to_numpy()})
            self.history = hist.dropna().sort_values("ds").reset_index(drop=True)
            if len(self.history):
                self.forecast = self.forecast[self.forecast["ds"] > self.history["ds"].max()].reset_index(drop=True)
        if self.target is not None:
            from aihub.insights.params import check_number

            self.target = check_number(self.target, "target", low=0, low_open=True)
        if self.history is None and self.target is None:
            raise ValidationError("forecast: give the history (ds, y) or a target to compare with", field="history")
        if self.forecast.empty:
            raise ValidationError("forecast: no forecast rows after the end of the history", field="forecast")


def _parse_reasons(cell: Any) -> list[tuple[str, float]]:
    """``[(feature, contribution), ...]`` from a list of dicts / pairs / names or their JSON text."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    if isinstance(cell, str):
        text = cell.strip()
        if text.startswith(("[", "{")):
            try:
                cell = json.loads(text)
            except ValueError:
                return [(text, float("nan"))]
        else:
            return [(s.strip(), float("nan")) for s in text.split(";") if s.strip()]
    if isinstance(cell, Mapping):
        cell = [{"feature": k, "contribution": v} for k, v in cell.items()]
    out = []
    for item in list(cell):
        if isinstance(item, Mapping):
            name = item.get("feature", item.get("name"))
            contrib = item.get("contribution", item.get("shap", float("nan")))
        elif isinstance(item, (list, tuple)) and len(item) >= 2:
            name, contrib = item[0], item[1]
        else:
            name, contrib = item, float("nan")
        if name is None:
            continue
        try:
            c = float(contrib) if contrib is not None else float("nan")
        except (TypeError, ValueError):
            c = float("nan")
        out.append((str(name), c))
    return out


def top_reasons(contributions: pd.DataFrame, k: int = 3, values: pd.DataFrame | None = None) -> pd.Series:
    """The ``k`` largest positive SHAP contributions of each row, as a ``top_reasons`` column.

    Parameters
    ----------
    contributions : pandas.DataFrame, shape (n_rows, n_features)
        ``Explanation.contributions`` of :func:`aihub.ml.explain` (towards
        the churn class).
    k : int, default 3
    values : pandas.DataFrame, optional, shape (n_rows, n_features)
        ``Explanation.values``: categorical (text) values are added to the
        feature name (``"Contract = Month-to-month"``), so reasons name the
        category; numeric features keep their bare name.

    Returns
    -------
    pandas.Series of list of dict, shape (n_rows,)
        ``[{"feature": name, "contribution": value}, ...]``, largest first,
        positive contributions only; same index as ``contributions``.
    """
    names = [str(c) for c in contributions.columns]
    vals = contributions.to_numpy(dtype=float)
    cells = values[contributions.columns].to_numpy(dtype=object) if values is not None else None
    out = []
    for i, row in enumerate(vals):
        order = np.argsort(-row, kind="stable")[:k]
        items = []
        for j in order:
            if row[j] <= 0:
                continue
            name = names[j]
            if cells is not None:
                v = cells[i, j]
                if isinstance(v, str) and v.strip():
                    name = f"{name} = {v}"
            items.append({"feature": name, "contribution": float(row[j])})
        out.append(items)
    return pd.Series(out, index=contributions.index, dtype=object)


@dataclass
class PredictionsInput:
    """Churn predictions with their SHAP reasons.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_customers, ...)
        One row per scored customer.
    probability : str, default "probability"
        Churn probability column, 0 to 1.
    revenue : str, optional, default "revenue"
        Revenue per customer (currency, e.g. last 12 months); ``None`` if
        unknown. The defaults of ``revenue``, ``reasons`` and ``customer``
        may be absent from the frame; other names must exist.
    reasons : str, optional, default "top_reasons"
        Per row, the features pushing churn up: a list of
        ``{"feature", "contribution"}`` dicts, ``(feature, contribution)``
        pairs, or names (largest first); JSON text of these; or
        ``"a; b; c"``. See :func:`top_reasons` to build it from SHAP
        contributions.
    customer : str, optional, default "customer"
    revenue_label : str, default "annual revenue"
        What ``revenue`` measures, for narratives.
    feature_labels : dict, optional
        Business names of features (``{"recency_days": "months since last order"}``).
    model_id, model_name : optional
        Linked as model evidence.
    as_of : date-like, optional
        When the predictions were made; the insight's period is its ISO week
        (default: the generation time's week).
    currency : str, default "USD"
    """

    frame: pd.DataFrame
    probability: str = "probability"
    revenue: str | None = "revenue"
    reasons: str | None = "top_reasons"
    customer: str | None = "customer"
    revenue_label: str = "annual revenue"
    feature_labels: Mapping[str, str] = field(default_factory=dict)
    model_id: Any = None
    model_name: str | None = None
    as_of: Any = None
    currency: str = "USD"
    data: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        frame = _require_frame(self.frame, "predictions")
        if self.customer is not None and self.customer not in frame.columns and self.customer == "customer":
            self.customer = None
        if self.reasons is not None and self.reasons not in frame.columns and self.reasons == "top_reasons":
            self.reasons = None
        if self.revenue is not None and self.revenue not in frame.columns and self.revenue == "revenue":
            self.revenue = None
        _require_columns(
            frame,
            {
                "probability": self.probability,
                "revenue": self.revenue,
                "reasons": self.reasons,
                "customer": self.customer,
            },
            "predictions",
        )
        p = _to_numbers(frame[self.probability], self.probability)
        bad = p.notna() & ((p < 0) | (p > 1))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"predictions: probability must be in [0, 1]; row {i + 1} holds {p.iloc[i]!r}",
                field=self.probability,
                details={"row": i + 1, "allowed": "[0, 1]"},
            )
        data = pd.DataFrame({"probability": p.to_numpy()})
        data["revenue"] = (
            _to_numbers(frame[self.revenue], self.revenue).to_numpy() if self.revenue is not None else np.nan
        )
        data["customer"] = _text(frame[self.customer]).to_numpy() if self.customer is not None else None
        data["reasons"] = (
            [_parse_reasons(c) for c in frame[self.reasons].to_numpy()]
            if self.reasons is not None
            else [[] for _ in range(len(frame))]
        )
        self.data = data[data["probability"].notna()].reset_index(drop=True)
        if self.as_of is not None:
            try:
                self.as_of = pd.Timestamp(self.as_of)
            except (TypeError, ValueError):
                raise ValidationError(f"as_of must be a date; got {self.as_of!r}", field="as_of") from None


def _counts_or_frame(obj: Any, customer: str, segment: str, monetary: str | None, which: str):
    if isinstance(obj, pd.Series) and not isinstance(obj.index, pd.RangeIndex):
        return obj.astype(float), None
    if isinstance(obj, Mapping):
        return pd.Series({str(k): float(v) for k, v in obj.items()}), None
    frame = _require_frame(obj, which)
    _require_columns(frame, {"segment": segment, "customer": customer}, which)
    cols = {"customer": _text(frame[customer]).to_numpy(), "segment": _text(frame[segment]).to_numpy()}
    if monetary is not None and monetary in frame.columns:
        cols["monetary"] = _to_numbers(frame[monetary], monetary).to_numpy()
    data = pd.DataFrame(cols)
    data = data[data["segment"].notna()].drop_duplicates("customer", keep="last").reset_index(drop=True)
    return data["segment"].value_counts().astype(float), data


@dataclass
class SegmentsInput:
    """Two snapshots of customer segments (e.g. RFM segments of two months).

    Parameters
    ----------
    before, after : pandas.DataFrame or mapping
        Per customer: columns ``customer``, ``segment`` and optionally
        ``monetary`` (spend, currency) -- e.g. :func:`aihub.ml.rfm_table`
        joined with its segment names; or ``{segment: count}`` mappings
        (no migration figures then).
    before_date, after_date : date-like
        Dates of the snapshots.
    customer, segment : str
        Column names.
    monetary : str, optional, default "monetary"
        Spend column (used when present).
    model_id : optional
        Segmentation model, linked as evidence.
    currency : str, default "USD"
    """

    before: Any
    after: Any
    before_date: Any
    after_date: Any
    customer: str = "customer"
    segment: str = "segment"
    monetary: str | None = "monetary"
    model_id: Any = None
    currency: str = "USD"
    counts_before: pd.Series = field(init=False, repr=False)
    counts_after: pd.Series = field(init=False, repr=False)
    rows_before: pd.DataFrame | None = field(init=False, repr=False)
    rows_after: pd.DataFrame | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.counts_before, self.rows_before = _counts_or_frame(
            self.before, self.customer, self.segment, self.monetary, "before"
        )
        self.counts_after, self.rows_after = _counts_or_frame(
            self.after, self.customer, self.segment, self.monetary, "after"
        )
        for name in ("before_date", "after_date"):
            try:
                setattr(self, name, pd.Timestamp(getattr(self, name)))
            except (TypeError, ValueError):
                raise ValidationError(f"{name} must be a date; got {getattr(self, name)!r}", field=name) from None
        if not self.before_date < self.after_date:
            raise ValidationError(
                f"before_date {self.before_date.date()} must be earlier than after_date {self.after_date.date()}",
                field="before_date",
            )
        if self.counts_before.sum() <= 0 or self.counts_after.sum() <= 0:
            raise ValidationError("segments: a snapshot has no customers", field="before")


@dataclass
class AnomaliesInput:
    """Detected anomalies and their triage state.

    Parameters
    ----------
    frame : pandas.DataFrame or list of records
        Columns ``id``, ``severity`` (low/medium/high/critical), ``status``
        (new, acknowledged, investigating = open; resolved, false_positive)
        and ``impact`` (signed money, negative = loss, NaN when unknown);
        optional ``metric``, ``ts``, ``score`` (anomaly score 0 to 1),
        ``slice``, ``monitor_name``. ``AnomalyRecord`` objects of
        :mod:`aihub.db.anomaly_store` can be passed as a list.
    open_statuses : tuple of str
    currency : str, default "USD"
    """

    frame: Any
    open_statuses: tuple[str, ...] = ANOMALY_OPEN_STATUSES
    currency: str = "USD"
    data: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        frame = _require_frame(self.frame, "anomalies")
        _require_columns(
            frame, {"id": "id", "severity": "severity", "status": "status", "impact": "impact"}, "anomalies"
        )
        data = pd.DataFrame(
            {
                "id": frame["id"].to_numpy(),
                "severity": _text(frame["severity"]).str.lower().to_numpy(),
                "status": _text(frame["status"]).str.lower().to_numpy(),
                "impact": _to_numbers(frame["impact"], "impact").to_numpy(),
            }
        )
        allowed = ("low", "medium", "high", "critical")
        bad = ~data["severity"].isin(allowed)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"anomalies: severity must be one of {', '.join(allowed)}; row {i + 1} holds {data['severity'].iloc[i]!r}",
                field="severity",
                details={"row": i + 1, "allowed": list(allowed)},
            )
        for c in ("metric", "slice", "monitor_name"):
            data[c] = _text(frame[c]).to_numpy() if c in frame.columns else None
        data["ts"] = _to_dates(frame["ts"], "ts").to_numpy() if "ts" in frame.columns else pd.NaT
        data["score"] = _to_numbers(frame["score"], "score").to_numpy() if "score" in frame.columns else np.nan
        self.data = data


@dataclass
class InsightInputs:
    """Everything :func:`aihub.insights.generate_insights` may summarise; every part is optional.

    Parameters
    ----------
    orders : OrdersInput or list of OrdersInput
    forecasts : ForecastInput or list of ForecastInput
    predictions : PredictionsInput or list of PredictionsInput
    segments : SegmentsInput or list of SegmentsInput
    anomalies : AnomaliesInput, optional
    tables : TableInput or list of TableInput
        Any tables with the roles the analyst confirmed
        (:class:`aihub.insights.tables.TableInput`).
    sentiments : SentimentInput or list of SentimentInput
        Scored texts of the deployed sentiment analytics
        (:class:`aihub.insights.sentiment_insights.SentimentInput`).
    """

    orders: Any = None
    forecasts: Any = None
    predictions: Any = None
    segments: Any = None
    anomalies: Any = None
    tables: Any = None
    sentiments: Any = None

    def __post_init__(self) -> None:
        from aihub.insights.sentiment_insights import SentimentInput

        for name, cls in (
            ("orders", OrdersInput),
            ("forecasts", ForecastInput),
            ("predictions", PredictionsInput),
            ("segments", SegmentsInput),
            ("anomalies", AnomaliesInput),
            ("tables", TableInput),
            ("sentiments", SentimentInput),
        ):
            value = getattr(self, name)
            items = [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if not isinstance(item, cls):
                    raise ValidationError(
                        f"{name} must be {cls.__name__} objects; got {type(item).__name__}", field=name
                    )
            setattr(self, name, items)

    @classmethod
    def coerce(cls, value: Any) -> InsightInputs:
        """Accept an :class:`InsightInputs` or a dict with its keys."""
        if isinstance(value, InsightInputs):
            return value
        if isinstance(value, Mapping):
            allowed = ("orders", "forecasts", "predictions", "segments", "anomalies", "tables", "sentiments")
            for k in value:
                check_choice(k, allowed, "inputs key")
            return cls(**dict(value))
        raise ValidationError(f"inputs must be InsightInputs or a dict; got {type(value).__name__}", field="inputs")


def as_naive_utc(t: datetime | date) -> pd.Timestamp:
    """A timezone-aware datetime as a naive UTC Timestamp (the data's clock)."""
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(UTC).tz_localize(None)
    return ts


__all__ = [
    "ANOMALY_OPEN_STATUSES",
    "FREQUENCIES",
    "AnomaliesInput",
    "ForecastInput",
    "InsightInputs",
    "OrdersInput",
    "PredictionsInput",
    "SegmentsInput",
    "complete_periods",
    "period_label",
    "top_reasons",
]
