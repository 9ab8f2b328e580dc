"""Forecasting core at every frequency, on real series: the one frequency table, MSTL, conformal intervals,
holidays, and many series from one table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.errors import TrainingError, ValidationError
from aihub.forecasting import (
    FREQUENCY_TABLE,
    MAX_HORIZON,
    fit_forecast,
    fit_panel,
    forecast_from_json,
    infer_freq,
    load_model_json,
    prepare_panel,
    prepare_series,
)
from aihub.forecasting.conformal import conformal_scales
from aihub.forecasting.frequency import DEFAULT_MAX_HISTORY, MASE_PERIOD, SEASONS
from aihub.forecasting.models import fit_model
from tests.conftest import shared_file


def _m4_hourly(uid: str = "H1") -> pd.DataFrame:
    frame = pd.read_csv(shared_file("m4_hourly", "train.csv"), parse_dates=["ds"])
    return frame[frame["unique_id"] == uid][["ds", "y"]].reset_index(drop=True)


def _peyton() -> pd.DataFrame:
    return pd.read_csv(shared_file("prophet_examples", "example_wp_log_peyton_manning.csv"), parse_dates=["ds"])


def test_one_table_defines_every_frequency():
    assert list(FREQUENCY_TABLE) == ["15min", "30min", "H", "D", "W", "M", "Q", "Y"]
    assert SEASONS["H"] == (24, 168) and SEASONS["D"] == (7, 365) and SEASONS["W"] == (52,)
    assert MASE_PERIOD == {"15min": 96, "30min": 48, "H": 24, "D": 1, "W": 1, "M": 12, "Q": 4, "Y": 1}
    for code, f in FREQUENCY_TABLE.items():
        assert 1 <= f.default_horizon <= f.max_horizon == MAX_HORIZON[code]
        assert DEFAULT_MAX_HISTORY[code] is None or DEFAULT_MAX_HISTORY[code] >= 2 * max(f.seasons)


@pytest.mark.parametrize(("alias", "code"), [("15min", "15min"), ("30min", "30min"), ("h", "H"), ("D", "D"),
                                             ("W-MON", "W"), ("MS", "M"), ("QS", "Q"), ("YS", "Y")])
def test_frequency_is_inferred_from_the_dates(alias, code):
    assert infer_freq(pd.date_range("2020-01-01", periods=30, freq=alias)) == code


def test_an_irregular_spacing_names_the_supported_frequencies():
    with pytest.raises(ValidationError) as err:
        infer_freq(pd.date_range("2020-01-01", periods=30, freq="10D"))
    assert "hourly (H)" in err.value.message and "quarterly (Q)" in err.value.message


def test_hourly_rows_aggregate_to_hours_and_quarters_to_quarter_starts():
    h1 = _m4_hourly().iloc[:200]
    # the same hours split into two half-hour readings each: sums come back to the hourly values
    halves = pd.concat([h1.assign(y=h1.y / 2), h1.assign(ds=h1.ds + pd.Timedelta(minutes=30), y=h1.y / 2)])
    hourly = prepare_series(halves, "ds", "y", freq="H")
    np.testing.assert_allclose(hourly["y"], h1["y"])
    assert (hourly["ds"] == h1["ds"]).all()
    retail = pd.read_csv(shared_file("prophet_examples", "example_retail_sales.csv"))
    quarterly = prepare_series(retail, "ds", "y", freq="Q")
    assert (quarterly["ds"].dt.month.isin([1, 4, 7, 10]) & (quarterly["ds"].dt.day == 1)).all()
    assert len(quarterly) == pytest.approx(len(retail) / 3, abs=1)
    yearly = prepare_series(retail, "ds", "y", freq="Y")
    fc = fit_forecast(yearly, horizon=3, freq="Y")
    assert list(fc.forecast["ds"].dt.year) == [yearly["ds"].dt.year.max() + k for k in (1, 2, 3)]


def test_mstl_on_an_m4_hourly_series_models_both_seasons_and_round_trips():
    r = fit_forecast(_m4_hourly("H2"), horizon=48, freq="H", algorithm="mstl")
    assert r.params["seasons"] == [24, 168]
    assert r.forecast["ds"].diff().dropna().eq(pd.Timedelta(hours=1)).all()
    again = forecast_from_json(r.model_json)
    np.testing.assert_allclose(again.drop(columns="ds").to_numpy(), r.forecast.drop(columns="ds").to_numpy())
    assert json.loads(r.model_json)["interval_scale"] == {str(k): v for k, v in
                                                         (r.metrics["interval_scale"] or {}).items()}


def test_auto_on_hourly_backtests_mstl_against_both_naive_benchmarks():
    r = fit_forecast(_m4_hourly("H3"), horizon=48, freq="H")
    table = r.backtest.set_index("algorithm")
    assert {"naive", "seasonal_naive", "theta", "mstl"} <= set(table.index)
    assert r.metrics["mase"] == pytest.approx(table["mase"].loc[r.algorithm])
    assert r.metrics["mase_seasonal_naive"] == pytest.approx(table["mase"].loc["seasonal_naive"])
    assert r.metrics["mase_m"] == 24


def test_mstl_needs_seasons_and_enough_history():
    retail = pd.read_csv(shared_file("prophet_examples", "example_retail_sales.csv"))
    with pytest.raises(TrainingError, match="no(ne)?"):
        fit_forecast(prepare_series(retail, "ds", "y", freq="Y"), horizon=2, freq="Y", algorithm="mstl")
    short = _m4_hourly().iloc[:30]
    with pytest.raises(TrainingError, match="two for mstl"):
        fit_model("mstl", short["ds"], short["y"].to_numpy(), "H")


def test_conformal_scale_reaches_the_level_on_the_backtest_and_never_narrows():
    rng = np.random.default_rng(0)
    actuals = [rng.normal(size=48) * 2 for _ in range(3)]  # errors twice the model's stated spread
    forecasts = [np.zeros(48)] * 3
    halfwidths = {80: np.full(48, 1.2816), 95: np.full(48, 1.96)}
    scales = conformal_scales(actuals, forecasts, halfwidths)
    for level in (80, 95):
        inside = np.mean(np.abs(np.concatenate(actuals)) <= scales[level] * halfwidths[level][0])
        assert inside >= level / 100 and scales[level] > 1.5
    assert conformal_scales([a / 100 for a in actuals], forecasts, halfwidths) == {80: 1.0, 95: 1.0}
    assert conformal_scales(actuals, forecasts, {80: np.zeros(48)}) is None


def test_calibrated_intervals_are_at_least_the_models_own():
    series = _m4_hourly("H4")
    own = fit_forecast(series, horizon=48, freq="H", algorithm="theta", calibrate=False).forecast
    cal = fit_forecast(series, horizon=48, freq="H", algorithm="theta").forecast
    assert (cal["yhat_upper_95"] - cal["yhat_lower_95"] >= own["yhat_upper_95"] - own["yhat_lower_95"] - 1e-9).all()
    np.testing.assert_allclose(cal["yhat"], own["yhat"])


def test_holidays_reach_prophet_and_are_refused_where_they_cannot_apply():
    daily = prepare_series(_peyton().iloc[-730:], "ds", "y", freq="D", agg="mean")
    r = fit_forecast(daily, horizon=14, freq="D", algorithm="prophet", holidays="US")
    prophet = load_model_json(r.model_json).fitted.model  # rebuilt from Prophet's own JSON
    assert prophet.country_holidays == "US" and "Christmas Day" in set(prophet.train_holiday_names)
    with pytest.raises(ValidationError, match="daily or faster"):
        fit_forecast(prepare_series(daily, "ds", "y", freq="M", agg="mean"), horizon=3, freq="M", holidays="US")
    with pytest.raises(ValidationError, match="Unknown holiday country"):
        fit_forecast(daily, horizon=14, freq="D", holidays="Narnia")


def test_horizon_limits_come_from_the_table():
    with pytest.raises(ValidationError) as err:
        fit_forecast(_m4_hourly(), horizon=MAX_HORIZON["H"] + 1, freq="H")
    assert err.value.field == "horizon" and "336" in err.value.message


def test_one_series_per_sub_category_and_region_of_superstore():
    orders = pd.read_csv(shared_file("superstore", "superstore_orders.csv"), encoding="utf-8-sig")
    panel = prepare_panel(orders, "Order Date", "Sales", freq="M", split_by=["Sub-Category", "Region"],
                          dayfirst=True)
    assert len(panel.keys) == 68 and panel.dims[panel.keys[0]].keys() == {"Sub-Category", "Region"}
    volumes = list(panel.volume.values())
    assert volumes == sorted(volumes, reverse=True)
    assert panel.frame.groupby("series_key")["ds"].max().nunique() == 1  # sums run to the last month
    assert sum(volumes) == pytest.approx(orders["Sales"].sum())
    top = prepare_panel(orders, "Order Date", "Sales", freq="M", split_by=["Sub-Category"], top_n=5,
                        filters={"Region": "West"}, dayfirst=True)
    assert len(top.keys) == 5 and top.dropped == 12
    seen = []
    result = fit_panel(top, horizon=3, freq="M", n_jobs=1, progress=lambda done, n: seen.append((done, n)))
    assert seen[-1] == (5, 5) and len(result.forecast) == 15 and not result.failed
    assert {r["algorithm"] for r in result.series} <= {"naive", "seasonal_naive", "ets", "theta"}
    assert all(r["mase_naive"] is not None and r["backtest"] for r in result.series)


def test_a_series_too_short_is_reported_and_the_others_go_on():
    orders = pd.read_csv(shared_file("superstore", "superstore_orders.csv"), encoding="utf-8-sig")
    panel = prepare_panel(orders, "Order Date", "Sales", freq="M", split_by=["Region"], dayfirst=True)
    late = panel.frame[(panel.frame["series_key"] != "West") | (panel.frame["ds"] >= "2022-07-01")]
    short = type(panel)(late.reset_index(drop=True), panel.dims, panel.volume, 0)
    result = fit_panel(short, horizon=6, freq="M", n_jobs=1)
    failed = {r["series_key"]: r["error"] for r in result.failed}
    assert list(failed) == ["West"] and "at least 12" in failed["West"]
    assert result.forecast["series_key"].nunique() == 3
    with pytest.raises(ValidationError):
        prepare_panel(orders, "Order Date", "Sales", freq="M", split_by=[])


def test_the_file_mode_command_infers_hourly_data_and_writes_hours(tmp_path):
    from aihub.forecasting.cli import main

    train = pd.read_csv(shared_file("m4_hourly", "train.csv"))
    test = pd.read_csv(shared_file("m4_hourly", "test.csv"), parse_dates=["ds"])
    keep = ["H1", "H2"]
    src, out = tmp_path / "train.csv", tmp_path / "out.csv"
    train[train["unique_id"].isin(keep)].to_csv(src, index=False)
    assert main(["forecast", "--input", str(src), "--output", str(out), "--horizon", "48", "--all-levels"]) == 0
    got = pd.read_csv(out, parse_dates=["ds"])
    held = test[test["unique_id"].isin(keep)].merge(got, on=["unique_id", "ds"])
    assert len(held) == 96  # every held-out hour has its forecast, matched on the timestamp
    assert {"yhat_lower_80", "yhat_upper_95"} <= set(got.columns)
