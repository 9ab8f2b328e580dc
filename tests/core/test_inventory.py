"""Inventory policy from forecast frames: textbook figures, trigger, simulation on Superstore demand, command."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from aihub.cli import main
from aihub.errors import ValidationError
from aihub.forecasting import fit_forecast, prepare_series
from aihub.inventory import (
    MIN_ERRORS,
    empirical_order_up_to,
    inventory_policy,
    loss_function,
    policy_for,
    products_to_order,
    protection_errors,
    rolling_forecasts,
    simulate_order_up_to,
)
from tests.conftest import DATA


def _flat_forecast(mean: float, sigma: float, n: int = 12, level: int = 95) -> pd.DataFrame:
    z = norm.ppf(0.5 + level / 200)
    return pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="W-MON"), "yhat": mean,
                         f"yhat_lower_{level}": mean - z * sigma, f"yhat_upper_{level}": mean + z * sigma})


def test_continuous_review_matches_the_textbook_formulas():
    # weekly demand 100 +- 20, L = 4 weeks, CSL 0.95, A = 50, h = 0.1 per unit-week
    out = policy_for(_flat_forecast(100, 20), 380.0, {"lead_time": 4, "service_level": 0.95, "ordering_cost": 50,
                                                       "holding_cost": 0.1})
    k, sigma_l = norm.ppf(0.95), 20 * 2.0
    assert out["demand_over_protection"] == pytest.approx(400)
    assert out["sigma_over_protection"] == pytest.approx(sigma_l)
    assert out["safety_stock"] == pytest.approx(k * sigma_l)
    assert out["reorder_point"] == pytest.approx(400 + k * sigma_l)
    assert out["order_quantity"] == pytest.approx(math.sqrt(2 * 50 * 100 / 0.1))
    assert out["needs_order"] and out["order_now"] == pytest.approx(out["order_quantity"])
    assert out["stockout_probability"] == pytest.approx(norm.sf((380 - 400) / sigma_l))
    assert out["expected_fill_rate"] == pytest.approx(1 - sigma_l * loss_function(k) / out["order_quantity"])
    assert loss_function(0.0) == pytest.approx(0.3989, abs=1e-4)  # G_u(0) = phi(0), SPT table B.1


def test_periodic_review_uses_r_plus_l_and_fractional_periods():
    f = _flat_forecast(10, 3, level=80).rename(columns={"yhat_lower_80": "yhat_lower", "yhat_upper_80": "yhat_upper"})
    out = policy_for(f, 50.0, {"lead_time": 1.5, "review_period": 1, "service_level": 0.9, "interval_level": 80})
    assert out["policy"] == "(R, S)" and out["reorder_point"] is None
    assert out["demand_over_protection"] == pytest.approx(25)
    assert out["sigma_over_protection"] == pytest.approx(3 * math.sqrt(2.5))
    assert out["order_now"] == pytest.approx(max(out["order_up_to"] - 50, 0))
    with pytest.raises(ValidationError, match="forecast further ahead"):
        policy_for(f.head(2), 0.0, {"lead_time": 3})
    with pytest.raises(ValidationError, match="service_level"):
        policy_for(f, 0.0, {"lead_time": 1, "service_level": 1.2})
    with pytest.raises(ValidationError, match="lead_time"):
        policy_for(f, 0.0, {"review_period": 1})


def test_trigger_lists_products_at_their_reorder_point():
    fc = pd.concat([_flat_forecast(100, 20).assign(product="a"), _flat_forecast(5, 1).assign(product="b")])
    policy = inventory_policy(fc, {"a": 100.0, "b": 500.0}, {"lead_time": 2})
    due = products_to_order(policy)
    assert list(due["product"]) == ["a"] and due["stockout_probability"].iloc[0] > 0.5
    with pytest.raises(ValidationError, match="no inventory position for product 'b'"):
        inventory_policy(fc, {"a": 1.0}, {"lead_time": 2})


def test_forecast_policy_on_held_back_superstore_demand_beats_the_naive_policy():
    orders = pd.read_csv(DATA / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    series = prepare_series(orders[orders["Sub-Category"] == "Binders"], "Order Date", "Quantity", freq="W")
    H, L = 26, 2
    train, test = series.iloc[:-H], series.iloc[-H:]
    fc = fit_forecast(train, horizon=H + L + 1, freq="W", algorithm="ets", serialize=False, in_sample=False).forecast
    levels = [policy_for(fc.iloc[t:].reset_index(drop=True), 0, {"lead_time": L, "review_period": 1,
                                                                  "service_level": 0.95})["order_up_to"] for t in range(H)]
    got = simulate_order_up_to(test["y"].to_numpy(), np.array(levels), L)
    naive = simulate_order_up_to(test["y"].to_numpy(), np.full(H, train["y"].mean() * (L + 1)), L)
    assert got["periods"] == H - L
    assert got["cycle_service_level"] > naive["cycle_service_level"] and got["fill_rate"] > naive["fill_rate"]


def test_simulation_counts_backorders_by_hand():
    # level 10, lead time 1. Week 0: 10 on hand, orders 0, sells 5 (net 5). Week 1: orders 5 (arrives in
    # week 2), sells 5 of 12 (net -7). Week 2: the 5 arrive (net -2), orders 12, nothing on hand, 3 more
    # backordered (net -5).
    r = simulate_order_up_to(np.array([5.0, 12.0, 3.0]), np.array([10.0, 10.0, 10.0]), 1, warmup=0)
    assert r == {"cycle_service_level": pytest.approx(1 / 3), "fill_rate": pytest.approx((5 + 5 + 0) / 20),
                 "mean_on_hand": pytest.approx(5 / 3), "periods": 3}


def test_command_reads_an_aihub_forecast(tmp_path):
    fc = pd.concat([_flat_forecast(100, 20).assign(unique_id="a"), _flat_forecast(5, 1).assign(unique_id="b")])
    fc = fc.rename(columns={"yhat_lower_95": "yhat_lower", "yhat_upper_95": "yhat_upper"})
    fc.to_csv(tmp_path / "fc.csv", index=False)
    pd.DataFrame({"product": ["a", "b"], "inventory_position": [100, 500]}).to_csv(tmp_path / "pos.csv", index=False)
    out, due = tmp_path / "policy.csv", tmp_path / "due.csv"
    assert main(["inventory", "--forecast", str(tmp_path / "fc.csv"), "--positions", str(tmp_path / "pos.csv"),
                 "--lead-time", "2", "--output", str(out), "--due", str(due)]) == 0
    assert list(pd.read_csv(due)["product"]) == ["a"] and len(pd.read_csv(out)) == 2
    assert main(["inventory", "--forecast", str(tmp_path / "fc.csv"), "--positions", str(tmp_path / "pos.csv"),
                 "--lead-time", "-1", "--output", str(out)]) == 2


def test_empirical_safety_stock_is_the_quantile_of_past_errors():
    errors = np.linspace(-2.0, 4.0, 61)  # scaled by sqrt(forecast)
    level, safety = empirical_order_up_to(100.0, errors, 0.95)
    assert level == pytest.approx(100 + 10 * np.quantile(errors, 0.95)) and safety == pytest.approx(level - 100)
    assert empirical_order_up_to(100.0, errors, 0.95, power=1.0)[0] == pytest.approx(100 + 100 * np.quantile(errors, 0.95))
    assert empirical_order_up_to(100.0, errors, 0.95, power=0.0)[0] == pytest.approx(100 + np.quantile(errors, 0.95))
    with pytest.raises(ValidationError, match=f"at least {MIN_ERRORS}"):
        empirical_order_up_to(100.0, errors[:5], 0.95)
    with pytest.raises(ValidationError, match="between 0 and 1"):
        empirical_order_up_to(100.0, errors, 0.95, power=2)
    # policy_for uses them, with the empirical tail as the stock-out probability; too few -> the normal formula
    out = policy_for(_flat_forecast(100, 20), 320.0, {"lead_time": 2, "review_period": 1}, errors=errors)
    assert out["order_up_to"] == pytest.approx(300 + np.sqrt(300) * np.quantile(errors, 0.95))
    assert out["stockout_probability"] == pytest.approx(np.mean(300 + np.sqrt(300) * errors > 320))
    assert out["safety_stock_basis"] == "empirical (61 past errors)"
    normal = policy_for(_flat_forecast(100, 20), 250.0, {"lead_time": 2, "review_period": 1}, errors=errors[:5])
    assert normal["safety_stock_basis"] == "normal" and normal["safety_stock"] == pytest.approx(
        norm.ppf(0.95) * 20 * math.sqrt(3))
    fc = pd.concat([_flat_forecast(100, 20).assign(product="a"), _flat_forecast(5, 1).assign(product="b")])
    both = inventory_policy(fc, {"a": 0.0, "b": 0.0}, {"lead_time": 2}, errors={"a": errors}).set_index("product")
    assert both.loc["a", "safety_stock_basis"].startswith("empirical") and both.loc["b", "safety_stock_basis"] == "normal"


def test_protection_errors_use_only_intervals_that_have_ended():
    y = np.arange(1.0, 21.0)
    forecasts = {t: pd.DataFrame({"yhat": [10.0, 10.0, 10.0]}) for t in range(5, 20)}
    got = protection_errors(y, forecasts, 3, before=12)
    # origins 5..9 end by 12 (t + 3 <= 12); demand y[t:t+3] summed against a forecast of 30
    assert got == pytest.approx([(np.sum(y[t:t + 3]) - 30) / np.sqrt(30) for t in range(5, 10)])
    assert protection_errors(y, forecasts, 3, before=12, power=1.0) == pytest.approx(
        [np.sum(y[t:t + 3]) / 30 - 1 for t in range(5, 10)])
    assert len(protection_errors(y, forecasts, 3, before=12, window=2)) == 2


def test_rolling_forecasts_never_see_the_future():
    orders = pd.read_csv(DATA / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    series = prepare_series(orders[orders["Sub-Category"] == "Paper"], "Order Date", "Quantity", freq="W")
    n = len(series)
    kw = {"freq": "W", "first_origin": n - 12, "last_origin": n - 4, "horizon": 3, "refit_every": 4,
          "candidates": ["ets", "theta"]}
    got = rolling_forecasts(series, **kw)
    assert sorted(got) == list(range(n - 12, n - 3)) and all(len(f) == 3 for f in got.values())
    later = series.assign(y=np.where(np.arange(n) >= n - 8, series["y"] * 10, series["y"]))
    changed = rolling_forecasts(later, **kw)
    for t in range(n - 12, n - 7):  # reviews before the change see the same history
        pd.testing.assert_frame_equal(got[t], changed[t])
    assert changed[n - 4]["yhat"].sum() > 3 * got[n - 4]["yhat"].sum()  # a refit after it follows the change
    assert got[n - 11]["ds"].iloc[0] == series["ds"].iloc[n - 11]  # between refits: the later rows of the forecast
    with pytest.raises(ValidationError, match="first_origin"):
        rolling_forecasts(series, freq="W", first_origin=0, horizon=3)


def test_rolling_empirical_policy_reaches_the_target_on_held_back_demand():
    orders = pd.read_csv(DATA / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    series = prepare_series(orders[orders["Sub-Category"] == "Accessories"], "Order Date", "Quantity", freq="W")
    n, H, L = len(series), 52, 2
    y = series["y"].to_numpy(dtype=float)
    params = {"lead_time": L, "review_period": 1, "service_level": 0.95}
    rolling = rolling_forecasts(series, freq="W", first_origin=n - H - 40, last_origin=n - 1, horizon=L + 1,
                                refit_every=8, candidates=["ets", "theta"])
    emp = [policy_for(rolling[t], 0, params, errors=protection_errors(y, rolling, L + 1, before=t))["order_up_to"]
           for t in range(n - H, n)]
    normal = [policy_for(rolling[t], 0, params)["order_up_to"] for t in range(n - H, n)]
    got, rolling_normal = (simulate_order_up_to(y[-H:], np.array(lv), L) for lv in (emp, normal))
    assert got["cycle_service_level"] >= 0.9 and got["cycle_service_level"] > rolling_normal["cycle_service_level"]


def test_command_sizes_safety_stock_from_the_history(tmp_path):
    orders = pd.read_csv(DATA / "superstore" / "superstore_orders.csv", encoding="utf-8-sig")
    series = prepare_series(orders[orders["Sub-Category"] == "Binders"], "Order Date", "Quantity", freq="W")
    fc = fit_forecast(series, horizon=6, freq="W", algorithm="ets", serialize=False, in_sample=False).forecast
    fc.assign(unique_id="Binders").to_csv(tmp_path / "fc.csv", index=False)
    series.assign(unique_id="Binders").to_csv(tmp_path / "hist.csv", index=False)
    pd.DataFrame({"product": ["Binders"], "inventory_position": [50]}).to_csv(tmp_path / "pos.csv", index=False)
    out = tmp_path / "policy.csv"
    args = ["inventory", "--forecast", str(tmp_path / "fc.csv"), "--positions", str(tmp_path / "pos.csv"),
            "--lead-time", "2", "--review-period", "1", "--output", str(out), "--history", str(tmp_path / "hist.csv")]
    assert main(args) == 2  # --history needs --freq
    assert main([*args, "--freq", "W"]) == 0
    got = pd.read_csv(out).iloc[0]
    assert got["safety_stock_basis"].startswith("empirical") and got["order_up_to"] > got["demand_over_protection"]
