"""Explaining an anomaly: which slices drove it, which metric moved, what it cost.

* :func:`dimension_breakdown` splits the deviation of a metric in one period
  across the values of a dimension. For an alarm on one slice (``within=``,
  e.g. type = conventional) it splits the change over the *other* dimensions
  among that slice's rows only: a series cannot explain itself (issue 9, "root
  cause repeats the series"). Each slice's deviation from *its own*
  expected value (from a causal detector run on that slice's series) is
  divided by the sum of the slices' deviations, the "explanatory power" of
  Adtributor (Bhagwan et al. 2014, "Adtributor: revenue debugging in
  advertising systems", NSDI). Shares sum to 100%; a slice moving against
  the overall direction gets a negative share.
* :func:`metric_movers` ranks the monitored metrics of one slice and period
  by their deviation in robust standard deviations.
* :func:`business_impact` converts a deviation into money with the metric's
  unit value, signed, and states the assumption.
* :func:`snapshot` gives the points around an anomaly with the expected
  range (:func:`aihub.charts.anomalies.snapshot_figure` draws it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from aihub.anomaly.config import MonitorConfig
from aihub.anomaly.detectors import detect
from aihub.anomaly.metrics import MISSING_SLICE, TOTAL, _period_start, build_metric_frame
from aihub.anomaly.splits import cap_split_values
from aihub.errors import ValidationError


def _cfg(config: MonitorConfig | Mapping[str, Any]) -> MonitorConfig:
    return config if isinstance(config, MonitorConfig) else MonitorConfig.from_dict(config)


def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:,.2f}"


def _period(ts: Any, cfg: MonitorConfig) -> pd.Timestamp:
    try:
        t = pd.Timestamp(ts)
    except (ValueError, TypeError):
        raise ValidationError(f"timestamp {ts!r} is not a date.", field="timestamp") from None
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return pd.Timestamp(_period_start(pd.Series([t]), cfg.detection_frequency).iloc[0])


def dimension_breakdown(
    config: MonitorConfig | Mapping[str, Any],
    metric: str,
    timestamp: Any,
    *,
    orders_df: pd.DataFrame | None = None,
    metric_frame: pd.DataFrame | None = None,
    scored: pd.DataFrame | None = None,
    dimension: str | None = None,
    within: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Share of a period's deviation explained by each slice of a dimension.

    Give the data as raw rows (``orders_df``), an aggregated ``metric_frame``
    (:func:`~aihub.anomaly.metrics.build_metric_frame`) or an already scored
    frame (``scored``, from :func:`~aihub.anomaly.metrics.detect_metric_frame`,
    whose ``expected`` values are reused).

    Parameters
    ----------
    config : MonitorConfig or dict
    metric : str
        A defined metric.
    timestamp : datetime-like
        Any time inside the anomalous period.
    orders_df, metric_frame, scored : pandas.DataFrame
        Exactly one of them.
    dimension : str, optional
        One of ``config.dimensions``; default all of them (but ``within``'s).
    within : (dimension, slice), optional
        The series the alarm is on. For a slice (not ``("total", "total")``)
        only that slice's rows are broken down, over the other dimensions;
        this needs ``orders_df``. When the monitor has no other dimension the
        result is empty and ``attrs["note"]`` says why.

    Returns
    -------
    pandas.DataFrame
        One row per slice, columns ``dimension``, ``slice``, ``actual``,
        ``expected``, ``deviation`` (actual - expected), ``share`` (fraction
        of the summed slice deviations, 1.0 = 100%), ``z`` (deviation in
        robust standard deviations) and ``explanation`` (a sentence such as
        "West (Region) explains 78% of the drop in daily_revenue: 120.00 vs
        expected 1,450.00."). Sorted by dimension then share, largest first.
        ``attrs["total_deviation"]`` holds the summed deviation per dimension.

    Raises
    ------
    aihub.errors.ValidationError
        Unknown metric/dimension, no data source or several, no data in the
        period.
    """
    cfg = _cfg(config)
    m = cfg.metric(metric)
    given = [x is not None for x in (orders_df, metric_frame, scored)]
    if sum(given) != 1:
        raise ValidationError("Pass exactly one of orders_df, metric_frame or scored.", field="orders_df")
    if dimension is not None and dimension not in cfg.dimensions:
        raise ValidationError(
            f"Unknown dimension {dimension!r}; the monitor slices by {list(cfg.dimensions)}.",
            field="dimension",
            details={"value": repr(dimension), "allowed": list(cfg.dimensions)},
        )
    dims = [dimension] if dimension else list(cfg.dimensions)
    if not dims:
        raise ValidationError("The monitor has no dimensions to break the metric down by.", field="dimensions")
    scope = ""
    if within is not None and within[0] != TOTAL:
        orders_df, dims, scope = _within_slice(cfg, within, dims, dimension, orders_df)
        if not dims:
            return _no_other_dimension(within)
    period = _period(timestamp, cfg)
    rows = []
    if scored is not None:
        s = scored[(scored["metric"] == metric) & scored["dimension"].isin(dims)]
        s = s[pd.to_datetime(s["timestamp"]) == period]
        for _, r in s.iterrows():
            rows.append((r["dimension"], r["slice"], float(r["value"]), float(r["expected"]), float(r["z"])))
    else:
        frame = metric_frame if metric_frame is not None else build_metric_frame(orders_df, cfg)
        frame = frame[frame["dimension"].isin(dims) & (pd.to_datetime(frame["timestamp"]) <= period)]
        for (d, sl), grp in frame.groupby(["dimension", "slice"], sort=False):
            grp = grp.sort_values("timestamp")
            if grp.empty or pd.Timestamp(grp["timestamp"].iloc[-1]) != period:
                continue
            pts = pd.DataFrame({"timestamp": grp["timestamp"].to_numpy(), "value": grp[metric].to_numpy(float)})
            out = detect(pts, cfg.detector if cfg.algorithm != "isolation_forest" else {"algorithm": "robust_seasonal"}, cfg.thresholds)
            last = out.iloc[-1]
            rows.append((d, sl, float(last["value"]), float(last["expected"]), float(last["z"])))
    if not rows:
        raise ValidationError(f"No data for {metric} in the period starting {period}.", field="timestamp")
    res = pd.DataFrame(rows, columns=["dimension", "slice", "actual", "expected", "z"])
    res["deviation"] = res["actual"] - res["expected"]
    totals = res.groupby("dimension")["deviation"].sum(min_count=1)
    res["share"] = res["deviation"] / res["dimension"].map(totals).where(lambda t: t != 0)
    additive = m.agg in ("sum", "count", "nunique")
    texts = []
    for _, r in res.iterrows():
        total = totals[r["dimension"]]
        word = "drop" if total < 0 else "rise"
        if np.isfinite(r["share"]):
            t = (
                f"{r['slice']} ({r['dimension']}) explains {r['share']:.0%} of the {word} in {metric}{scope}: "
                f"{_fmt(r['actual'])} vs expected {_fmt(r['expected'])}."
            )
        else:
            t = f"{r['slice']} ({r['dimension']}): {_fmt(r['actual'])} vs expected {_fmt(r['expected'])} (no expected value yet)."
        if not additive:
            t += f" {metric} is a {m.agg}, not additive across slices: shares are indicative."
        texts.append(t)
    res["explanation"] = texts
    res = res.sort_values(["dimension", "share"], ascending=[True, False], na_position="last", kind="stable")
    res = res[["dimension", "slice", "actual", "expected", "deviation", "share", "z", "explanation"]].reset_index(drop=True)
    res.attrs["total_deviation"] = {k: float(v) for k, v in totals.items()}
    res.attrs["period"] = period
    return res


