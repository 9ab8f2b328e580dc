"""Root-cause shares on Superstore, metric movers, business impact and snapshots."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import (
    MonitorConfig,
    build_metric_frame,
    business_impact,
    detect_metric_frame,
    dimension_breakdown,
    impact_for,
    metric_movers,
    snapshot,
)
from aihub.charts.anomalies import snapshot_figure
from aihub.errors import ValidationError


def _data_dir() -> Path:
    env = os.environ.get("AIHUB_SHARED_DIR")
    return (Path(env) if env else Path(__file__).resolve().parents[3] / "shared") / "data"


SUPERSTORE = _data_dir() / "superstore" / "superstore_orders.csv"

CONFIG = MonitorConfig.from_dict(
    {
        "detection_name": "revenue_monitoring",
        "anomaly_type": "revenue",
        "monitored_metrics": ["daily_revenue", "transaction_count", "average_order_value"],
        "timestamp_column": "Order Date",
        "timestamp_format": "%d/%m/%y",
        "dimensions": ["Region"],
        "metrics": [
            {"name": "daily_revenue", "agg": "sum", "column": "Sales", "unit_value": 1.0},
            {"name": "transaction_count", "agg": "nunique", "column": "Order ID"},
            {"name": "average_order_value", "agg": "ratio", "numerator": "daily_revenue",
             "denominator": "transaction_count"},
        ],
        "currency": "USD",
    }
)


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    if not SUPERSTORE.exists():
        pytest.skip(f"{SUPERSTORE} not found")
    return pd.read_csv(SUPERSTORE, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def scored(orders) -> pd.DataFrame:
    return detect_metric_frame(build_metric_frame(orders, CONFIG), CONFIG)[0]


def test_removing_west_sales_on_one_day_is_explained_by_west(orders, scored):
    rev = scored[(scored["metric"] == "daily_revenue") & (scored["dimension"] == "Region")]
    dev = rev.assign(dev=rev["value"] - rev["expected"]).pivot(index="timestamp", columns="slice", values="dev")
    west = rev[rev["slice"] == "West"].set_index("timestamp")
    exp_west = west["expected"]
    others = dev.drop(columns="West").sum(axis=1)
    # a day where West sold, is normally busy, and the other regions were on target
    ok = (west["value"] > 0) & (exp_west > 300) & (others.abs() < 0.05 * exp_west)
    assert ok.any()
    day = exp_west[ok].idxmax()
    dates = pd.to_datetime(orders["Order Date"], format="%d/%m/%y")
    cut = orders[~((dates == day) & (orders["Region"] == "West"))]
    assert len(cut) < len(orders)
    br = dimension_breakdown(CONFIG, "daily_revenue", day, orders_df=cut)
    top = br.iloc[0]
    assert top["slice"] == "West"
    assert top["actual"] == 0 and top["expected"] == pytest.approx(exp_west[day])
    assert top["share"] == pytest.approx(1.0, abs=0.06)  # West explains ~100% of the drop
    assert br["share"].sum() == pytest.approx(1.0)
    assert "West (Region) explains" in top["explanation"] and "drop" in top["explanation"]
    assert br.attrs["total_deviation"]["Region"] < 0


def test_breakdown_reuses_scored_expectations(orders, scored):
    t = pd.Timestamp("2022-11-18")
    a = dimension_breakdown(CONFIG, "daily_revenue", t, orders_df=orders)
    b = dimension_breakdown(CONFIG, "daily_revenue", t + pd.Timedelta(hours=15), scored=scored)
    pd.testing.assert_frame_equal(a.drop(columns="z"), b.drop(columns="z"), check_exact=False, atol=1e-9)
    ratio = dimension_breakdown(CONFIG, "average_order_value", t, scored=scored)
    assert "not additive" in ratio["explanation"].iloc[0]
    with pytest.raises(ValidationError) as err:
        dimension_breakdown(CONFIG, "daily_revenue", t, scored=scored, dimension="Segment")
    assert err.value.field == "dimension"
    with pytest.raises(ValidationError) as err:
        dimension_breakdown(CONFIG, "profit", t, scored=scored)
    assert err.value.field == "metric"


def test_metric_movers_rank_by_standardised_deviation(scored):
    alarms = scored[scored["is_anomaly"] & (scored["dimension"] == "total") & (scored["metric"] == "daily_revenue")]
    t = alarms["timestamp"].iloc[0]
    movers = metric_movers(scored, t)
    assert list(movers.columns[:5]) == ["metric", "value", "expected", "deviation", "z"]
    assert set(movers["metric"]) == set(CONFIG.monitored_metrics)
    z = movers["z"].abs().to_numpy()
    assert (np.diff(z) <= 0).all()
    assert movers.iloc[0]["metric"] in ("daily_revenue", "average_order_value")
    assert "standard deviations" in movers.iloc[0]["explanation"]


def test_business_impact_is_signed_and_states_its_assumption():
    loss = business_impact(800.0, 1000.0, 1.0, metric="daily_revenue", currency="EUR")
    assert loss.amount == pytest.approx(-200.0) and loss.currency == "EUR"
    assert "loss" in loss.text and "200.00 EUR" in loss.text
    assert "actual - expected" in loss.assumption and "unit value" in loss.assumption
    gain = business_impact(130, 100, 45.5, metric="transaction_count")
    assert gain.amount == pytest.approx(30 * 45.5) and "gain" in gain.text
    none = impact_for(CONFIG, "transaction_count", 130, 100)  # no unit value configured
    assert none.amount is None and none.deviation == 30 and "No unit value" in none.assumption
    assert impact_for(CONFIG, "daily_revenue", 50, 80).amount == pytest.approx(-30)
    with pytest.raises(ValidationError):
        business_impact(float("nan"), 1.0, 1.0, metric="m")


def test_snapshot_window_and_figure(scored):
    alarms = scored[scored["is_anomaly"] & (scored["dimension"] == "total") & (scored["metric"] == "daily_revenue")]
    t = alarms["timestamp"].iloc[0]
    snap = snapshot(scored, t, before=10, after=5, metric="daily_revenue")
    assert len(snap) == 16 and snap["is_focus"].sum() == 1
    focus = snap[snap["is_focus"]].iloc[0]
    assert focus["timestamp"] == t and focus["is_anomaly"]
    assert {"expected", "lower", "upper"} <= set(snap.columns)
    assert snap["timestamp"].is_monotonic_increasing
    fig = snapshot_figure(snap, title="daily_revenue")
    names = [tr.name for tr in fig.data]
    assert "expected range" in names and "actual" in names and "anomaly" in names


def _typed_orders() -> tuple[pd.DataFrame, pd.Timestamp]:
    rng = np.random.default_rng(7)
    days = pd.date_range("2024-01-01", periods=90, freq="D")
    rows = [(d, t, r, float(rng.normal(100 if t == "conventional" else 40, 5)))
            for d in days for t in ("conventional", "organic") for r in ("West", "East", "South")]
    frame = pd.DataFrame(rows, columns=["date", "type", "region", "volume"])
    day = days[75]
    hit = (frame["date"] == day) & (frame["type"] == "conventional") & (frame["region"] == "West")
    frame.loc[hit, "volume"] *= 6
    return frame, day


def test_a_slice_is_explained_by_the_other_dimensions_never_by_itself():
    frame, day = _typed_orders()
    cfg = MonitorConfig.from_dict({"detection_name": "volume", "anomaly_type": "operational", "timestamp_column": "date",
                                   "dimensions": ["type", "region"], "metrics": [{"column": "volume", "agg": "sum"}]})
    br = dimension_breakdown(cfg, "volume", day, orders_df=frame, within=("type", "conventional"))
    assert set(br["dimension"]) == {"region"}
    assert not br["explanation"].str.contains("(type) explains", regex=False).any()
    top = br.iloc[0]
    assert top["slice"] == "West" and top["share"] == pytest.approx(1.0, abs=0.1)
    assert top["explanation"].startswith("West (region) explains") and "within conventional (type)" in top["explanation"]
    # only conventional rows were broken down: West's actual is conventional West alone
    own = frame[(frame["date"] == day) & (frame["type"] == "conventional") & (frame["region"] == "West")]
    assert top["actual"] == pytest.approx(own["volume"].sum())
    # the whole series is still broken down over every dimension
    assert set(dimension_breakdown(cfg, "volume", day, orders_df=frame)["dimension"]) == {"type", "region"}
    with pytest.raises(ValidationError) as err:
        dimension_breakdown(cfg, "volume", day, orders_df=frame, within=("type", "conventional"), dimension="type")
    assert err.value.field == "dimension"
    with pytest.raises(ValidationError) as err:
        dimension_breakdown(cfg, "volume", day, metric_frame=build_metric_frame(frame, cfg),
                            within=("type", "conventional"))
    assert err.value.field == "orders_df"


def test_a_slice_of_the_only_dimension_says_it_cannot_be_broken_down():
    frame, day = _typed_orders()
    cfg = MonitorConfig.from_dict({"detection_name": "volume", "anomaly_type": "operational", "timestamp_column": "date",
                                   "dimensions": ["type"], "metrics": [{"column": "volume", "agg": "sum"}]})
    br = dimension_breakdown(cfg, "volume", day, orders_df=frame, within=("type", "conventional"))
    assert br.empty and "cannot be broken down further" in br.attrs["note"]
