"""build_metric_frame / detect_metric_frame on the real Superstore orders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import MonitorConfig, build_metric_frame, detect_metric_frame, series_key
from aihub.errors import ValidationError


def _data_dir() -> Path:
    env = os.environ.get("AIHUB_SHARED_DIR")
    return (Path(env) if env else Path(__file__).resolve().parents[3] / "shared") / "data"


SUPERSTORE = _data_dir() / "superstore" / "superstore_orders.csv"

CONFIG = {
    "detection_name": "revenue_monitoring",
    "anomaly_type": "revenue_anomaly",
    "monitored_metrics": ["daily_revenue", "transaction_count", "average_order_value"],
    "timestamp_column": "Order Date",
    "timestamp_format": "%d/%m/%y",
    "dimensions": ["Region"],
    "metrics": [
        {"name": "daily_revenue", "agg": "sum", "column": "Sales", "unit_value": 1.0},
        {"name": "transaction_count", "agg": "nunique", "column": "Order ID"},
        {"name": "average_order_value", "agg": "ratio", "numerator": "daily_revenue", "denominator": "transaction_count"},
        {"name": "mean_discount", "agg": "mean", "column": "Discount"},
        {"name": "lines", "agg": "count"},
    ],
}


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    if not SUPERSTORE.exists():
        pytest.skip(f"{SUPERSTORE} not found")
    return pd.read_csv(SUPERSTORE, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def frame(orders) -> pd.DataFrame:
    return build_metric_frame(orders, CONFIG)


def test_total_series_matches_direct_aggregation(orders, frame):
    dates = pd.to_datetime(orders["Order Date"], format="%d/%m/%y")
    tot = frame[frame["dimension"] == "total"].set_index("timestamp")
    assert list(frame.columns) == ["timestamp", "dimension", "slice", "daily_revenue", "transaction_count",
                                   "average_order_value", "mean_discount", "lines"]
    # every day from the first to the last order date, no gaps
    assert len(tot) == (dates.max() - dates.min()).days + 1
    direct = orders.groupby(dates)["Sales"].sum()
    np.testing.assert_allclose(tot.loc[direct.index, "daily_revenue"], direct.to_numpy())
    assert tot["daily_revenue"].sum() == pytest.approx(orders["Sales"].sum())
    orders_per_day = orders.groupby(dates)["Order ID"].nunique()
    np.testing.assert_array_equal(tot.loc[orders_per_day.index, "transaction_count"], orders_per_day.to_numpy())
    assert tot["lines"].sum() == len(orders)
    # days without orders: zero revenue and count, undefined average order value
    empty = tot[tot["lines"] == 0]
    assert len(empty) > 0
    assert (empty["daily_revenue"] == 0).all() and empty["average_order_value"].isna().all()
    busy = tot[tot["transaction_count"] > 0]
    np.testing.assert_allclose(busy["average_order_value"], busy["daily_revenue"] / busy["transaction_count"])


def test_region_slices_add_up_to_total(orders, frame):
    reg = frame[frame["dimension"] == "Region"]
    assert set(reg["slice"]) == set(orders["Region"].unique())
    by_day = reg.groupby("timestamp")[["daily_revenue", "transaction_count", "lines"]].sum()
    tot = frame[frame["dimension"] == "total"].set_index("timestamp")
    np.testing.assert_allclose(by_day["daily_revenue"], tot.loc[by_day.index, "daily_revenue"])
    np.testing.assert_array_equal(by_day["lines"], tot.loc[by_day.index, "lines"])
    # each slice covers every day
    assert reg.groupby("slice").size().nunique() == 1


def test_weekly_frequency_starts_weeks_on_monday(orders):
    f = build_metric_frame(orders, dict(CONFIG, detection_frequency="weekly"))
    ts = pd.to_datetime(f["timestamp"])
    assert (ts.dt.dayofweek == 0).all()
    assert f[f["dimension"] == "total"]["daily_revenue"].sum() == pytest.approx(orders["Sales"].sum())


def test_bad_cells_are_reported_with_field_and_row(orders):
    bad = orders.head(50).copy()
    bad.loc[7, "Order Date"] = "31/02/19"
    with pytest.raises(ValidationError) as err:
        build_metric_frame(bad, CONFIG)
    assert err.value.field == "timestamp_column" and err.value.details["row"] == 7
    bad = orders.head(50).copy()
    bad["Sales"] = bad["Sales"].astype(object)
    bad.loc[3, "Sales"] = "12,5 USD"
    with pytest.raises(ValidationError) as err:
        build_metric_frame(bad, CONFIG)
    assert err.value.field == "metrics[0].column" and "12,5 USD" in str(err.value)
    with pytest.raises(ValidationError) as err:
        build_metric_frame(orders.drop(columns=["Region"]), CONFIG)
    assert err.value.field == "dimensions[0]"


def test_detect_metric_frame_batch_equals_streaming(frame):
    cfg = MonitorConfig.from_dict(CONFIG)
    scored, states = detect_metric_frame(frame, cfg)
    assert len(scored) == len(frame) * 3
    assert set(states) == {series_key(d, s, m) for d, s in frame[["dimension", "slice"]].drop_duplicates().itertuples(index=False)
                           for m in cfg.monitored_metrics}
    cut = pd.Timestamp("2021-06-30")
    first, st = detect_metric_frame(frame[frame["timestamp"] <= cut], cfg)
    st = json.loads(json.dumps(st))  # as stored in the database
    second, _ = detect_metric_frame(frame, cfg, states=st)  # only the new periods are scored
    assert (pd.to_datetime(second["timestamp"]) > cut).all()
    both = pd.concat([first, second]).sort_values(["dimension", "slice", "metric", "timestamp"]).reset_index(drop=True)
    ref = scored.sort_values(["dimension", "slice", "metric", "timestamp"]).reset_index(drop=True)
    np.testing.assert_allclose(both["anomaly_score"], ref["anomaly_score"], atol=1e-9)
    np.testing.assert_allclose(both["expected"], ref["expected"], atol=1e-6, equal_nan=True)
    assert (both["is_anomaly"] == ref["is_anomaly"]).all()


def test_joint_isolation_forest_scores_slices(frame):
    cfg = MonitorConfig.from_dict(dict(CONFIG, algorithm="isolation_forest",
                                       monitored_metrics=["daily_revenue", "transaction_count"]))
    sub = frame[frame["dimension"] == "total"]
    scored, states = detect_metric_frame(sub, cfg)
    assert "total|total|*" in states
    per_ts = scored.pivot(index="timestamp", columns="metric", values="anomaly_score")
    np.testing.assert_allclose(per_ts["daily_revenue"], per_ts["transaction_count"])  # one joint score
    assert scored["expected"].notna().sum() > 0  # expected range still shown
    assert scored["anomaly_score"].between(0, 1).all()
