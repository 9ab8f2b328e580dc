"""Price elasticity and demand: hierarchical shrinkage, the anchored form, out-of-sample accuracy against the naive
last value on the shared retail history, recommendations that hold when the data do not support a move, storage,
command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.cli import main
from aihub.errors import ValidationError
from aihub.pricing import (
    LITERATURE_ELASTICITY,
    RECOMMENDATION_FIELDS,
    ElasticityModel,
    fit_elasticity,
    predict_quantity,
    price_panel,
    recommend_price,
)
from tests.conftest import DATA

RETAIL = DATA / "pricing" / "retail_price.csv"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    d = pd.read_csv(RETAIL)
    return price_panel(d, "product_id", "month_year", "unit_price", "qty", category_col="product_category_name",
                       competitor_cols=["comp_1", "comp_2", "comp_3"])


@pytest.fixture(scope="module")
def model(panel) -> ElasticityModel:
    return fit_elasticity(panel)


def simulated(betas: dict[str, float], *, months: int = 24, price_sd: float = 0.15, noise: float = 0.05,
              category: dict[str, str] | None = None, level_shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Monthly demand exp(4 + shift + beta log(p / 10) + noise); ``level_shift`` from the second half on."""
    rng = np.random.default_rng(seed)
    rows = []
    for prod, beta in betas.items():
        for m in range(months):
            price = 10 * np.exp(rng.normal(0, price_sd)) if price_sd else 10.0
            shift = level_shift if m >= months // 2 else 0.0
            q = np.exp(4 + shift + beta * np.log(price / 10) + rng.normal(0, noise))
            rows.append((prod, (category or {}).get(prod, "all"), pd.Timestamp("2020-01-01") + pd.DateOffset(months=m),
                         price, q))
    df = pd.DataFrame(rows, columns=["p", "cat", "d", "price", "q"])
    return price_panel(df, "p", "d", "price", "q", category_col="cat")


def test_recovers_a_known_elasticity_from_simulated_demand():
    truth = {"a": -1.5, "b": -2.5, "c": -2.0}
    got = fit_elasticity(simulated(truth), seasonality=False).products_.set_index("product")
    for prod, beta in truth.items():
        assert got.loc[prod, "own_elasticity"] == pytest.approx(beta, abs=4 * got.loc[prod, "own_std_error"])
        assert got.loc[prod, "elasticity"] == pytest.approx(beta, abs=0.2)
        assert got.loc[prod, "source"] == "pooled"


def test_wild_own_slopes_are_pulled_toward_the_category_and_the_prior(model):
    p = model.products_.set_index("product")
    pooled = p[p["source"] == "pooled"]
    cats = model.categories_.set_index("category")["elasticity"]
    own, est, mu = pooled["own_elasticity"], pooled["elasticity"], pooled["category"].map(cats)
    # every estimate lies between its own slope and its category's estimate
    assert ((est - mu).abs() <= (own - mu).abs() + 1e-6).all()
    assert (np.sign(est - mu) * np.sign(own - mu) >= 0).all()
    # the noisiest own slopes (some beyond -25 or +15 here) end up within the range of published elasticities
    assert own.abs().max() > 15 and est.between(-8, 3).all()
    assert (own > 0).sum() > (est > 0).sum()
    assert (p["lower"] < p["elasticity"]).all() and (p["elasticity"] < p["upper"]).all()
    flat = p[p["price_variation"] < 0.02]
    assert len(flat) and (flat["source"] != "pooled").all() and flat["status"].str.contains(
        "too little price variation|distinct price").all()