_BREAKDOWN_COLUMNS = ["dimension", "slice", "actual", "expected", "deviation", "share", "z", "explanation"]


def _within_slice(cfg: MonitorConfig, within: tuple[str, str], dims: list[str], dimension: str | None,
                  orders_df: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str], str]:
    """The rows of the alarm's slice, the other dimensions, and the words " within <slice> (<dimension>)"."""
    own, value = within
    if own not in cfg.dimensions:
        raise ValidationError(f"Unknown dimension {own!r} in within; the monitor slices by {list(cfg.dimensions)}.",
                              field="within", details={"value": repr(own), "allowed": list(cfg.dimensions)})
    if dimension == own:
        raise ValidationError(f"A series split by {own} cannot be explained by {own} itself; choose another "
                              "dimension.", field="dimension", details={"value": own})
    if orders_df is None:
        raise ValidationError("Breaking down one slice's change needs the raw rows: pass orders_df.",
                              field="orders_df")
    capped = cap_split_values(orders_df, cfg)
    keys = capped[own].astype("string").fillna(MISSING_SLICE)
    return orders_df[(keys == str(value)).to_numpy()], [d for d in dims if d != own], f" within {value} ({own})"


def _no_other_dimension(within: tuple[str, str]) -> pd.DataFrame:
    res = pd.DataFrame(columns=_BREAKDOWN_COLUMNS)
    res.attrs["note"] = (f"The monitor splits only by {within[0]}, so the change in {within[1]} ({within[0]}) "
                         "cannot be broken down further; add another dimension to the monitor to see what drove it.")
    res.attrs["total_deviation"] = {}
    return res


