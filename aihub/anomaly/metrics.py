"""Aggregate raw rows into per-period metric series and score them.

:func:`build_metric_frame` turns order lines (or any event rows) into one row
per period and slice; :func:`detect_metric_frame` runs the monitor's detector
on every (slice, metric) series, in batch or streaming mode.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from aihub.anomaly.config import FREQUENCIES, NUMERIC_AGGREGATIONS, OTHER_SLICE, MonitorConfig
from aihub.anomaly.detectors import OUTPUT_COLUMNS, init_state, update
from aihub.anomaly.splits import cap_split_values
from aihub.errors import ValidationError

TOTAL = "total"
"""``dimension`` and ``slice`` value of the all-rows series."""

MISSING_SLICE = "(missing)"
"""``slice`` value for rows whose dimension cell is empty."""

KEY_COLUMNS: tuple[str, ...] = ("timestamp", "dimension", "slice")

SCORED_COLUMNS: tuple[str, ...] = ("dimension", "slice", "metric", *OUTPUT_COLUMNS)
"""Columns of :func:`detect_metric_frame`'s result."""


def parse_timestamps(values: pd.Series, config: MonitorConfig | None = None, *, fmt: str | None = None,
                     dayfirst: bool = False, field: str = "timestamp_column") -> pd.Series:
    """Parse a timestamp column strictly.

    Parameters
    ----------
    values : pandas.Series
        Raw cells (strings or datetimes).
    config : MonitorConfig, optional
        Supplies ``timestamp_format`` and ``dayfirst``.
    fmt, dayfirst : optional
        Used when no config is given.
    field : str
        Field name for the error.

    Returns
    -------
    pandas.Series of datetime64
        Timezone-aware input is converted to UTC and made naive.

    Raises
    ------
    aihub.errors.ValidationError
        Naming the column, the first bad row (0-based) and its value.
    """
    if config is not None:
        fmt, dayfirst = config.timestamp_format, config.dayfirst
    col = values.name
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values
    else:
        kwargs: dict[str, Any] = {"errors": "coerce"}
        if fmt:
            kwargs["format"] = fmt
        else:
            kwargs["dayfirst"] = dayfirst
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
            ts = pd.to_datetime(values, **kwargs)
        bad = ts.isna() & values.notna()
        if bad.any() or values.isna().any():
            i = int(np.flatnonzero((bad | values.isna()).to_numpy())[0])
            raise ValidationError(
                f"Column '{col}' has a value that is not a date at row {i} (0-based): {values.iloc[i]!r}"
                + (f"; expected format {fmt!r}." if fmt else "; set timestamp_format, e.g. '%d/%m/%y'."),
                field=field,
                details={"column": col, "row": i, "value": repr(values.iloc[i])},
            )
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts


def _period_start(ts: pd.Series, frequency: str) -> pd.Series:
    code = FREQUENCIES[frequency]
    if code == "W":
        return ts.dt.to_period("W-SUN").dt.start_time
    if code == "M":
        return ts.dt.to_period("M").dt.start_time
    return ts.dt.floor(code)


def _grid(start: pd.Timestamp, end: pd.Timestamp, frequency: str) -> pd.DatetimeIndex:
    code = FREQUENCIES[frequency]
    if code == "W":
        return pd.date_range(start, end, freq="W-MON")
    if code == "M":
        return pd.date_range(start, end, freq="MS")
    return pd.date_range(start, end, freq=code)