def test_a_category_that_never_changes_price_gets_the_prior_and_its_prices_are_kept():
    truth = {"a": -2.0, "b": -2.2, "c": -1.8, "flat1": -2.0, "flat2": -2.0}
    cats = {"a": "moving", "b": "moving", "c": "moving", "flat1": "fixed", "flat2": "fixed"}
    df = pd.concat([simulated({k: v for k, v in truth.items() if cats[k] == "moving"}, category=cats),
                    simulated({k: v for k, v in truth.items() if cats[k] == "fixed"}, category=cats, price_sd=0.0)])
    m = fit_elasticity(df, seasonality=False)
    row = m.product("flat1")
    assert row["source"] == "prior" and row["elasticity"] == pytest.approx(LITERATURE_ELASTICITY)
    rec, _ = recommend_price(m, "flat1")
    assert rec["decision"] == "keep" and rec["status"] == "no_estimate" and rec["recommended_price"] == rec["current_price"]
    assert "price test" in rec["reason"] and any("no estimate from the data" in n for n in m.notes_)


def test_anchored_form_follows_a_level_shift_and_is_chosen_by_the_inner_split():
    df = simulated({"a": -2.0, "b": -2.0, "c": -2.0, "d": -2.0}, months=20, level_shift=0.7, noise=0.1, seed=3)
    m = fit_elasticity(df, seasonality=False)
    sel = m.selection_.set_index("form")
    assert m.form_ == "anchored" and sel.loc["anchored", "selected"] and sel.loc["anchored", "score"] < sel.loc[
        "regression", "score"]
    nxt = pd.DataFrame({"product": list("abcd"), "period": pd.Timestamp("2021-09-01"), "price": 10.0})
    truth = np.exp(4.7)
    anchored = predict_quantity(m, nxt)
    regression = predict_quantity(fit_elasticity(df, seasonality=False, form="regression"), nxt)
    assert np.abs(np.log(anchored / truth)).mean() < 0.15 < np.abs(np.log(regression / truth)).mean()


def test_forecasts_next_month_at_least_as_well_as_the_naive_last_value(panel):
    months = sorted(panel["period"].unique())
    errs = {"model": [], "naive": []}
    for t in months[-6:]:
        train, test = panel[panel["period"] < t], panel[panel["period"] == t]
        test = test[test["product"].isin(train["product"])]
        pred = predict_quantity(fit_elasticity(train), test)
        last = train.groupby("product")["quantity"].last()[test["product"]].to_numpy()
        errs["model"].extend(np.abs(test["quantity"] - pred) / test["quantity"])
        errs["naive"].extend(np.abs(test["quantity"] - last) / test["quantity"])
    assert np.isfinite(errs["model"]).all()
    # last six months only (the benchmark scores twelve): MAPE clearly lower, median APE no more than 2 points higher
    assert np.mean(errs["model"]) <= 0.95 * np.mean(errs["naive"])
    assert np.median(errs["model"]) <= np.median(errs["naive"]) + 0.02


def test_inelastic_demand_raises_to_the_bound_and_says_so():
    m = fit_elasticity(simulated({"a": -0.4, "b": -0.5, "c": -0.45}, months=30), seasonality=False)
    rec, curve = recommend_price(m, "a", max_change=0.1)
    assert set(RECOMMENDATION_FIELDS) == set(rec)
    assert rec["elasticity_upper"] < -0.0 and rec["elasticity_lower"] > -1
    assert rec["decision"] == "raise" and rec["status"] == "at_bound" and rec["at_bound"]
    assert rec["recommended_price"] == pytest.approx(rec["current_price"] * 1.1)
    assert "inelastic" in rec["reason"] and "highest price your bounds allow" in rec["reason"]
    assert f"{rec['elasticity_lower']:+.2f} to {rec['elasticity_upper']:+.2f}" in rec["reason"]
    assert rec["gain_probability"] >= 0.95 and rec["revenue_recommended"] > rec["revenue_now"]
    assert (curve["revenue_low"] <= curve["revenue"] + 1e-9).all() and (curve["revenue"] <= curve["revenue_high"] + 1e-9).all()
    assert (curve["revenue_high"] - curve["revenue_low"]).iloc[[0, -1]].min() > 0  # the draws disagree away from today