def metric_movers(
    scored: pd.DataFrame,
    timestamp: Any,
    *,
    dimension: str = TOTAL,
    slice: str = TOTAL,
) -> pd.DataFrame:
    """Rank the monitored metrics of one slice and period by how far they moved.

    Parameters
    ----------
    scored : pandas.DataFrame
        From :func:`~aihub.anomaly.metrics.detect_metric_frame`.
    timestamp : datetime-like
        The period (exact period start as in ``scored``).
    dimension, slice : str, default "total"

    Returns
    -------
    pandas.DataFrame
        Columns ``metric``, ``value``, ``expected``, ``deviation``, ``z``
        (robust standard deviations), ``anomaly_score``, ``is_anomaly``,
        ``explanation``; sorted by ``|z|`` descending.
    """
    t = pd.Timestamp(timestamp)
    s = scored[(scored["dimension"] == dimension) & (scored["slice"] == slice)]
    s = s[pd.to_datetime(s["timestamp"]) == t].copy()
    if s.empty:
        raise ValidationError(f"No scored points for {dimension}={slice} at {t}.", field="timestamp")
    s["deviation"] = s["value"] - s["expected"]
    s = s.assign(_abs=s["z"].abs()).sort_values("_abs", ascending=False, na_position="last").drop(columns="_abs")
    s["explanation"] = [
        f"{r.metric} moved {abs(r.z):.1f} standard deviations {'above' if r.z > 0 else 'below'} expected "
        f"({_fmt(r.value)} vs {_fmt(r.expected)})." if np.isfinite(r.z) else f"{r.metric}: no expected value yet."
        for r in s.itertuples()
    ]
    cols = ["metric", "value", "expected", "deviation", "z", "anomaly_score", "is_anomaly", "explanation"]
    return s[cols].reset_index(drop=True)


