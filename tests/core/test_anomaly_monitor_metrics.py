"""Monitors on any numeric column (issue 9): aggregations, names, unit values and capped splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import MonitorConfig, build_metric_frame
from aihub.anomaly.config import MAX_SPLIT_VALUES, OTHER_SLICE, metric_name_for
from aihub.anomaly.splits import top_split_values
from aihub.errors import ValidationError


def _avocado() -> pd.DataFrame:
    """54 regions of weekly volumes and prices, region k selling about k times the first."""
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2020-01-06", periods=30, freq="W-MON")
    rows = [(w, f"region_{k:02d}", float(1000 * k * rng.uniform(0.9, 1.1)), float(rng.uniform(1, 2)))
            for w in weeks for k in range(1, 55)]
    return pd.DataFrame(rows, columns=["Date", "region", "Total Volume", "AveragePrice"])


def _config(**extra) -> MonitorConfig:
    return MonitorConfig.from_dict({
        "detection_name": "avocado", "anomaly_type": "operational", "timestamp_column": "Date",
        "detection_frequency": "weekly", "dimensions": ["region"],
        "metrics": [{"column": "Total Volume", "agg": "sum"}, {"column": "AveragePrice", "aggregation": "median"},
                    {"column": "AveragePrice", "agg": "max"}, {"column": "AveragePrice", "agg": "min"},
                    {"column": "region", "agg": "count_distinct"}],
        **extra,
    })


def test_metrics_are_named_after_their_column_and_have_no_money_unless_given():
    cfg = _config()
    assert cfg.monitored_metrics == ("total_volume", "median_averageprice", "max_averageprice",
                                     "min_averageprice", "count_distinct_region")
    assert cfg.metric("total_volume").label == "Total Volume (sum)"
    assert cfg.metric("count_distinct_region").agg == "nunique"
    assert all(m.unit_value is None for m in cfg.metrics)
    assert metric_name_for("2nd Price (€)", "mean") == "mean_c_2nd_price"
    explicit = MonitorConfig.from_dict({**cfg.to_dict(), "monitored_metrics": None, "metrics": [
        {"column": "Total Volume", "agg": "sum", "unit_value": None}]})
    assert explicit.to_dict()["metrics"][0] == {"name": "total_volume", "agg": "sum", "column": "Total Volume",
                                                "unit_value": None}
    priced = MonitorConfig.from_dict({**cfg.to_dict(), "unit_values": {"total_volume": 1.25}})
    assert priced.metric("total_volume").unit_value == 1.25


def test_new_aggregations_are_computed_per_period():
    frame = _avocado()
    cfg = _config(split_top_n=MAX_SPLIT_VALUES)
    out = build_metric_frame(frame, cfg)
    tot = out[out["dimension"] == "total"].set_index("timestamp")
    wk = frame.groupby("Date")
    np.testing.assert_allclose(tot["total_volume"], wk["Total Volume"].sum())
    np.testing.assert_allclose(tot["median_averageprice"], wk["AveragePrice"].median())
    np.testing.assert_allclose(tot["max_averageprice"], wk["AveragePrice"].max())
    np.testing.assert_allclose(tot["min_averageprice"], wk["AveragePrice"].min())
    assert (tot["count_distinct_region"] == 54).all()
    assert out.loc[out["dimension"] == "region", "slice"].nunique() == 54


def test_a_split_with_more_values_than_the_cap_watches_the_top_by_volume_plus_other():
    frame = _avocado()
    cfg = _config(split_top_n=10)
    assert cfg.rank_metric == "total_volume"
    top = top_split_values(frame, cfg, "region")
    assert top == [f"region_{k}" for k in range(54, 44, -1)]
    out = build_metric_frame(frame, cfg)
    slices = set(out.loc[out["dimension"] == "region", "slice"])
    assert slices == {*top, OTHER_SLICE}
    region = out[out["dimension"] == "region"].groupby("timestamp")["total_volume"].sum()
    total = out[out["dimension"] == "total"].set_index("timestamp")["total_volume"]
    np.testing.assert_allclose(region, total)  # nothing lost: the rest is in Other
    without = build_metric_frame(frame, _config(split_top_n=10, split_other=False))
    assert OTHER_SLICE not in set(without.loc[without["dimension"] == "region", "slice"])
    assert _config(split_top_n=10).to_dict()["split_top_n"] == 10 and "split_top_n" not in _config().to_dict()


@pytest.mark.parametrize("change, field, words", [
    ({"split_top_n": MAX_SPLIT_VALUES + 1}, "split_top_n", "500"),
    ({"split_rank_by": "median_averageprice"}, "split_rank_by", "total_volume"),
    ({"metrics": [{"column": "Total Volume", "agg": "mode"}]}, "metrics[0].agg", "median"),
    ({"metrics": [{"agg": "sum"}]}, "metrics[0].name", "name"),
    ({"metrics": [{"column": "x", "agg": "sum", "unit_value": True}]}, "metrics[0].unit_value", "True"),
    ({"split_other": "yes"}, "split_other", "yes"),
])
def test_new_fields_are_validated(change, field, words):
    raw = {**_config().to_dict(), **change}
    raw.pop("monitored_metrics")
    with pytest.raises(ValidationError) as err:
        MonitorConfig.from_dict(raw)
    assert err.value.field == field and words in str(err.value)
