"""Recommendations on Superstore's real order lines: outputs, reasons, fallbacks, storage, command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.cli import main
from aihub.errors import ValidationError
from aihub.recommend import (
    Recommender,
    also_bought,
    fit_recommender,
    heldout_relevant,
    interactions,
    ranking_metrics,
    recommend,
    time_split,
)
from tests.conftest import DATA

ORDERS = DATA / "superstore" / "superstore_orders.csv"


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return pd.read_csv(ORDERS, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def inter(orders) -> pd.DataFrame:
    return interactions(orders, "Customer ID", "Product ID", time_col="Order Date", label_col="Product Name")


def test_ranking_metrics_match_hand_computed_values():
    got = ranking_metrics({"a": ["x", "y", "z"], "b": ["p", "q"]}, {"a": {"y", "w"}, "b": {"r"}, "c": set()}, k=3)
    ndcg_a = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert got == pytest.approx({"hit_rate": 0.5, "recall": 0.25, "precision": 1 / 6, "ndcg": ndcg_a / 2, "users": 2})


@pytest.mark.parametrize("method", ["als", "item_item", "popularity", "bpr"])
def test_every_method_gives_k_unbought_products_to_every_customer(inter, method):
    rec = fit_recommender(inter, method=method, k=5)
    out = recommend(rec)
    assert set(out["user"]) == set(inter["user"])
    assert out.groupby("user")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4, 5]).all()
    bought = set(zip(inter["user"], inter["item"]))
    assert not any((u, i) in bought for u, i in zip(out["user"], out["item"]))
    assert out["score"].notna().all() and out["reason"].str.len().gt(0).all()


def test_reasons_name_a_co_bought_product_and_its_customer_count(inter):
    rec = fit_recommender(inter, method="item_item", k=10)
    out = recommend(rec, users=list(rec.users_[:50]))
    co = out[out["source"] == "item_item"]
    assert len(co) > 0
    row = co.iloc[0]
    hist = set(inter.loc[inter["user"] == row["user"], "item"])
    label_to_items = inter.groupby("label")["item"].agg(set)
    named = row["reason"].removeprefix("bought with ").rsplit(" by ", 1)
    n = int(named[1].split()[0])
    partners = label_to_items[named[0]] & hist
    buyers_of = inter.groupby("item")["user"].agg(set)
    assert any(len(buyers_of[p] & buyers_of[row["item"]]) == n for p in partners)


def test_unknown_customers_get_popular_products_with_that_reason(inter):
    rec = fit_recommender(inter, method="als", k=3)
    out = recommend(rec, users=["nobody-ever"])
    assert list(out["rank"]) == [1, 2, 3] and (out["source"] == "popularity").all()
    assert out["reason"].str.startswith("popular: bought by").all()
    top = inter.drop_duplicates(["user", "item"]).groupby("item").size().max()
    assert out["score"].iloc[0] == top


def test_also_bought_counts_distinct_customers_who_bought_both(inter):
    rec = fit_recommender(inter, method="popularity")
    item = inter["item"].value_counts().index[0]
    out = also_bought(rec, item, k=5)
    buyers = inter.groupby("item")["user"].agg(set)
    for _, r in out.iterrows():
        assert r["customers"] == len(buyers[item] & buyers[r["also_bought"]])
    assert out["customers"].is_monotonic_decreasing
    with pytest.raises(ValidationError, match="does not occur"):
        also_bought(rec, "no-such-product")


def test_state_round_trips_through_strict_json(inter):
    rec = fit_recommender(inter, method="als", k=4)
    text = json.dumps(rec.to_state(), allow_nan=False)
    back = Recommender.from_state(json.loads(text))
    users = list(rec.users_[:20])
    pd.testing.assert_frame_equal(recommend(back, users=users), recommend(rec, users=users), check_exact=False, rtol=1e-5)
    with pytest.raises(ValidationError):
        Recommender.from_state({"kind": "forecast"})


def test_auto_chooses_on_a_time_split_and_records_the_comparison(inter):
    train, test, _ = time_split(inter, test_days=56)
    rec = fit_recommender(train, k=10)
    methods = [r["method"] for r in rec.validation_]
    assert methods == ["popularity", "recent_popularity", "item_item", "als"]
    assert sum(r["selected"] for r in rec.validation_) == 1 and rec.method_ in methods
    relevant = heldout_relevant(train, test)
    assert relevant and all(not (items & set(train.loc[train["user"] == u, "item"])) for u, items in relevant.items())


def test_bad_settings_and_columns_are_named(orders, inter):
    with pytest.raises(ValidationError, match="k") as err:
        fit_recommender(inter, k=0)
    assert err.value.field == "k"
    with pytest.raises(ValidationError, match="method"):
        fit_recommender(inter, method="magic")
    with pytest.raises(ValidationError, match="'Client'") as err:
        interactions(orders, "Client", "Product ID")
    assert err.value.field == "user_col"
    bad = orders.head(5).assign(Quantity=["1", "2", "x", "4", "5"])
    with pytest.raises(ValidationError, match="row 3"):
        interactions(bad, "Customer ID", "Product ID", weight_col="Quantity")


def test_command_writes_k_ranked_rows_for_every_customer(tmp_path, orders):
    out = tmp_path / "recs.csv"
    state = tmp_path / "rec.json"
    rc = main(["recommend", "--input", str(ORDERS), "--user-col", "Customer ID", "--item-col", "Product ID",
               "--time-col", "Order Date", "--k", "10", "--output", str(out), "--state", str(state)])
    assert rc == 0
    recs = pd.read_csv(out)
    assert list(recs.columns) == ["user", "item", "rank", "score"]
    assert recs["user"].nunique() == orders["Customer ID"].nunique()
    assert recs.groupby("user")["rank"].apply(lambda r: sorted(r) == list(range(1, 11))).all()
    assert Recommender.from_state(json.loads(state.read_text())).method_
    assert main(["recommend", "--input", str(ORDERS), "--user-col", "Nope", "--item-col", "Product ID",
                 "--output", str(tmp_path / "x.csv")]) == 2
