"""Forecast service on the real database: many series per model, frequencies, holidays, per-field errors."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from aihub.errors import NotFound, ValidationError
from aihub.services import datasets, jobs, registry
from aihub.services import forecasts as training
from tests.conftest import new_tenant, shared_file


@pytest.fixture
def admin(server_database):
    return new_tenant("forecasts")


@pytest.fixture
def superstore(admin, superstore_bytes):
    return datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes).version


def _train(admin, raw: dict):
    model, job = training.create_forecast_model(admin, raw, run=False)
    status = jobs.run_job(admin.tenant_id, job.id)
    assert status == "succeeded", registry.get_job(admin, job.id).error
    return model, registry.list_versions(admin, model.id)[0]


def test_one_forecast_per_sub_category_and_region_stores_every_series(admin, superstore):
    raw = {"model_name": "Sales by sub-category and region", "dataset_id": superstore.dataset_id,
           "date_column": "Order Date", "value_column": "Sales", "freq": "M", "horizon": 3,
           "split_by": ["Sub-Category", "Region"]}
    model, version = _train(admin, raw)
    table = training.forecast_series(admin, model.id, version.id)
    print(f"68 series trained in {version.training_seconds:.1f} s")
    # 17 sub-categories x 4 regions, each with its own backtest and chosen method
    assert len(table) == 68 and version.metrics["series"] == 68
    assert list(table.columns[:3]) == ["series_key", "Sub-Category", "Region"]
    assert table["volume"].is_monotonic_decreasing
    ok = table[table["error"].isna()]
    assert len(ok) >= 60 and ok["algorithm"].notna().all() and ok["mase"].notna().all()
    assert all(len(b) >= 3 for b in ok["backtest"])  # candidates and the naive benchmarks
    assert version.metrics["mase"] is not None and version.algorithm == "auto per series"

    top = table.iloc[0]
    one = training.forecast_view(admin, model.id, version.id, series_key=top["series_key"])
    assert len(one.forecast) == 3 and len(one.history) >= 40
    total = training.forecast_view(admin, model.id, version.id)
    assert len(total.forecast) == 3
    assert total.history["y"].sum() == pytest.approx(
        sum(training.forecast_view(admin, model.id, version.id, series_key=k).history["y"].sum()
            for k in ok["series_key"]), rel=1e-9)
    with pytest.raises(NotFound):
        training.forecast_view(admin, model.id, version.id, series_key="No such · series")

    csv = pd.read_csv(io.BytesIO(training.forecast_csv(admin, model.id, version.id)))
    assert list(csv.columns[:4]) == ["series_key", "Sub-Category", "Region", "ds"]
    assert csv["series_key"].nunique() == len(ok) and len(csv) == 3 * len(ok)


def test_top_n_two_filters_and_weekly(admin, superstore):
    raw = {"model_name": "Top products West furniture", "dataset_id": superstore.dataset_id,
           "date_column": "Order Date", "value_column": "Sales", "freq": "W", "horizon": 8,
           "split_by": ["Sub-Category"], "top_n": 3,
           "filters": {"Region": ["West"], "Category": ["Furniture"]}}
    model, version = _train(admin, raw)
    table = training.forecast_series(admin, model.id, version.id)
    assert len(table) == 3 and set(table["Sub-Category"]) <= {"Chairs", "Tables", "Bookcases", "Furnishings"}
    assert version.metrics["series_dropped"] == 1


def test_hourly_forecast_of_an_m4_series_trains_and_is_stored(admin):
    frame = pd.read_csv(shared_file("m4_hourly", "train.csv"))
    one = frame[frame["unique_id"] == "H1"][["ds", "y"]]
    saved = datasets.save_upload(admin, "H1", "h1.csv", one.to_csv(index=False).encode())
    raw = {"model_name": "H1 hourly", "dataset_id": saved.version.dataset_id, "date_column": "ds",
           "value_column": "y", "freq": "H", "agg": "mean", "horizon": 48}
    model, version = _train(admin, raw)
    view = training.forecast_view(admin, model.id, version.id)
    assert len(view.forecast) == 48 and view.forecast["ds"].diff().dropna().eq(pd.Timedelta(hours=1)).all()
    assert version.algorithm in ("naive", "seasonal_naive", "theta", "mstl")
    assert version.metrics["mase_seasonal_naive"] is not None


def test_bad_fields_are_named(admin, superstore):
    base = {"model_name": "x", "dataset_id": superstore.dataset_id, "date_column": "Order Date",
            "value_column": "Sales"}
    columns = {"Order Date": "date", "Sales": "number", "Region": "category"}
    errors = training.ForecastSpec.check({**base, "freq": "M", "holidays": "US"}, columns)
    assert "daily" in errors["holidays"]
    errors = training.ForecastSpec.check({**base, "freq": "D", "holidays": "Atlantis"}, columns)
    assert "Unknown holiday country" in errors["holidays"]
    errors = training.ForecastSpec.check({**base, "freq": "H", "horizon": 5000}, columns)
    assert "from 1 to 336" in errors["horizon"]
    errors = training.ForecastSpec.check({**base, "split_by": ["Nope"]}, columns)
    assert "Nope" in errors["split_by"]
    assert training.ForecastSpec.check({**base, "freq": "D", "holidays": "us", "split_by": ["Region"],
                                        "top_n": 2}, columns) == {}
    with pytest.raises(ValidationError) as err:
        training.create_forecast_model(admin, {**base, "freq": "Q", "horizon": 20}, run=False)
    assert err.value.field == "horizon"