@dataclass(frozen=True)
class BusinessImpact:
    """Money impact of a deviation.

    Attributes
    ----------
    amount : float or None
        ``(actual - expected) * unit_value`` in ``currency``; negative is a
        loss. None when the metric has no unit value.
    currency : str
    deviation : float
        ``actual - expected`` in metric units.
    unit_value : float or None
    metric : str
    assumption : str
        How the amount was computed and what it assumes.
    text : str
        One sentence for the anomaly page.
    """

    amount: float | None
    currency: str
    deviation: float
    unit_value: float | None
    metric: str
    assumption: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def business_impact(
    actual: float,
    expected: float,
    unit_value: float | None,
    *,
    metric: str,
    currency: str = "USD",
) -> BusinessImpact:
    """Signed money impact of one period's deviation.

    Parameters
    ----------
    actual, expected : float
        Observed and expected metric value of the period.
    unit_value : float or None
        Money per metric unit (1.0 for revenue); None gives no amount.
    metric : str
    currency : str, default "USD"

    Returns
    -------
    BusinessImpact

    Raises
    ------
    aihub.errors.ValidationError
        Non-finite actual/expected/unit value.
    """
    for name, v in (("actual", actual), ("expected", expected)):
        if v is None or not np.isfinite(float(v)):
            raise ValidationError(f"{name} must be a finite number; got {v!r}.", field=name)
    dev = float(actual) - float(expected)
    if unit_value is None:
        assumption = (
            f"No unit value is set for {metric}, so the impact is not expressed in money; "
            f"the deviation is {dev:+,.2f} {metric} units (actual minus expected)."
        )
        return BusinessImpact(None, currency, dev, None, metric, assumption, assumption)
    if not np.isfinite(float(unit_value)):
        raise ValidationError(f"unit_value must be a finite number; got {unit_value!r}.", field="unit_value")
    amount = dev * float(unit_value)
    assumption = (
        f"Impact = (actual - expected) x unit value = ({_fmt(float(actual))} - {_fmt(float(expected))}) x "
        f"{float(unit_value):,.2f} {currency} per unit of {metric}. Assumes the expected value is what would "
        f"have happened without the anomaly and every unit is worth the same; effects on later periods are not counted."
    )
    word = "loss" if amount < 0 else "gain"
    text = f"Estimated {word} of {abs(amount):,.2f} {currency} ({metric} {dev:+,.2f} vs expected)."
    return BusinessImpact(amount, currency, dev, float(unit_value), metric, assumption, text)


def impact_for(config: MonitorConfig | Mapping[str, Any], metric: str, actual: float, expected: float) -> BusinessImpact:
    """:func:`business_impact` with the unit value and currency of a monitor's metric."""
    cfg = _cfg(config)
    return business_impact(actual, expected, cfg.metric(metric).unit_value, metric=metric, currency=cfg.currency)


def snapshot(
    scored: pd.DataFrame,
    timestamp: Any,
    *,
    before: int = 30,
    after: int = 7,
    metric: str | None = None,
    dimension: str | None = None,
    slice: str | None = None,
) -> pd.DataFrame:
    """Points around an anomaly, with the expected range, for charting.

    Parameters
    ----------
    scored : pandas.DataFrame
        Scored points of one series (:func:`~aihub.anomaly.detectors.detect`)
        or many (:func:`~aihub.anomaly.metrics.detect_metric_frame`; then give
        ``metric`` and, unless total, ``dimension`` and ``slice``).
    timestamp : datetime-like
        The anomaly; the last point at or before it is the focus.
    before, after : int
        Points to include before and after the focus.

    Returns
    -------
    pandas.DataFrame
        The rows of the window in time order with columns ``timestamp``,
        ``value``, ``expected``, ``lower``, ``upper``, ``anomaly_score``,
        ``is_anomaly``, ``severity`` and ``is_focus`` (True on the anomaly).
    """
    if before < 0 or after < 0:
        raise ValidationError("before and after must be >= 0.", field="before" if before < 0 else "after")
    s = scored
    if "metric" in s.columns:
        if metric is None:
            raise ValidationError("scored has several metrics: pass metric=.", field="metric")
        s = s[(s["metric"] == metric) & (s["dimension"] == (dimension or TOTAL)) & (s["slice"] == (slice or TOTAL))]
    s = s.assign(timestamp=pd.to_datetime(s["timestamp"])).sort_values("timestamp", kind="stable").reset_index(drop=True)
    t = pd.Timestamp(timestamp)
    pos = int(np.searchsorted(s["timestamp"].to_numpy(), np.datetime64(t), side="right")) - 1
    if pos < 0:
        raise ValidationError(f"No points at or before {t}.", field="timestamp")
    win = s.iloc[max(0, pos - before) : pos + after + 1].copy()
    win["is_focus"] = False
    win.loc[pos, "is_focus"] = True
    cols = ["timestamp", "value", "expected", "lower", "upper", "anomaly_score", "is_anomaly", "severity", "is_focus"]
    return win[[c for c in cols if c in win.columns]].reset_index(drop=True)
