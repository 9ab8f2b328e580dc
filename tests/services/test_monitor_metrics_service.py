"""The monitor service on any numeric column (issue 9): median/min/max/count distinct, no money without a unit value,
top-N splits past the old cap of 50 values, and a slice explained by the *other* dimensions within it.

Real PostgreSQL, the real Superstore orders in ../shared/data; planted data is described where it is made.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly.config import OTHER_SLICE
from aihub.services import anomalies as anomaly_svc
from aihub.services import datasets
from aihub.services import monitors as monitor_svc


def _create(principal, csv: bytes, config: dict, name: str):
    saved = datasets.save_upload(principal, name, f"{name}.csv", csv)
    return monitor_svc.create_monitor(principal, config, dataset_id=saved.version.dataset_id)


def test_non_revenue_metrics_without_unit_value_and_a_top_n_split_over_531_cities(tenant, superstore_bytes):
    config = {
        "detection_name": "Quantity by City", "anomaly_type": "operational",
        "metrics": [{"column": "Quantity", "agg": "median", "unit_value": None},
                    {"column": "Customer ID", "agg": "count_distinct"},
                    {"column": "Discount", "agg": "max"}],
        "detection_frequency": "weekly", "dimensions": ["City"], "split_top_n": 20,
    }
    mon = _create(tenant, superstore_bytes, config, "Superstore")
    metrics = {m["name"]: m for m in mon.config["metrics"]}
    # named after the column; an explicit null keeps a metric out of money; nothing priced the others either
    assert set(metrics) == {"median_quantity", "count_distinct_customer_id", "max_discount"}
    assert "unit_value" in metrics["median_quantity"] and metrics["median_quantity"]["unit_value"] is None
    assert metrics["count_distinct_customer_id"]["agg"] == "nunique"
    assert mon.config["split_top_n"] == 20
    run = monitor_svc.run_monitor(tenant, mon.id)
    assert run.status == "succeeded", run.error
    weeks = pd.date_range("2018-12-31", "2022-12-26", freq="W-MON")
    # total + the 20 largest cities + "Other", three metrics, every week
    assert run.points_scored == len(weeks) * (1 + 20 + 1) * 3
    found = anomaly_svc.list_anomalies(tenant, monitor_id=mon.id, statuses=["new"])
    assert found and all(a.impact is None for a in found)
    assert {a.slice for a in found if a.dimension == "City"} <= set(
        pd.read_csv(pd.io.common.BytesIO(superstore_bytes), encoding="utf-8-sig")["City"]) | {OTHER_SLICE}
    print(f"Superstore weekly Quantity/customers/discount by City (top 20 + Other): {len(found)} anomalies, "
          f"{run.points_scored:,} points")


def test_a_numeric_aggregation_of_a_text_column_names_the_field(tenant, superstore_bytes):
    from aihub.errors import ValidationError

    saved = datasets.save_upload(tenant, "Superstore", "s.csv", superstore_bytes)
    with pytest.raises(ValidationError) as err:
        monitor_svc.create_monitor(tenant, {"detection_name": "x", "anomaly_type": "quality",
                                           "metrics": [{"column": "City", "agg": "median"}]},
                                  dataset_id=saved.version.dataset_id)
    assert err.value.field == "metrics[0].column" and "not a number" in str(err.value)


def regions_by_category_csv(days: int = 160, seed: int = 11) -> bytes:
    """Daily revenue for 3 regions x 3 categories (weekly pattern, noise 2%).

    Planted: on day 100 (2023-04-12) West's Furniture revenue falls by 500 (about 25 noise sds), the other
    West categories do not move.
    """
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2023-01-02", periods=days, freq="D")
    rows = []
    for region, r_mu in {"West": 1.0, "East": 0.8, "Central": 0.6}.items():
        for cat, c_mu in {"Furniture": 600, "Technology": 400, "Office Supplies": 200}.items():
            v = r_mu * c_mu * (1 - 0.2 * ts.dayofweek.isin([5, 6])) + rng.normal(0, 0.02 * r_mu * c_mu, days)
            if (region, cat) == ("West", "Furniture"):
                v[100] -= 500
            rows += [(t.strftime("%Y-%m-%d"), region, cat, round(float(v[i]), 2)) for i, t in enumerate(ts)]
    return pd.DataFrame(rows, columns=["date", "Region", "Category", "revenue"]).to_csv(index=False).encode()


def test_a_slice_alarm_is_explained_by_the_other_dimension_within_it(tenant):
    config = {"detection_name": "revenue by region and category", "anomaly_type": "revenue",
              "monitored_metrics": ["daily_revenue"], "dimensions": ["Region", "Category"]}
    mon = _create(tenant, regions_by_category_csv(), config, "regions")
    assert monitor_svc.run_monitor(tenant, mon.id).status == "succeeded"
    found = {(a.ts.strftime("%Y-%m-%d"), a.dimension, a.slice): a
             for a in anomaly_svc.list_anomalies(tenant, monitor_id=mon.id)}
    west = anomaly_svc.get_anomaly(tenant, found[("2023-04-12", "Region", "West")].id)
    # within West, Category explains the drop; West never "explains" itself
    assert west.hint.startswith("Furniture (Category) explains") and "within West (Region)" in west.hint, west.hint
    assert {b["dimension"] for b in west.root_cause["breakdown"]} == {"Category"}
    total = found[("2023-04-12", "total", "total")]
    assert "(Region) explains" in total.hint or "(Category) explains" in total.hint
    assert west.kind == "drop" and "back to normal" in west.kind_evidence, west.kind_evidence