def build_metric_frame(orders_df: pd.DataFrame, config: MonitorConfig | Mapping[str, Any]) -> pd.DataFrame:  # noqa: C901 - over the complexity ceiling before it existed; split pending (anomaly metrics)
    """Aggregate raw rows to per-period metric values, total and per slice.

    Parameters
    ----------
    orders_df : pandas.DataFrame
        Raw rows with the config's timestamp column, dimension columns and
        metric source columns.
    config : MonitorConfig or dict
        Monitor configuration (validated if a dict).

    Returns
    -------
    pandas.DataFrame
        Columns ``timestamp`` (period start), ``dimension`` (``"total"`` or a
        dimension column name), ``slice`` (``"total"`` or the dimension value
        as text; empty cells become ``"(missing)"``) and one float column per
        defined metric. Every slice has every period from the first to the
        last period of the data: periods without rows get 0 for sum, count and
        nunique and NaN for mean and ratio. Sorted by dimension (total first),
        slice, timestamp.

    Raises
    ------
    aihub.errors.ValidationError
        Missing columns (``field`` names the config key), unparseable dates
        (``"timestamp_column"``) or non-numeric cells in a sum/mean column
        (``"metrics[i].column"``, with the row).
    """
    cfg = config if isinstance(config, MonitorConfig) else MonitorConfig.from_dict(config)
    if not isinstance(orders_df, pd.DataFrame):
        raise ValidationError("orders_df must be a pandas DataFrame.", field="orders_df")
    cfg.check_columns(orders_df.columns)
    metric_cols = [m.name for m in cfg.metrics]
    if orders_df.empty:
        return pd.DataFrame(columns=[*KEY_COLUMNS, *metric_cols])
    orders_df = cap_split_values(orders_df, cfg)
    ts = parse_timestamps(orders_df[cfg.timestamp_column].reset_index(drop=True), cfg)
    work = pd.DataFrame({"__period": _period_start(ts, cfg.detection_frequency)})
    for i, m in enumerate(cfg.metrics):
        if m.column is None or m.column in work:
            continue
        src = orders_df[m.column].reset_index(drop=True)
        if m.agg in NUMERIC_AGGREGATIONS:
            num = pd.to_numeric(src, errors="coerce")
            bad = num.isna() & src.notna() & (src.astype(str).str.strip() != "")
            if bad.any():
                r = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValidationError(
                    f"Metric '{m.name}': column '{m.column}' has a non-numeric value at row {r} (0-based): {src.iloc[r]!r}.",
                    field=f"metrics[{i}].column",
                    details={"column": m.column, "row": r, "value": repr(src.iloc[r])},
                )
            work[m.column] = num
        else:
            work[m.column] = src
    for d in cfg.dimensions:
        col = orders_df[d].reset_index(drop=True)
        work["__dim_" + d] = col.astype("string").fillna(MISSING_SLICE).astype(object)
    grid = _grid(work["__period"].min(), work["__period"].max(), cfg.detection_frequency)

    def aggregate(keys: list[str]) -> pd.DataFrame:
        g = work.groupby(keys, sort=True)
        out = {}
        for m in cfg.metrics:
            if m.agg == "sum":
                out[m.name] = g[m.column].sum(min_count=1).fillna(0.0)
            elif m.agg in ("mean", "median", "min", "max"):
                out[m.name] = g[m.column].agg(m.agg)
            elif m.agg == "count":
                out[m.name] = g.size() if m.column is None else g[m.column].count()
            elif m.agg == "nunique":
                out[m.name] = g[m.column].nunique()
        res = pd.DataFrame(out)
        if len(keys) == 1:
            res = res.reindex(grid)
            res.index.name = "timestamp"
        else:
            slices = res.index.get_level_values(1).unique()
            idx = pd.MultiIndex.from_product([grid, sorted(slices)], names=["timestamp", "slice"])
            res = res.reindex(idx)
        for m in cfg.metrics:
            if m.agg in ("sum", "count", "nunique"):
                res[m.name] = res[m.name].fillna(0.0)
        for m in cfg.metrics:
            if m.agg == "ratio":
                den = res[m.denominator].astype(float)
                res[m.name] = res[m.numerator].astype(float) / den.where(den != 0)
        return res.astype(float).reset_index()

    frames = []
    tot = aggregate(["__period"])
    tot.insert(1, "dimension", "total")
    tot.insert(2, "slice", "total")
    frames.append(tot)
    for d in cfg.dimensions:
        part = aggregate(["__period", "__dim_" + d])
        part.insert(1, "dimension", d)
        frames.append(part[["timestamp", "dimension", "slice", *metric_cols]])
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[[*KEY_COLUMNS, *metric_cols]]
    if not cfg.split_other:
        frame = frame[(frame["dimension"] == "total") | (frame["slice"] != OTHER_SLICE)]
    frame["slice"] = frame["slice"].astype(object)
    frame["dimension"] = frame["dimension"].astype(object)
    frame["__tot"] = frame["dimension"] != "total"
    frame = frame.sort_values(["__tot", "dimension", "slice", "timestamp"], kind="stable").drop(columns="__tot")
    return frame.reset_index(drop=True)


