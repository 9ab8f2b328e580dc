"""The analytics screens through Streamlit's AppTest, on a tenant seeded with the demo analytics (generated data).

The services behind them are tested on the real shared data in
``tests/services/test_analytics.py``; here each screen must render its figures
for each kind, answer a look-up, and follow the role.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from aihub import auth, demo, demo_analytics
from aihub.services import analytics, datasets, registry
from tests.conftest import PASSWORD, REPO, new_tenant


@pytest.fixture(scope="module")
def seeded(_server_database_session):
    from aihub.db import engine as dbengine

    previous = dbengine._database
    dbengine.set_database(_server_database_session)
    admin = new_tenant("anpages")
    made = demo_analytics.seed_analytics(admin)
    assert all(made.values()), made
    assert demo_analytics.seed_analytics(admin) == {}  # a second seeding adds nothing
    churn = demo.seed_churn_model(admin)
    auth.add_user(admin, f"viewer-{admin.tenant_id}@anpages.example.com", "Vi", "viewer", PASSWORD)
    yield admin, made, churn
    dbengine.set_database(previous)


def _open(username: str, page: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("title", "markdown", "success", "info", "error", "warning", "caption")
                     for e in getattr(at, kind))


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_analytics_page_lists_templates_and_versions(seeded):
    admin, _, _ = seeded
    at = _open(admin.username, "app_pages/analytics.py")
    assert "Analytics" in [t.value for t in at.title]
    assert at.radio(key="an_kind").options == ["Product recommendations", "Price optimization",
                                               "Inventory optimization", "Sentiment analysis",
                                               "Customer lifetime value (BG/NBD)"]
    assert not at.button(key="an_train").disabled
    listed = at.dataframe[0].value
    assert {"Demo recommendations", "Demo customer value", "Demo prices", "Demo stock",
            "Demo reviews"} <= set(listed["name"])
    assert (listed["serving version"] == 1).all()


def test_a_bad_json_setting_is_named_and_nothing_is_stored(seeded):
    admin, _, _ = seeded
    at = _open(admin.username, "app_pages/analytics.py")
    at.radio(key="an_kind").set_value("clv").run()
    at.text_area(key="an_json_clv").input('{"model_name": "x", "dataset_id": 1, "customer_column": "a", '
                                          '"date_column": "b", "amount_column": "c", "horizon_days": -5}').run()
    at.button(key="an_train_json").click().run()
    assert not at.exception, at.exception
    assert any("horizon_days" in e.value for e in at.error)
    assert "x" not in {m.name for m in analytics.list_analytics(admin)}


def test_recommendations_for_a_customer_and_also_bought(seeded):
    admin, _, _ = seeded
    at = _open(admin.username, "app_pages/recommendations.py")
    assert at.selectbox(key="rec_customer").value == "C0001"
    assert "item_item" in set(at.dataframe[0].value["method"])  # how the method was chosen
    recs = at.dataframe[1].value
    assert list(recs["rank"]) == list(range(1, 11)) and recs["reason"].str.len().gt(0).all()
    at.selectbox(key="rec_customer").set_value("C0002").run()
    assert not at.exception, at.exception
    assert not recs.equals(at.dataframe[1].value)  # another customer, another list
    also = at.dataframe[2].value
    assert len(also) and (also["customers"] >= 1).all()
    assert len(at.get("plotly_chart")) >= 2


def test_pricing_shows_intervals_and_the_no_estimate_case(seeded):
    admin, _, _ = seeded
    at = _open(admin.username, "app_pages/pricing.py")
    assert _metric(at, "Cannot support an estimate") == "2"
    table = at.dataframe[0].value
    assert len(table) == 24 and (table["elasticity_lower"] <= table["elasticity_upper"]).all()
    assert set(table.loc[table["product"].isin(["Chef knife", "Knife sharpener"]), "decision"]) == {"keep"}
    at.selectbox(key="price_product").set_value("Chef knife").run()
    assert not at.exception, at.exception
    assert any("kept" in w.value or "price test" in w.value for w in at.warning)


def test_inventory_lists_what_to_order(seeded):
    admin, _, _ = seeded
    at = _open(admin.username, "app_pages/inventory.py")
    assert _metric(at, "Need an order now") == "2"
    due = at.dataframe[0].value
    assert set(due["product"]) == {"Coffee beans 1kg", "Stand mixer"}
    assert at.selectbox(key="inv_product").value in {"Coffee beans 1kg", "Stand mixer"}  # riskiest first
    assert len(at.get("plotly_chart")) == 2


def test_sentiment_shows_the_drop_and_negative_texts(seeded):
    admin, _, _ = seeded
    at = _open(admin.username, "app_pages/sentiment.py")
    assert any("Sentiment dropped for Espresso machine" in e.value for e in at.error)
    neg = at.dataframe[0].value
    assert (neg["score"] < 0).all() and len(neg) == 10


def test_customer_value_and_the_predictions_lookup(seeded):
    admin, _, _ = seeded
    at = _open(admin.username, "app_pages/customer_value.py")
    assert _metric(at, "Customers") == "300"
    at = _open(admin.username, "app_pages/predictions.py")
    at.text_input(key="lookup_customer").input("C0002").run()
    assert not at.exception, at.exception
    looked = at.dataframe[0].value
    assert isinstance(looked, pd.DataFrame) and list(looked["rank"]) == list(range(1, 11))


def test_next_best_action_on_the_demo_churn_model(seeded):
    admin, _, _ = seeded
    at = _open(admin.username, "app_pages/next_best_action.py")
    ds = next(d.id for d in datasets.list_datasets(admin) if d.name == "Demo customers")
    at.selectbox(key="nba_dataset").set_value(ds).run()
    at.multiselect(key="nba_features").set_value(["Contract"]).run()
    at.button(key="nba_run").click().run()
    assert not at.exception, at.exception
    out = at.session_state["nba_result"]
    first = out[(out["rank"] == 1) & out["feature"].notna()]
    assert len(first) and (first["new_risk"] < first["current_risk"]).all()


def test_viewer_reads_but_cannot_train_or_act(seeded):
    admin, _, _ = seeded
    viewer = f"viewer-{admin.tenant_id}@anpages.example.com"
    at = _open(viewer, "app_pages/analytics.py")
    assert at.button(key="an_train").disabled
    assert "Your role can view analytics but not create them." in _texts(at)
    at.switch_page("app_pages/recommendations.py").run()
    assert not at.exception and len(at.dataframe[1].value) == 10


def test_the_template_form_trains_a_new_analytic(seeded, monkeypatch):
    admin, _, _ = seeded
    monkeypatch.setenv("AIHUB_JOB_BACKEND", "inline")
    at = _open(admin.username, "app_pages/analytics.py")
    at.radio(key="an_kind").set_value("clv").run()
    shop = next(d.id for d in datasets.list_datasets(admin) if d.name == "Demo shop order lines")
    at.selectbox(key="an_clv_dataset").set_value(shop).run()
    assert at.selectbox(key=f"an_clv_customer_column_{shop}").value == "Customer ID"  # guessed from the names
    assert at.selectbox(key=f"an_clv_amount_column_{shop}").value == "Sales"
    at.text_input(key=f"an_clv_name_{shop}").input("Value from the form").run()
    at.number_input(key="an_clv_horizon_days").set_value(90.0).run()
    at.button(key="an_train").click().run()
    assert not at.exception, at.exception
    model = next(m for m in analytics.list_analytics(admin) if m.name == "Value from the form")
    assert model.config["horizon_days"] == 90.0 and model.kind == "clv"
    deadline = time.time() + 120
    while registry.get_model(admin, model.id).active_version_id is None and time.time() < deadline:
        time.sleep(0.5)
    assert registry.get_model(admin, model.id).active_version_id is not None
