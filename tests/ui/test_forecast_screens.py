"""Forecasts screen under AppTest: many series from the form, two filters, frequencies, the naive warning."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from aihub import auth
from aihub.services import datasets, jobs, registry
from aihub.services import forecasts as training
from tests.conftest import PASSWORD, REPO, new_tenant, shared_file


@pytest.fixture
def admin(server_database):
    return new_tenant("fcui")


def _page(username: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page("app_pages/forecasts.py").run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("success", "info", "error", "warning", "caption", "markdown")
                     for e in getattr(at, kind))


def _finish(admin, model_name: str) -> None:
    model = next(m for m in registry.list_models(admin, training.FORECAST_KIND) if m.name == model_name)
    job = registry.list_jobs(admin, model.id)[0]
    deadline = time.time() + 240
    while not registry.get_job(admin, job.id).done and time.time() < deadline:
        time.sleep(0.5)
    assert registry.get_job(admin, job.id).status == "succeeded", registry.get_job(admin, job.id).error


def test_one_forecast_per_sub_category_with_two_filters_from_the_form(admin, superstore_bytes):
    datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes)
    at = _page(admin.username)
    assert [o for o in at.selectbox(key="fc_freq").options][:3] == ["15-minute", "30-minute", "Hourly"]
    at.selectbox(key="fc_date").select("Order Date")
    at.selectbox(key="fc_value").select("Sales")
    at.selectbox(key="fc_filter_col1").select("Region").run()
    at.multiselect(key="fc_filter_values1").select("West").run()
    at.selectbox(key="fc_filter_col2").select("Category").run()
    at.multiselect(key="fc_filter_values2").select("Furniture").run()
    at.selectbox(key="fc_freq").select("D").run()
    assert at.number_input(key="fc_horizon").value == 14  # the frequency's own default horizon
    assert at.selectbox(key="fc_holidays").value == "(no holidays)"
    at.selectbox(key="fc_freq").select("M").run()
    assert at.number_input(key="fc_horizon").value == 12
    assert "Holidays can be modelled on daily and faster data." in _texts(at)
    at.multiselect(key="fc_split").select("Sub-Category").run()
    assert at.text_input(key="fc_name").value == "Sales monthly forecast per Sub-Category"
    at.number_input(key="fc_horizon").set_value(3)
    at.button(key="fc_train").click().run()
    assert not at.exception, at.exception
    _finish(admin, "Sales monthly forecast per Sub-Category")

    model = registry.list_models(admin, training.FORECAST_KIND)[0]
    assert model.config["filters"] == {"Region": ["West"], "Category": ["Furniture"]}
    at.session_state["forecasts_tab"] = "Forecasts and versions"
    at.run()
    assert not at.exception, at.exception
    assert "4 series · 0 could not be forecast" in _texts(at)
    table = at.dataframe(key="fc_series_table").value
    assert set(table["Sub-Category"]) == {"Chairs", "Tables", "Bookcases", "Furnishings"}
    assert table["volume"].is_monotonic_decreasing
    assert any("Sum of 4 series" in str(c.proto.spec) for c in at.get("plotly_chart"))
    at.text_input(key="fc_series_find").input("Chairs").run()
    assert list(at.dataframe(key="fc_series_table").value["Sub-Category"]) == ["Chairs"]
    csv = training.forecast_csv(admin, model.id, registry.list_versions(admin, model.id)[0].id)
    assert csv.decode().splitlines()[0].startswith("series_key,Sub-Category,ds,yhat")


def test_a_forecast_worse_than_naive_says_so_with_its_backtest_table(admin):
    # Repeating last year's week loses to repeating last week on many M4 weekly series: take the first.
    weekly = pd.read_csv(shared_file("m4_weekly", "train.csv"))
    for uid, one in list(weekly.groupby("unique_id", sort=False))[:20]:
        one = one[["ds", "y"]].tail(300)
        saved = datasets.save_upload(admin, uid, f"{uid}.csv", one.to_csv(index=False).encode())
        raw = {"model_name": f"{uid} weekly", "dataset_id": saved.version.dataset_id, "date_column": "ds",
               "value_column": "y", "freq": "W", "agg": "mean", "horizon": 13, "algorithm": "seasonal_naive"}
        model, job = training.create_forecast_model(admin, raw, run=False)
        assert jobs.run_job(admin.tenant_id, job.id) == "succeeded"
        version = registry.list_versions(admin, model.id)[0]
        if version.metrics["mase"] > version.metrics["mase_naive"]:
            break
    else:
        pytest.fail("seasonal naive beat naive on the first 20 M4 weekly series")
    at = _page(admin.username)
    at.session_state["forecasts_tab"] = "Forecasts and versions"
    at.session_state["selected_forecast"] = model.id
    at.run()
    assert not at.exception, at.exception
    assert "did worse than repeating the last value in backtests" in _texts(at)
    backtest = next(d.value for d in at.dataframe if "benchmark" in d.value.columns)
    assert {"naive", "seasonal_naive"} <= set(backtest["algorithm"])


def test_a_viewer_sees_forecasts_but_cannot_train(admin, superstore_bytes):
    datasets.save_upload(admin, "Superstore", "superstore_orders.csv", superstore_bytes)
    auth.add_user(admin, "viewer-fc@example.com", "Viewer", "viewer", PASSWORD)
    at = _page("viewer-fc@example.com")
    assert at.button(key="fc_train").disabled


def test_an_hourly_m4_series_is_offered_hourly_horizons(admin):
    frame = pd.read_csv(shared_file("m4_hourly", "train.csv"))
    one = frame[frame["unique_id"] == "H2"][["ds", "y"]]
    datasets.save_upload(admin, "H2", "h2.csv", one.to_csv(index=False).encode())
    at = _page(admin.username)
    at.selectbox(key="fc_freq").select("H").run()
    assert at.number_input(key="fc_horizon").value == 48
    assert "1 to 336 hours" in at.number_input(key="fc_horizon").help
