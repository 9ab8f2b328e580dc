"""Splits with many values: watch the top N by volume and the rest together as "Other" (issue 9).

A monitor split by a dimension with hundreds of values (regions, stores)
would watch one series per value. :func:`cap_split_values` keeps the
``split_top_n`` values with the largest volume, measured by the monitor's
:attr:`~aihub.anomaly.config.MonitorConfig.rank_metric` over all the rows (a
sum, a count or a count of distinct values; the number of rows when the
monitor has no such metric), and relabels every other value
:data:`~aihub.anomaly.config.OTHER_SLICE`. The total is unchanged.
"""

from __future__ import annotations

import pandas as pd

from aihub.anomaly.config import OTHER_SLICE, MonitorConfig

__all__ = ["OTHER_SLICE", "cap_split_values", "top_split_values"]


def top_split_values(orders_df: pd.DataFrame, config: MonitorConfig, dimension: str) -> list[str]:
    """The ``split_top_n`` values of ``dimension`` with the largest volume, largest first.

    Parameters
    ----------
    orders_df : pandas.DataFrame
        Raw rows with the dimension column (and the rank metric's column).
    config : MonitorConfig
    dimension : str
        One of ``config.dimensions``.

    Returns
    -------
    list of str
        Values as text (empty cells as ``"(missing)"``); ties keep the first seen.
    """
    keys = orders_df[dimension].astype("string").fillna("(missing)").astype(object)
    name = config.rank_metric
    m = config.metric(name) if name else None
    if m is None or (m.agg == "count" and m.column is None):
        volume = keys.value_counts(sort=False)
    elif m.agg == "sum":
        volume = pd.to_numeric(orders_df[m.column], errors="coerce").groupby(keys).sum()
    elif m.agg == "count":
        volume = orders_df[m.column].notna().groupby(keys).sum()
    else:  # nunique
        volume = orders_df[m.column].groupby(keys).nunique()
    volume = volume.abs().sort_values(ascending=False, kind="stable")
    return [str(v) for v in volume.index[: config.split_top_n]]


def cap_split_values(orders_df: pd.DataFrame, config: MonitorConfig) -> pd.DataFrame:
    """Rows with each dimension's values beyond its top ``split_top_n`` relabelled :data:`OTHER_SLICE`.

    Returns the input itself when no dimension has more values than
    ``split_top_n``; otherwise a copy.
    """
    out = orders_df
    for d in config.dimensions:
        if d not in orders_df.columns or orders_df[d].nunique(dropna=False) <= config.split_top_n:
            continue
        keep = set(top_split_values(orders_df, config, d))
        keys = orders_df[d].astype("string").fillna("(missing)").astype(object)
        if out is orders_df:
            out = orders_df.copy()
        out[d] = keys.where(keys.isin(keep), OTHER_SLICE)
    return out