def series_key(dimension: str, slice_: str, metric: str) -> str:
    """Key of one series in the states dict: ``"dimension|slice|metric"``."""
    return f"{dimension}|{slice_}|{metric}"


def detect_metric_frame(
    metric_frame: pd.DataFrame,
    config: MonitorConfig | Mapping[str, Any],
    rules: Iterable[Any] | None = None,
    states: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Score every monitored metric of every slice of a metric frame.

    Parameters
    ----------
    metric_frame : pandas.DataFrame
        From :func:`build_metric_frame` (columns ``timestamp``, ``dimension``,
        ``slice`` and the metric columns).
    config : MonitorConfig or dict
    rules : iterable of FeedbackRule or dict, optional
        Feedback rules; each applies to the series its metric, dimension and
        slice match.
    states : dict, optional
        Detector states from a previous call, keyed by :func:`series_key`
        (``"dimension|slice|*"`` for a joint isolation forest). Given a state,
        only periods after its last timestamp are scored (streaming); series
        without a state are scored from the start. Pass None for batch.

    Returns
    -------
    scored : pandas.DataFrame
        Columns :data:`SCORED_COLUMNS`: ``dimension``, ``slice``, ``metric``
        and the per-point output of :func:`aihub.anomaly.detectors.update`.
        With ``algorithm="isolation_forest"`` and several monitored metrics the
        score is joint (one forest over the metrics, the same score on each
        metric's row) and the expected range comes from ``robust_seasonal``.
    new_states : dict
        Updated states, keyed as ``states``; store them as JSON.
    """
    cfg = config if isinstance(config, MonitorConfig) else MonitorConfig.from_dict(config)
    missing = [c for c in (*KEY_COLUMNS, *cfg.monitored_metrics) if c not in metric_frame.columns]
    if missing:
        raise ValidationError(
            f"The metric frame lacks column(s) {missing}; build it with build_metric_frame().",
            field=missing[0],
        )
    rules = list(rules or [])
    states = dict(states or {})
    new_states: dict[str, dict[str, Any]] = {}
    parts = []
    joint = cfg.algorithm == "isolation_forest" and len(cfg.monitored_metrics) > 1
    band_params = cfg.detector.to_dict()
    if joint:
        band_params["algorithm"] = "robust_seasonal"
    for (dim, sl), grp in metric_frame.groupby(["dimension", "slice"], sort=False):
        grp = grp.sort_values("timestamp", kind="stable")
        joint_scores = None
        if joint:
            key = series_key(dim, sl, "*")
            st = states.get(key) or init_state(cfg.detector, cfg.thresholds, columns=list(cfg.monitored_metrics))
            new = _after(grp, st)
            if len(new):
                joint_scores, st = update(st, new[["timestamp", *cfg.monitored_metrics]])
            new_states[key] = st
        for metric in cfg.monitored_metrics:
            key = series_key(dim, sl, metric)
            params = band_params if joint else cfg.detector
            st = states.get(key) or init_state(params, cfg.thresholds)
            new = _after(grp, st)
            ctx = {"metric": metric, "dimension": dim, "slice": sl}
            if len(new):
                pts = pd.DataFrame({"timestamp": new["timestamp"].to_numpy(), "value": new[metric].to_numpy(float)})
                scored, st = update(st, pts, rules=None if joint else rules, context=ctx)
                if joint_scores is not None:
                    for c in ("anomaly_score", "raw_score", "is_anomaly", "severity", "suppressed_by"):
                        scored[c] = joint_scores[c].to_numpy()
                scored.insert(0, "metric", metric)
                scored.insert(0, "slice", sl)
                scored.insert(0, "dimension", dim)
                parts.append(scored)
            new_states[key] = st
    if not parts:
        return pd.DataFrame(columns=list(SCORED_COLUMNS)), new_states
    out = pd.concat(parts, ignore_index=True)
    if joint and rules:
        from aihub.anomaly.feedback import apply_rules

        out = apply_rules(out, rules, params=cfg.detector, thresholds=cfg.thresholds)
    return out[list(SCORED_COLUMNS)], new_states


def _after(grp: pd.DataFrame, state: Mapping[str, Any]) -> pd.DataFrame:
    last = state.get("last_timestamp")
    if last is None:
        return grp
    return grp[grp["timestamp"] > pd.Timestamp(int(last), unit="s")]