def test_an_interval_straddling_minus_one_keeps_todays_price():
    m = fit_elasticity(simulated({"a": -1.0, "b": -1.0, "c": -1.0}, price_sd=0.1, noise=0.2, seed=1),
                       seasonality=False)
    row = m.product("a")
    assert row["lower"] < -1 < row["upper"]
    rec, _ = recommend_price(m, "a")
    assert rec["decision"] == "keep" and rec["status"] == "uncertain" and rec["recommended_price"] == rec["current_price"]
    assert rec["gain_probability"] < 0.95 and f"{rec['gain_probability']:.0%}" in rec["reason"]


def test_profit_objective_finds_the_interior_optimum():
    m = fit_elasticity(simulated({"a": -3.0, "b": -3.0, "c": -3.0}, months=36, noise=0.02), seasonality=False)
    beta = m.product("a")["elasticity"]
    cost = 6.0  # optimum c beta / (1 + beta), about 9 at beta = -3
    rec, _curve = recommend_price(m, "a", current_price=10.0, unit_cost=cost, objective="profit", max_change=0.5,
                                 grid=401)
    assert rec["recommended_price"] == pytest.approx(cost * beta / (1 + beta), rel=0.02) and not rec["at_bound"]
    assert rec["profit_recommended"] >= rec["profit_now"]


def test_bounds_margins_and_errors(model):
    prod = model.products_.iloc[0]
    p0 = prod["last_price"]
    rec, curve = recommend_price(model, prod["product"], unit_cost=p0 * 0.8, min_margin=0.25, objective="profit")
    floor = p0 * 0.8 / 0.75  # above today's price: today's price breaks the margin and a move is forced
    assert curve["price"].min() >= floor - 1e-9 and rec["recommended_price"] >= floor - 1e-9
    assert "breaks the minimum margin" in rec["reason"]
    with pytest.raises(ValidationError, match="unit cost"):
        recommend_price(model, prod["product"], objective="profit")
    with pytest.raises(ValidationError, match="max_change"):
        recommend_price(model, prod["product"], max_change=0)
    with pytest.raises(ValidationError, match="not in the price history"):
        recommend_price(model, "nope")
    with pytest.raises(ValidationError, match="kind"):
        predict_quantity(model, model.products_.assign(period=pd.Timestamp("2018-09-01"), price=1.0), kind="mode")


def test_state_round_trip_and_bad_prices(model, panel):
    back = ElasticityModel.from_state(json.loads(json.dumps(model.to_state(), allow_nan=False)))
    np.testing.assert_allclose(predict_quantity(back, panel), predict_quantity(model, panel))
    assert back.form_ == model.form_ and back.alpha_ == model.alpha_
    bad = pd.DataFrame({"p": ["a", "a"], "d": ["2020-01-01", "2020-02-01"], "price": [10, -1], "q": [1, 2]})
    with pytest.raises(ValidationError, match="row 2"):
        price_panel(bad, "p", "d", "price", "q")


def test_command_writes_one_row_per_product(tmp_path):
    out = tmp_path / "out.csv"
    assert main(["price", "--input", str(RETAIL), "--product-col", "product_id", "--date-col", "month_year",
                 "--price-col", "unit_price", "--quantity-col", "qty", "--category-col", "product_category_name",
                 "--competitor-cols", "comp_1,comp_2,comp_3", "--output", str(out), "--curves", str(tmp_path / "c.csv")]) == 0
    got = pd.read_csv(out)
    assert len(got) == 52 and {"elasticity", "elasticity_lower", "elasticity_upper", "recommended_price", "decision",
                               "reason"} <= set(got.columns)
    assert set(got["decision"]) <= {"raise", "lower", "keep"} and got["recommended_price"].notna().all()
    assert main(["price", "--input", str(RETAIL), "--product-col", "sku", "--date-col", "month_year",
                 "--price-col", "unit_price", "--quantity-col", "qty", "--output", str(out)]) == 2
