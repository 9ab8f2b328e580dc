"""Analytics as stored models on real data: train as a job, store, load a version, predict; isolation and tampering.

Real data from ../shared/data: Superstore order lines (recommendations, lifetime
value, inventory), the retail price panel (pricing), labelled product reviews
(sentiment) and Telco customers (next best action). One PostgreSQL backend
(the local server) keeps the run short; row-level security is the same on both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score

from aihub import auth, workflows
from aihub.db.session import owner_session
from aihub.errors import ArtifactError, NotFound, PermissionDenied, ValidationError
from aihub.insights import generate_insights
from aihub.services import analytics, datasets, insights, jobs, registry
from aihub.services import analytics_results as results
from aihub.services.insight_sources import collect_sources
from aihub.services.model_config import template_config
from aihub.services.model_training import create_model
from tests.conftest import PASSWORD, new_tenant, shared_file


@pytest.fixture
def org(server_database):
    analytics.forget_cache()
    return new_tenant("analytics")


def _upload(p, name: str, frame: pd.DataFrame | None = None, path=None) -> int:
    data = path.read_bytes() if path is not None else frame.to_csv(index=False).encode()
    return datasets.save_upload(p, name, f"{name}.csv", data).version.dataset_id


def _train(p, kind: str, raw: dict):
    model, job = analytics.create_analytic(p, kind, raw, run=False)
    status = jobs.run_job(p.tenant_id, job.id)
    assert status == "succeeded", registry.get_job(p, job.id).error
    return registry.get_model(p, model.id)


@pytest.fixture
def superstore(org):
    return _upload(org, "superstore", path=shared_file("superstore", "superstore_orders.csv"))


def test_recommendations_on_superstore_are_stored_deployed_and_served(org, superstore):
    raw = analytics.suggest_config(org, "recommend", superstore, model_name="Recs")
    assert (raw["user_column"], raw["item_column"], raw["time_column"]) == ("Customer ID", "Product ID", "Order Date")
    model = _train(org, "recommend", raw)
    versions = registry.list_versions(org, model.id)
    assert len(versions) == 1 and model.active_version_id == versions[0].id  # the first version serves
    v = versions[0]
    assert v.artifact_format == analytics.ARTIFACT_FORMAT and v.metrics["customers"] == 804
    assert v.metrics["products"] == 1862 and "ndcg_at_k" in v.metrics

    frame = datasets.load_frame(org, v.dataset_version_id)
    customer = "DP-13000"
    bought = set(frame.loc[frame["Customer ID"] == customer, "Product ID"])
    recs = results.recommendations_for(org, model.id, customer)
    assert list(recs["rank"]) == list(range(1, 11))
    assert not bought & set(recs["item"]) and recs["reason"].str.len().gt(0).all()
    unknown = results.recommendations_for(org, model.id, "nobody-123", k=5)
    assert len(unknown) == 5 and set(unknown["source"]) == {"popularity"}

    product = frame["Product ID"].value_counts().index[0]
    also = results.also_bought(org, model.id, product, k=5)
    assert 0 < len(also) <= 5 and (also["customers"] >= 1).all() and product not in set(also["also_bought"])
    with pytest.raises(ValidationError, match="does not occur"):
        results.also_bought(org, model.id, "NOT-A-PRODUCT")

    analytics.forget_cache()  # loaded again from the signed artifact: same answers
    again = results.recommendations_for(org, model.id, customer)
    pd.testing.assert_frame_equal(recs, again)
    csv = results.recommendations_csv(org, model.id, k=3).decode()
    assert csv.startswith("user,item,rank,score") and csv.count("\n") == 804 * 3 + 1


def test_a_second_version_waits_for_deploy_and_rollback_works(org, superstore):
    raw = {**analytics.suggest_config(org, "recommend", superstore, model_name="Recs"), "method": "popularity"}
    model = _train(org, "recommend", raw)
    job = analytics.train(org, model.id, run=False)
    assert jobs.run_job(org.tenant_id, job.id) == "succeeded"
    v2, v1 = registry.list_versions(org, model.id)
    assert registry.get_model(org, model.id).active_version_id == v1.id
    registry.deploy(org, model.id, v2.id)
    assert analytics.load(org, model.id).version.id == v2.id
    registry.rollback(org, model.id)
    assert analytics.load(org, model.id).version.id == v1.id


def test_pricing_on_the_retail_panel(org):
    ds = _upload(org, "retail_price", path=shared_file("pricing", "retail_price.csv"))
    raw = {"model_name": "Prices", "dataset_id": ds, "product_column": "product_id", "date_column": "month_year",
           "price_column": "unit_price", "quantity_column": "qty", "category_column": "product_category_name",
           "competitor_columns": ["comp_1", "comp_2", "comp_3"], "max_change": 0.1}
    model = _train(org, "pricing", raw)
    table = results.price_table(org, model.id)
    assert len(table) == 52 and table["product"].is_unique
    est = table.dropna(subset=["elasticity"])
    assert (est["elasticity_lower"] <= est["elasticity"] + 1e-9).all()
    assert (est["elasticity"] <= est["elasticity_upper"] + 1e-9).all()
    assert (np.abs(table["recommended_price"] / table["current_price"] - 1) <= 0.1 + 1e-9).all()
    kept = table[table["decision"] == "keep"]
    assert kept["reason"].str.len().gt(0).all() and np.allclose(kept["recommended_price"], kept["current_price"])
    product = table["product"].iloc[0]
    rec, curve = results.price_recommendation(org, model.id, product, max_change=0.05)
    assert rec["product"] == product and abs(rec["change"]) <= 0.05 + 1e-9
    assert {"price", "revenue", "revenue_low", "revenue_high"} <= set(curve.columns)
    assert (curve["revenue_low"] <= curve["revenue_high"] + 1e-9).all()
    hist = results.price_history(org, model.id, product)
    assert len(hist) >= 3 and (hist["price"] > 0).all()
    with pytest.raises(ValidationError, match="profit"):
        results.price_recommendation(org, model.id, product, objective="profit")  # no cost column given


def test_sentiment_of_labelled_reviews_without_labels(org):
    reviews = pd.read_csv(shared_file("sentiment", "amazon_reviews.csv"))
    ds = _upload(org, "amazon", reviews)
    model = _train(org, "sentiment", {"model_name": "Reviews", "dataset_id": ds, "text_column": "text"})
    view = results.sentiment_view(org, model.id)
    rows = view["rows"]
    assert len(rows) == len(reviews) == 1000
    scored = rows["score"].notna().to_numpy()
    assert scored.mean() > 0.95
    auc = roc_auc_score(reviews["label"].to_numpy()[scored], rows["score"].to_numpy()[scored])
    assert auc > 0.88  # VADER alone: 0.92 on these reviews (benchmarks/sentiment_reviews.py)
    neg = view["most_negative"]
    assert len(neg) == 10 and neg["score"].is_monotonic_increasing and (neg["score"] < 0).all()
    assert set(view["labels"]) <= {"positive", "negative", "neutral", "unsupported", "empty"}


def test_sentiment_drop_becomes_a_finding(org):
    reviews = pd.read_csv(shared_file("sentiment", "yelp_reviews.csv"))
    pos, neg = reviews[reviews["label"] == 1], reviews[reviews["label"] == 0]
    # Real texts, dated so that one store's last month is mostly negative: the drop must be found.
    early = pos.iloc[:120].assign(date=pd.date_range("2024-01-01", periods=120, freq="D"), store="North")
    late = neg.iloc[:40].assign(date=pd.date_range("2024-05-01", periods=40, freq="12h"), store="North")
    other = pd.concat([pos.iloc[120:200], neg.iloc[40:60]]).sample(frac=1.0, random_state=0).assign(
        date=pd.date_range("2024-01-01", periods=100, freq="36h"), store="South")
    ds = _upload(org, "yelp", pd.concat([early, late, other], ignore_index=True))
    model = _train(org, "sentiment", {"model_name": "Stores", "dataset_id": ds, "text_column": "text",
                                      "time_column": "date", "group_column": "store"})
    found = results.sentiment_drop_findings(org)
    assert [d["group"] for d in found] == ["North"]
    assert found[0]["title"] == "Sentiment dropped for North" and found[0]["recent_mean"] < found[0]["baseline_mean"]
    over = results.sentiment_view(org, model.id)["over_time"]
    assert set(over["group"]) == {"North", "South"}
    found = [i for i in insights.generate(org, categories=["customer"]) if i.type == "sentiment_drop"]
    assert [i.title for i in found] == ["Sentiment dropped for North"]
    assert found[0].figures["recent_texts"] == 40 and found[0].figures["change"] < -0.1
    assert "fell from" in found[0].narrative
    src = collect_sources(org, categories=["customer"], kinds=["sentiments"])
    made = generate_insights(src.inputs, categories=["customer"])
    assert [i.type for i in made] == ["sentiment_drop"] and not made[0].untraced_numbers()
    assert not [i for i in insights.generate(org, categories=["customer"]) if i.type == "sentiment_drop"]  # once


def test_clv_on_superstore(org, superstore):
    model = _train(org, "clv", analytics.suggest_config(org, "clv", superstore, model_name="CLV"))
    table = results.clv_table(org, model.id)
    assert len(table) == 804 and table["expected_spend"].ge(0).all()
    assert table["probability_alive"].between(0, 1).all()
    assert table["expected_spend"].is_monotonic_decreasing


def test_inventory_on_superstore_and_the_reorder_trigger(org):
    orders = pd.read_csv(shared_file("superstore", "superstore_orders.csv"), encoding="utf-8-sig")
    orders = orders[orders["Sub-Category"].isin(["Binders", "Paper", "Chairs"])]
    # Inventory positions are the user's input: Binders nearly out of stock, the others well stocked.
    orders = orders.assign(on_hand=np.where(orders["Sub-Category"] == "Binders", 1, 10_000))
    ds = _upload(org, "stock", orders)
    wf = workflows.create_workflow(org, {"name": "Reorder", "trigger": {"type": "reorder_point", "product": "Binders"},
                                         "actions": [{"type": "create_task", "assignee": org.username,
                                                      "title": "Order {{event.product}}"}]})
    raw = {"model_name": "Stock", "dataset_id": ds, "product_column": "Sub-Category", "date_column": "Order Date",
           "quantity_column": "Quantity", "position_column": "on_hand", "freq": "W", "lead_time": 2}
    model = _train(org, "inventory", raw)
    policy = results.inventory_policy(org, model.id).set_index("product")
    assert set(policy.index) == {"Binders", "Paper", "Chairs"}
    assert bool(policy.loc["Binders", "needs_order"]) and not bool(policy.loc["Paper", "needs_order"])
    assert (policy["reorder_point"] >= policy["demand_over_protection"]).all()
    assert policy["safety_stock_basis"].str.startswith("empirical").all()
    due = results.inventory_policy(org, model.id, only_due=True)
    assert list(due["product"]) == ["Binders"]
    proj = results.inventory_projection(org, model.id, "Binders")
    assert proj["projection"]["stock"].is_monotonic_decreasing and len(proj["history"]) == 26
    runs = workflows.list_runs(org, wf.id)
    assert len(runs) == 1 and runs[0].trigger["payload"]["product"] == "Binders"


def test_next_best_actions_on_telco(org):
    telco = pd.read_csv(shared_file("telco_churn", "telco_customer_churn.csv")).iloc[:2500]
    ds = _upload(org, "telco", telco)
    config = template_config(org, "churn", ds, model_name="Churn", algorithm="logistic_regression")
    model, job = create_model(org, config, ds, run=False)
    assert jobs.run_job(org.tenant_id, job.id) == "succeeded"
    registry.deploy(org, model.id, registry.list_versions(org, model.id)[0].id)
    out = results.next_best_actions(org, model.id, ds, {"Contract": ["One year", "Two year"]}, use_training=False)
    assert len(out) and "customerID" in out.columns
    first = out[out["rank"] == 1]
    assert (first["new_risk"] < first["current_risk"]).all()
    assert first["action"].str.contains("A model estimate, not a promise").all()


def test_tampered_analytic_is_refused(org, superstore):
    model = _train(org, "clv", analytics.suggest_config(org, "clv", superstore, model_name="CLV"))
    analytics.forget_cache()
    with owner_session() as s:
        s.execute(sa.text("UPDATE model_versions SET artifact = overlay(artifact placing '\\x00'::bytea from 60) "
                          "WHERE model_id = :m"), {"m": model.id})
    with pytest.raises(ArtifactError, match="signature"):
        results.clv_table(org, model.id)


def test_another_tenant_cannot_read_or_train_an_analytic(org, superstore):
    model = _train(org, "clv", analytics.suggest_config(org, "clv", superstore, model_name="CLV"))
    results.clv_table(org, model.id)  # now cached in this process
    other = new_tenant("intruder")
    for call in (lambda: results.clv_table(other, model.id), lambda: analytics.load(other, model.id),
                 lambda: analytics.train(other, model.id, run=False),
                 lambda: results.clv_table(other, model.id, version_id=model.active_version_id)):
        with pytest.raises(NotFound):
            call()
    assert analytics.list_analytics(other) == []
    with pytest.raises(NotFound):
        analytics.create_analytic(other, "clv", {**analytics.suggest_config(org, "clv", superstore),
                                                 "model_name": "x"}, run=False)


def test_viewer_reads_but_cannot_create_and_bad_settings_are_named(org, superstore):
    auth.add_user(org, "viewer-a@analytics.example.com", "V", "viewer", PASSWORD)
    viewer = auth.principal_for("viewer-a@analytics.example.com")
    raw = analytics.suggest_config(org, "clv", superstore, model_name="CLV")
    with pytest.raises(PermissionDenied):
        analytics.create_analytic(viewer, "clv", raw, run=False)
    with pytest.raises(ValidationError) as err:
        analytics.create_analytic(org, "clv", {**raw, "amount_column": "Nope"}, run=False)
    assert err.value.field == "amount_column" and "Sales" in str(err.value)
    with pytest.raises(ValidationError) as err:
        analytics.create_analytic(org, "recommend", {**analytics.suggest_config(org, "recommend", superstore),
                                                     "k": 0}, run=False)
    assert err.value.field == "k"
    with pytest.raises(ValidationError, match="analytic must be one of"):
        analytics.create_analytic(org, "horoscope", raw, run=False)
    model = _train(org, "clv", raw)
    assert len(results.clv_table(viewer, model.id)) == 804


def test_a_failed_training_keeps_the_earlier_version(org, superstore):
    model = _train(org, "clv", analytics.suggest_config(org, "clv", superstore, model_name="CLV"))
    before = registry.list_versions(org, model.id)
    broken = pd.DataFrame({"Customer ID": ["a", "b"], "Order Date": ["2024-01-01", "2024-01-02"], "Sales": [1, 2]})
    datasets.save_upload(org, "superstore", "few.csv", broken.to_csv(index=False).encode())
    job = analytics.train(org, model.id, run=False)
    assert jobs.run_job(org.tenant_id, job.id) == "failed"
    assert "at least" in registry.get_job(org, job.id).error
    assert [v.id for v in registry.list_versions(org, model.id)] == [v.id for v in before]
    assert len(results.clv_table(org, model.id)) == 804
