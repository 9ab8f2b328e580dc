"""Price elasticity on the shared retail price history: pooling, refusals, recommendation bounds, storage, command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.cli import main
from aihub.errors import ValidationError
from aihub.pricing import ElasticityModel, fit_elasticity, predict_quantity, price_panel, recommend_price
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


def test_recovers_a_known_elasticity_from_simulated_demand():
    rng = np.random.default_rng(0)
    rows = []
    for prod, beta in (("a", -1.5), ("b", -2.5), ("c", -2.0)):
        for m in range(24):
            price = 10 * np.exp(rng.normal(0, 0.15))
            rows.append((prod, f"2020-{m % 12 + 1:02d}-01" if m < 12 else f"2021-{m % 12 + 1:02d}-01", price,
                         np.exp(4 + beta * np.log(price / 10) + rng.normal(0, 0.05))))
    df = pd.DataFrame(rows, columns=["p", "d", "price", "q"])
    m = fit_elasticity(price_panel(df, "p", "d", "price", "q"), seasonality=False)
    got = m.products_.set_index("product")
    for prod, beta in (("a", -1.5), ("b", -2.5), ("c", -2.0)):
        assert got.loc[prod, "lower"] < got.loc[prod, "elasticity"] < got.loc[prod, "upper"]
        assert got.loc[prod, "own_elasticity"] == pytest.approx(beta, abs=4 * got.loc[prod, "own_std_error"])
        assert got.loc[prod, "elasticity"] == pytest.approx(beta, abs=0.2)


def test_thin_or_flat_products_borrow_their_category_estimate(model, panel):
    p = model.products_.set_index("product")
    assert set(p["source"]) <= {"pooled", "category", "none"} and (p["source"] == "pooled").sum() >= 30
    flat = p[p["price_variation"] < 0.02]
    assert len(flat) and (flat["source"] == "category").all() and flat["status"].str.contains(
        "too little price variation|distinct price").all()
    short = p[p["periods"] < 6]
    assert (short["source"] != "pooled").all() and short["status"].str.contains("only").all()
    pooled = p[p["source"] == "pooled"]
    cats = model.categories_.set_index("category")["elasticity"]
    # shrinkage moves each own estimate toward (never past) its category mean
    own, est, mu = pooled["own_elasticity"], pooled["elasticity"], pooled["category"].map(cats)
    assert ((est - mu).abs() <= (own - mu).abs() + 1e-9).all()
    assert (p["lower"] <= p["elasticity"]).all() and (p["elasticity"] <= p["upper"]).all()


def test_recommendation_stays_in_bounds_and_reports_the_curve(model):
    prod = model.products_[(model.products_["source"] == "pooled") & (model.products_["elasticity"] < 0)].iloc[0]
    rec, curve = recommend_price(model, prod["product"], max_change=0.1)
    p0 = prod["last_price"]
    assert rec["status"] == "ok" and p0 * 0.9 - 1e-9 <= rec["recommended_price"] <= p0 * 1.1 + 1e-9
    assert (curve["quantity_low"] <= curve["quantity_high"]).all() and curve["revenue"].idxmax() == curve.index[
        curve["price"] == rec["recommended_price"]][0]
    # a cost and margin floor move the lower bound
    rec2, curve2 = recommend_price(model, prod["product"], unit_cost=p0 * 0.8, min_margin=0.25, objective="profit")
    floor = p0 * 0.8 / 0.75  # above today's price: today's price breaks the margin, so it is not on the grid
    assert curve2["price"].min() >= floor - 1e-9 and rec2["recommended_price"] >= floor - 1e-9
    assert rec2["profit_recommended"] == pytest.approx(curve2["profit"].max(), rel=0.05)
    with pytest.raises(ValidationError, match="unit cost"):
        recommend_price(model, prod["product"], objective="profit")
    with pytest.raises(ValidationError, match="max_change"):
        recommend_price(model, prod["product"], max_change=0)
    with pytest.raises(ValidationError, match="not in the price history"):
        recommend_price(model, "nope")


def test_state_round_trip_and_bad_prices(model, panel):
    back = ElasticityModel.from_state(json.loads(json.dumps(model.to_state(), allow_nan=False)))
    np.testing.assert_allclose(predict_quantity(back, panel), predict_quantity(model, panel), equal_nan=True)
    bad = pd.DataFrame({"p": ["a", "a"], "d": ["2020-01-01", "2020-02-01"], "price": [10, -1], "q": [1, 2]})
    with pytest.raises(ValidationError, match="row 2"):
        price_panel(bad, "p", "d", "price", "q")


def test_command_writes_one_row_per_product(tmp_path):
    out = tmp_path / "out.csv"
    assert main(["price", "--input", str(RETAIL), "--product-col", "product_id", "--date-col", "month_year",
                 "--price-col", "unit_price", "--quantity-col", "qty", "--category-col", "product_category_name",
                 "--competitor-cols", "comp_1,comp_2,comp_3", "--output", str(out), "--curves", str(tmp_path / "c.csv")]) == 0
    got = pd.read_csv(out)
    assert len(got) == 52 and {"elasticity", "lower", "upper", "recommended_price", "status"} <= set(got.columns)
    assert main(["price", "--input", str(RETAIL), "--product-col", "sku", "--date-col", "month_year",
                 "--price-col", "unit_price", "--quantity-col", "qty", "--output", str(out)]) == 2
