"""Monitor configuration against a dataset: metric definitions built from column names, and the checks.

:func:`complete_config` turns the form's or pasted JSON into a validated
:class:`aihub.anomaly.MonitorConfig` for one dataset: well-known metric names
(``daily_revenue``, ``transaction_count``, ``average_order_value``, ...) are
defined from the dataset's columns, any numeric column can be watched with any
aggregation, unit values follow from the metric's name (or an explicit
``null``: no money), and splits and column types are checked. Pure: no
database, no permission (the monitor service calls it with the dataset's
newest version).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from aihub import anomaly as core
from aihub.anomaly.config import DEFAULT_SPLIT_VALUES, MAX_SPLIT_VALUES, NUMERIC_AGGREGATIONS
from aihub.db import store
from aihub.errors import ValidationError

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


def complete_config(  # noqa: C901 - over the complexity ceiling before it existed; split pending (monitor config)
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


def dataset_columns(version: store.DatasetVersionRecord) -> dict[str, str]:
    return {c["name"]: c["kind"] for c in version.column_schema}


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


#: Aggregations the guided form offers, in words.
FORM_AGGREGATIONS: dict[str, str] = {"sum": "sum", "mean": "average", "median": "median", "min": "minimum",
                                     "max": "maximum", "count": "count of rows", "nunique": "count distinct"}


def form_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """The monitor JSON of the guided form's values (what "Create" sends and "Switch to JSON" shows).

    Parameters
    ----------
    values : dict
        ``name``, ``anomaly_type``, ``date_column``, ``frequency``, ``algorithm``, ``currency``,
        ``metrics`` (a list of ``{"column", "agg", "unit_value"}``; ``column`` None means skip the row
        unless ``agg`` is ``count``; ``unit_value`` None or "" means no money impact),
        ``split`` (a column or None), ``split_top_n``, ``split_other`` and ``thresholds``
        (``{"low": .., "medium": .., "high": .., "critical": ..}``).

    Returns
    -------
    dict
        A configuration for :func:`complete_config`; metrics are named after their column
        (``total_volume``, ``median_averageprice``) and carry ``unit_value`` explicitly, so an empty
        unit value is kept as "no money impact" rather than filled in from the metric's name.

    Raises
    ------
    ValidationError
        ``field`` = ``metrics[i].unit_value`` for a unit value that is not a number.
    """
    metrics = []
    for i, m in enumerate(values.get("metrics") or []):
        col, agg = m.get("column"), m.get("agg") or "sum"
        if not col and agg != "count":
            continue
        unit = m.get("unit_value")
        if isinstance(unit, str):
            unit = unit.strip().replace(",", "")
            try:
                unit = float(unit) if unit else None
            except ValueError:
                raise ValidationError(f"Money per unit of metric {i + 1} must be a number (e.g. 1 or 2.50), or "
                                      "empty for no money impact.", field=f"metrics[{i}].unit_value") from None
        d: dict[str, Any] = {"agg": agg, "unit_value": unit}
        if col:
            d["column"] = col
        else:
            d["name"] = "row_count"
        metrics.append(d)
    split = values.get("split")
    out: dict[str, Any] = {
        "detection_name": values.get("name") or "", "anomaly_type": values.get("anomaly_type") or "operational",
        "algorithm": values.get("algorithm") or "auto", "metrics": metrics,
        "detection_frequency": values.get("frequency") or "daily", "timestamp_column": values.get("date_column"),
        "dimensions": [split] if split else [], "currency": values.get("currency") or "USD",
    }
    if values.get("thresholds"):
        out["threshold_config"] = {"severity_thresholds": dict(values["thresholds"])}
    if split:
        out["split_top_n"] = int(values.get("split_top_n") or DEFAULT_SPLIT_VALUES)
        out["split_other"] = bool(values.get("split_other", True))
    return out


def form_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """The guided form's values of a stored or pasted configuration (the inverse of :func:`form_config`).

    Metrics defined only by a well-known name (``daily_revenue``) or as ratios are not shown in the
    form's rows; the JSON keeps them.
    """
    metrics = [{"column": m.get("column"), "agg": m.get("agg", "sum"), "unit_value": m.get("unit_value")}
               for m in config.get("metrics") or [] if isinstance(m, Mapping) and m.get("agg") != "ratio"]
    dims = config.get("dimensions") or []
    sev = (config.get("threshold_config") or {}).get("severity_thresholds") or {}
    return {"name": config.get("detection_name", ""), "anomaly_type": config.get("anomaly_type"),
            "date_column": config.get("timestamp_column"), "frequency": config.get("detection_frequency", "daily"),
            "algorithm": config.get("algorithm", "auto"), "currency": config.get("currency", "USD"),
            "metrics": metrics, "split": dims[0] if dims else None,
            "split_top_n": config.get("split_top_n", DEFAULT_SPLIT_VALUES),
            "split_other": config.get("split_other", True), "thresholds": dict(sev)}
