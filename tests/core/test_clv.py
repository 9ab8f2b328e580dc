"""BG/NBD + Gamma-Gamma: published CDNOW figures, parameter recovery on simulated data, Superstore, command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.cli import main
from aihub.clv import (
    CLVModel,
    bgnbd_expected_purchases,
    bgnbd_probability_alive,
    fit_clv,
    gamma_gamma_expected_value,
    predict_clv,
    summary_from_orders,
)
from aihub.errors import ValidationError
from tests.conftest import DATA

ORDERS = DATA / "superstore" / "superstore_orders.csv"
#: CDNOW estimates, Fader, Hardie & Lee (2005) section 4: r, alpha, a, b.
CDNOW = np.array([0.243, 4.414, 0.793, 2.426])


@pytest.mark.parametrize(("x", "t_x", "T", "expected", "alive"), [
    # (2, 30.43, 38.86) -> 1.226 is the worked example of Fader, Hardie & Lee (2005), section 5;
    # the other values were computed with lifetimes 0.11.3 (BetaGeoFitter) at the same parameters.
    (2, 30.43, 38.86, 1.226028174767135, 0.726578570080673),
    (1, 1.71, 38.86, 0.20318698707975183, 0.2121009853773791),
    (7, 35.0, 38.0, 4.556185276589759, 0.8619910650934327),
    (15, 20.0, 39.0, 0.03416990968248185, 0.0031934403899985257),
    (0, 0.0, 38.86, 0.19509805201125396, 1.0),
])
def test_bgnbd_conditional_expectation_matches_published_and_reference_values(x, t_x, T, expected, alive):
    a = [np.array([v], dtype=float) for v in (x, t_x, T)]
    assert bgnbd_expected_purchases(CDNOW, 39.0, *a)[0] == pytest.approx(expected, rel=1e-9)
    assert bgnbd_probability_alive(CDNOW, *a)[0] == pytest.approx(alive, rel=1e-9)


def test_gamma_gamma_expected_value_matches_reference_values():
    # lifetimes 0.11.3 GammaGammaFitter.conditional_expected_average_profit at p=6.25, q=3.74, v=15.44
    got = gamma_gamma_expected_value(np.array([6.25, 3.74, 15.44]), np.array([1, 5, 10]), np.array([20.0, 35.0, 12.0]))
    np.testing.assert_allclose(got, [24.6384872080089, 35.01765225066196, 12.975168608215816], rtol=1e-9)


def _simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """BG/NBD customers with the CDNOW parameters, first purchase at 0, observed for 27 to 39 weeks."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(CDNOW[0], 1 / CDNOW[1], n)
    drop = rng.beta(CDNOW[2], CDNOW[3], n)
    T = rng.uniform(27, 39, n)
    spend_scale = rng.gamma(3.0, 1 / 20.0, n)  # nu ~ Gamma(q=3, gamma=20): Gamma-Gamma with p = 4
    rows = []
    for i in range(n):
        t, x, t_x, values = 0.0, 0, 0.0, []
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            x, t_x = x + 1, t
            values.append(rng.gamma(4.0, 1 / spend_scale[i]))
            if rng.random() < drop[i]:
                break
        rows.append((i, x, t_x, T[i], float(np.mean(values)) if values else 0.0))
    return pd.DataFrame(rows, columns=["customer", "frequency", "recency", "T", "monetary"])


def test_fit_recovers_the_parameters_that_generated_the_data():
    sim = _simulate(6000)
    model = fit_clv(sim)
    bg = model.bgnbd_
    assert bg["r"] == pytest.approx(CDNOW[0], rel=0.15) and bg["alpha"] == pytest.approx(CDNOW[1], rel=0.2)
    # a and b are weakly identified separately; the mean drop-out probability a / (a + b) is well determined
    assert bg["a"] / (bg["a"] + bg["b"]) == pytest.approx(CDNOW[2] / CDNOW[2:].sum(), abs=0.04)
    gg = model.gamma_gamma_
    assert gg["p"] == pytest.approx(4.0, rel=0.25) and gg["p"] * gg["gamma"] / (gg["q"] - 1) == pytest.approx(
        4.0 * 20.0 / 2.0, rel=0.15)
    # the fitted model implies the expected 39-week purchase count of the true parameters
    pred = predict_clv(model, sim.assign(frequency=0, recency=0.0, T=0.0), horizon_days=7 * 39)
    assert pred["expected_purchases"].mean() == pytest.approx(
        bgnbd_expected_purchases(CDNOW, 39.0, *(np.zeros(1),) * 3)[0], rel=0.15)


def test_summary_from_orders_follows_the_papers_conventions():
    orders = pd.read_csv(ORDERS, encoding="utf-8-sig")
    s = summary_from_orders(orders, "Customer ID", "Order Date", "Sales", time_unit_days=7)
    one = orders[orders["Customer ID"] == "DP-13000"].copy()
    one["day"] = pd.to_datetime(one["Order Date"], format="%d/%m/%y")
    days = one.groupby("day")["Sales"].sum().sort_index()
    row = s.set_index("customer").loc["DP-13000"]
    assert row["frequency"] == len(days) - 1
    assert row["recency"] == pytest.approx((days.index[-1] - days.index[0]).days / 7)
    assert row["monetary"] == pytest.approx(days.iloc[1:].mean())
    end = pd.to_datetime(orders["Order Date"], format="%d/%m/%y").max() + pd.Timedelta(days=1)
    assert row["T"] == pytest.approx((end - days.index[0]).days / 7)


def test_superstore_fit_predicts_and_round_trips():
    orders = pd.read_csv(ORDERS, encoding="utf-8-sig")
    s = summary_from_orders(orders, "Customer ID", "Order Date", "Sales")
    model = fit_clv(s)
    back = CLVModel.from_state(json.loads(json.dumps(model.to_state(), allow_nan=False)))
    a, b = predict_clv(model, s), predict_clv(back, s)
    pd.testing.assert_frame_equal(a, b)
    assert a["probability_alive"].between(0, 1).all() and (a["expected_spend"] >= 0).all()
    assert np.allclose(a["expected_spend"], a["expected_purchases"] * a["expected_order_value"])
    with pytest.raises(ValidationError, match="horizon_days"):
        predict_clv(model, s, horizon_days=0)


def test_bad_input_is_named():
    with pytest.raises(ValidationError, match="row 2"):
        fit_clv(pd.DataFrame({"frequency": [1, 2] * 15, "recency": [1.0, 9.0] * 15, "T": [5.0, 5.0] * 15,
                              "monetary": [1.0] * 30}))
    with pytest.raises(ValidationError, match="time_unit_days"):
        fit_clv(_simulate(50), time_unit_days=0)


def test_command_writes_one_row_per_customer(tmp_path):
    out = tmp_path / "clv.csv"
    assert main(["clv", "--input", str(ORDERS), "--customer-col", "Customer ID", "--date-col", "Order Date",
                 "--amount-col", "Sales", "--output", str(out), "--state", str(tmp_path / "m.json")]) == 0
    got = pd.read_csv(out)
    assert len(got) == pd.read_csv(ORDERS, encoding="utf-8-sig")["Customer ID"].nunique()
    assert {"probability_alive", "expected_spend"} <= set(got.columns)
    assert main(["clv", "--input", str(ORDERS), "--customer-col", "Customer ID", "--date-col", "Order Date",
                 "--amount-col", "Segment", "--output", str(out)]) == 2
