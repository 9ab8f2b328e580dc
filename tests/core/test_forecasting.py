"""Tests of :mod:`aihub.forecasting` on the shared real data (no database).

Shared data is read from ``<repo>/../shared/data`` or ``$AIHUB_SHARED_DIR/data``.
Golden files live in ``tests/golden``; regenerate them (after an intended change
of the stored format) with ``AIHUB_REGENERATE_GOLDEN=1 pytest tests/core/test_forecasting.py -k golden``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aihub.errors import ArtifactError, TrainingError, ValidationError
from aihub.forecasting import (
    ALGORITHMS,
    FORECAST_COLUMNS,
    fit_forecast,
    forecast_from_json,
    load_model_json,
    prepare_series,
)
from aihub.forecasting.cli import register
from aihub.jsonsafe import from_jsonable, to_jsonable
from tests.conftest import DATA

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"shared data file {path} is missing; set AIHUB_SHARED_DIR")
    return path


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return pd.read_csv(_data("superstore", "superstore_orders.csv"), encoding="utf-8-sig")


@pytest.fixture(scope="module")
def retail() -> pd.DataFrame:
    return pd.read_csv(_data("prophet_examples", "example_retail_sales.csv"))


@pytest.fixture(scope="module")
def retail_auto(retail):
    return fit_forecast(retail, horizon=12, freq="M")


# --------------------------------------------------------------------- prepare_series


def test_monthly_sales_total_and_span(orders):
    s = prepare_series(orders, "Order Date", "Sales", freq="M")
    assert list(s.columns) == ["ds", "y"]
    assert s["y"].sum() == pytest.approx(2_326_534.35, abs=0.01)
    assert s["ds"].iloc[0] == pd.Timestamp("2019-01-01")  # dd/mm/yy: 03/01/19 is 3 January
    assert s["ds"].iloc[-1] == pd.Timestamp("2022-12-01")
    assert len(s) == 48 and (s["ds"].dt.day == 1).all()
    assert s["ds"].is_monotonic_increasing and not s["ds"].duplicated().any()


def test_region_filter(orders):
    west = prepare_series(orders, "Order Date", "Sales", freq="M", filters={"Region": "West"})
    expected = orders.loc[orders["Region"] == "West", "Sales"].sum()
    assert west["y"].sum() == pytest.approx(expected, rel=1e-12)
    both = prepare_series(orders, "Order Date", "Sales", freq="M", filters={"Region": ["West", "East"]})
    expected_both = orders.loc[orders["Region"].isin(["West", "East"]), "Sales"].sum()
    assert both["y"].sum() == pytest.approx(expected_both, rel=1e-12)
    assert west["y"].sum() < both["y"].sum() < 2_326_534.36


def test_weekly_grid_is_monday_labelled_and_gap_free(orders):
    w = prepare_series(orders, "Order Date", "Sales", freq="W", filters={"Region": "West"})
    assert (w["ds"].dt.dayofweek == 0).all()
    assert (w["ds"].diff().dropna() == pd.Timedelta(days=7)).all()
    assert w["y"].sum() == pytest.approx(orders.loc[orders["Region"] == "West", "Sales"].sum())


def test_sum_fills_periods_without_rows_with_zero(orders):
    d = prepare_series(orders, "Order Date", "Sales", freq="D", filters={"Region": "West"})
    assert (d["ds"].diff().dropna() == pd.Timedelta(days=1)).all()
    days_with_orders = pd.to_datetime(orders.loc[orders.Region == "West", "Order Date"], format="%d/%m/%y").nunique()
    assert len(d) > days_with_orders and (d["y"] == 0).sum() == len(d) - days_with_orders


def test_mean_interpolates_empty_periods():
    df = pd.DataFrame(
        {
            "d": ["2024-01-05", "2024-01-20", "2024-03-10"] + [f"2024-{m:02d}-01" for m in range(4, 10)],
            "v": [10, 20, 40, 1, 1, 1, 1, 1, 1],
        }
    )
    s = prepare_series(df, "d", "v", freq="M", agg="mean")
    assert s.loc[s.ds == "2024-01-01", "y"].item() == 15  # mean of the month
    assert s.loc[s.ds == "2024-02-01", "y"].item() == 27.5  # no rows: halfway between 15 and 40
    total = prepare_series(df, "d", "v", freq="M", agg="sum")
    assert total.loc[total.ds == "2024-02-01", "y"].item() == 0


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"date_col": "Order Day", "value_col": "Sales"}, "Order Day", ["'Order Day'", "Available columns"]),
        ({"date_col": "Order Date", "value_col": "Customer Name"}, "Customer Name", ["must hold numbers"]),
        ({"date_col": "Customer Name", "value_col": "Sales"}, "Customer Name", ["not a date"]),
        (
            {"date_col": "Order Date", "value_col": "Sales", "filters": {"Region": "Wst"}},
            "Region",
            ["'Wst'", "matches no rows", "West"],
        ),
        ({"date_col": "Order Date", "value_col": "Sales", "filters": {"Segmnt": "x"}}, "Segmnt", ["not in the data"]),
        ({"date_col": "Order Date", "value_col": "Sales", "freq": "2W"}, "freq", ["'2W'", "'H', 'D', 'W', 'M', 'Q'"]),
        ({"date_col": "Order Date", "value_col": "Sales", "agg": "median"}, "agg", ["'median'", "'sum', 'mean'"]),
    ],
)
def test_prepare_series_errors_name_the_field(orders, kwargs, field, words):
    kwargs = {"freq": "M", **kwargs}
    with pytest.raises(ValidationError) as err:
        prepare_series(orders, **kwargs)
    assert err.value.field == field
    for w in words:
        assert w in str(err.value)


def test_too_few_periods(orders):
    recent = orders[orders["Order Date"].str.endswith("/12/22")]
    with pytest.raises(ValidationError) as err:
        prepare_series(recent, "Order Date", "Sales", freq="M")
    assert err.value.field == "Order Date" and "at least 8" in str(err.value)


def test_ambiguous_dates_need_dayfirst():
    df = pd.DataFrame({"d": ["01/02/24", "02/03/24", "03/04/24"] * 3, "v": 1.0})
    with pytest.raises(ValidationError, match="dayfirst"):
        prepare_series(df, "d", "v", freq="D", min_periods=1)
    s = prepare_series(df, "d", "v", freq="M", dayfirst=True, min_periods=1)
    assert list(s.ds.dt.month) == [2, 3, 4]


# ------------------------------------------------------------------ fit_forecast


def test_auto_beats_naive_in_backtest(retail_auto):
    r = retail_auto
    assert r.algorithm in ALGORITHMS and r.algorithm != "auto"
    assert r.metrics["mase"] < r.metrics["mase_naive"]
    table = r.backtest.set_index("algorithm")
    assert {"naive", "seasonal_naive", "ets", "theta", "arima", "combination", "prophet"} <= set(table.index)
    ok = table[table.status == "ok"]
    assert table.loc[r.algorithm, "mase"] == pytest.approx(ok["mase"].min())
    assert table["selected"].sum() == 1 and table.loc[r.algorithm, "selected"]
    json.dumps(r.metrics, allow_nan=False)  # JSON-ready for the database
    for key in ("mae", "rmse", "mape", "mase", "smape"):
        assert r.metrics[key] is not None and r.metrics[key] >= 0
    assert set(r.library_versions) >= {"prophet", "statsforecast", "pandas", "numpy"}


def test_forecast_frame_and_interval_order(retail_auto, retail):
    fc = retail_auto.forecast
    assert list(fc.columns) == list(FORECAST_COLUMNS)
    assert len(fc) == 12
    last = pd.Timestamp(retail["ds"].iloc[-1])
    assert list(fc.ds) == list(pd.date_range(last, periods=13, freq="MS")[1:])
    v = fc.drop(columns="ds").to_numpy()
    assert np.isfinite(v).all()
    lo95, lo80, yhat, hi80, hi95 = (
        fc[c].to_numpy() for c in ("yhat_lower_95", "yhat_lower_80", "yhat", "yhat_upper_80", "yhat_upper_95")
    )
    assert (lo95 <= lo80).all() and (lo80 <= yhat).all() and (yhat <= hi80).all() and (hi80 <= hi95).all()
    assert (hi95 - lo95 > 0).any()


@pytest.mark.parametrize("algorithm", ["naive", "seasonal_naive", "ets", "theta", "prophet"])
def test_each_algorithm_round_trips_through_json(retail, algorithm):
    r = fit_forecast(retail.iloc[-120:], horizon=6, freq="M", algorithm=algorithm)
    assert r.algorithm == algorithm
    fc = r.forecast
    assert (fc.yhat_lower_95 <= fc.yhat_lower_80).all() and (fc.yhat_upper_80 <= fc.yhat_upper_95).all()
    assert (fc.yhat_lower_80 <= fc.yhat).all() and (fc.yhat <= fc.yhat_upper_80).all()
    again = forecast_from_json(r.model_json)
    pd.testing.assert_frame_equal(again, fc)
    assert "pickle" not in r.model_json.lower()
    assert json.loads(r.model_json)["algorithm"] == algorithm


def test_auto_model_json_regenerates_forecast(retail_auto):
    stored = load_model_json(retail_auto.model_json)
    assert stored.algorithm == retail_auto.algorithm
    pd.testing.assert_frame_equal(stored.forecast(), retail_auto.forecast)
    longer = stored.forecast(18)
    pd.testing.assert_frame_equal(longer.iloc[:12].reset_index(drop=True), retail_auto.forecast)


def test_parameters_are_validated_up_front(retail):
    with pytest.raises(ValidationError) as err:
        fit_forecast(retail, horizon=12, freq="M", algorithm="lstm")
    assert err.value.field == "algorithm" and "'lstm'" in str(err.value) and "'prophet'" in str(err.value)
    for bad in (0, -3, 2.5, True, "12"):
        with pytest.raises(ValidationError) as err:
            fit_forecast(retail, horizon=bad, freq="M")
        assert err.value.field == "horizon"
    with pytest.raises(ValidationError):
        fit_forecast(retail, horizon=500, freq="M")
    with pytest.raises(ValidationError) as err:
        fit_forecast(retail, horizon=3, freq="M", candidates=["ets", "xgboost"])
    assert err.value.field == "candidates"


def test_short_history_is_a_training_error_an_analyst_can_act_on(retail):
    with pytest.raises(TrainingError) as err:
        fit_forecast(retail.iloc[:5], horizon=12, freq="M")
    msg = str(err.value)
    assert "only 5 monthly points" in msg and "at least 24" in msg and "12-month horizon" in msg


def test_irregular_series_is_rejected(retail):
    with pytest.raises(ValidationError) as err:
        fit_forecast(retail.drop(index=10), horizon=3, freq="M")
    assert err.value.field == "ds" and "expected" in str(err.value)


def test_prophet_and_cmdstanpy_loggers_are_quiet(retail):
    fit_forecast(retail.iloc[-36:], horizon=3, freq="M", algorithm="prophet")
    assert logging.getLogger("prophet").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("cmdstanpy").getEffectiveLevel() >= logging.WARNING


# ------------------------------------------------------------------ golden files


def _golden_series() -> pd.DataFrame:
    text = _data("prophet_examples", "example_air_passengers.csv").read_text().replace("\r\n", "\n").replace("\r", "\n")
    from io import StringIO

    return pd.read_csv(StringIO(text)).iloc[-72:].reset_index(drop=True)


@pytest.mark.parametrize("algorithm", ["ets", "prophet"])
def test_golden_model_json(algorithm):
    model_path = GOLDEN / f"forecast_{algorithm}_air_passengers.json"
    fc_path = GOLDEN / f"forecast_{algorithm}_air_passengers.csv"
    if os.environ.get("AIHUB_REGENERATE_GOLDEN"):
        r = fit_forecast(_golden_series(), horizon=12, freq="M", algorithm=algorithm)
        GOLDEN.mkdir(exist_ok=True)
        model_path.write_text(r.model_json)
        r.forecast.to_csv(fc_path, index=False, float_format="%.10g")
    golden_json = model_path.read_text()
    expected = pd.read_csv(fc_path, parse_dates=["ds"])
    stored = load_model_json(golden_json)
    assert stored.algorithm == algorithm and stored.freq == "M" and stored.horizon == 12
    got = stored.forecast()
    assert list(got.columns) == list(FORECAST_COLUMNS)
    assert list(got.ds) == list(expected.ds)
    np.testing.assert_allclose(got.drop(columns="ds").to_numpy(), expected.drop(columns="ds").to_numpy(), rtol=1e-7)
    # the encoder is lossless: decoding and re-encoding gives the same document
    doc = json.loads(golden_json)
    assert to_jsonable(from_jsonable(doc["state"])) == doc["state"]


def test_tampered_or_foreign_json_is_rejected():
    with pytest.raises(ArtifactError):
        load_model_json("not json")
    with pytest.raises(ArtifactError):
        load_model_json(json.dumps({"format": "something else"}))
    doc = json.loads((GOLDEN / "forecast_ets_air_passengers.json").read_text())
    doc["algorithm"] = "os.system"
    with pytest.raises(ArtifactError, match="os.system"):
        load_model_json(json.dumps(doc))


# --------------------------------------------------------------------------- CLI


def test_cli_writes_exact_columns_for_many_series(tmp_path):
    train = pd.read_csv(_data("m4_weekly", "train.csv"))
    ids = ["W7", "W25", "W61"]
    sub = train[train.unique_id.isin(ids)]
    src = tmp_path / "train.csv"
    sub.rename(columns={"unique_id": "sku", "y": "units"}).to_csv(src, index=False)
    out = tmp_path / "out" / "fc.csv"

    parser = argparse.ArgumentParser(prog="aihub")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "forecast",
            "--input",
            str(src),
            "--horizon",
            "13",
            "--output",
            str(out),
            "--id-col",
            "sku",
            "--value-col",
            "units",
            "--n-jobs",
            "2",
        ]
    )
    assert args.func(args) == 0

    fc = pd.read_csv(out, dtype={"unique_id": str}, parse_dates=["ds"])
    assert list(fc.columns) == ["unique_id", "ds", "yhat", "yhat_lower", "yhat_upper", "model"]
    assert list(dict.fromkeys(fc.unique_id)) == ids and len(fc) == 13 * len(ids)
    for uid, g in fc.groupby("unique_id"):
        last = pd.Timestamp(sub.loc[sub.unique_id == uid, "ds"].max())
        assert list(g.ds) == [last + pd.Timedelta(weeks=k) for k in range(1, 14)]
        assert g.model.nunique() == 1 and g.model.iloc[0] in ALGORITHMS
    assert (fc.yhat_lower <= fc.yhat).all() and (fc.yhat <= fc.yhat_upper).all()
    assert np.isfinite(fc[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()).all()


def test_cli_reports_bad_input_with_exit_code(tmp_path, capsys):
    src = tmp_path / "t.csv"
    pd.DataFrame({"unique_id": ["a"] * 5, "ds": pd.date_range("2024-01-01", periods=5, freq="W-MON"), "y": 1.0}).to_csv(
        src, index=False
    )
    parser = argparse.ArgumentParser(prog="aihub")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["forecast", "--input", str(src), "--horizon", "4", "--output", str(tmp_path / "o.csv")])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "'a'" in err and "at least 8" in err
    assert not (tmp_path / "o.csv").exists()
