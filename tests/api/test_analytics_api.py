"""Analytics over HTTP (issues 14 and 15): a shop asks for a customer's recommendations and a product's "also
bought", a planner pulls a result table, a CRM asks for next best actions of a deployed churn model."""

from __future__ import annotations

from aihub import auth
from aihub.demo import generate_customers
from aihub.services import analytics, datasets, jobs, model_config, model_training, registry
from tests.api.conftest import client, make_key


def _trained_recommender(org) -> int:
    orders = "".join(f"c{u},item{(u * 3 + j) % 12},2022-{1 + j:02d}-{1 + u % 28:02d}\n" for u in range(60)
                     for j in range(5))
    ds = datasets.save_upload(org, "orders", "orders.csv", b"customer,product,date\n" + orders.encode())
    model, job = analytics.create_analytic(org, "recommend", {
        "model_name": "shop recs", "dataset_id": ds.version.dataset_id, "user_column": "customer",
        "item_column": "product", "time_column": "date"}, run=False)
    assert jobs.run_job(org.tenant_id, job.id) == "succeeded", registry.get_job(org, job.id).error
    return model.id


def test_recommendations_also_bought_and_results_over_http(api, org_a):
    rid = _trained_recommender(org_a)
    with client(api, make_key(org_a)) as c:
        r = c.get("/analytics", params={"kind": "recommend"})
        assert r.status_code == 200, r.text
        listed = r.json()["items"]
        assert [m["id"] for m in listed] == [rid]
        r = c.get(f"/analytics/{rid}/recommendations", params={"customer": "c1", "k": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [row["rank"] for row in body["rows"]] == [1, 2, 3] and body["columns"][:2] == ["rank", "item"]
        bought = {f"item{(1 * 3 + j) % 12}" for j in range(5)}
        assert not bought & {row["item"] for row in body["rows"]}  # never what the customer already bought
        assert all(row["reason"] for row in body["rows"])
        also = c.get(f"/analytics/{rid}/also-bought", params={"product": "item1"})
        assert also.status_code == 200 and also.json()["rows"], also.text
        # a recommender has no result table: a problem naming the field, not a 500
        bad = c.get(f"/analytics/{rid}/results")
        assert bad.status_code == 422 and bad.json()["field"] == "analytic_id"
        assert c.get("/analytics", params={"kind": "nope"}).status_code == 422


def test_next_best_actions_of_a_deployed_churn_model(api, org_a):
    customers = generate_customers(400)
    saved = datasets.save_upload(org_a, "customers", "customers.csv", customers.to_csv(index=False).encode())
    dsid = saved.version.dataset_id
    cfg = model_config.template_config(org_a, "churn", dsid, model_name="crm churn",
                                       algorithm="logistic_regression")
    model, job = model_training.create_model(org_a, cfg, dsid, run=False)
    assert jobs.run_job(org_a.tenant_id, job.id) == "succeeded"
    registry.deploy(org_a, model.id, registry.list_versions(org_a, model.id)[0].id)
    viewer_email = f"crm-viewer-{org_a.tenant_id}@example.com"
    auth.add_user(org_a, viewer_email, "Vi", "viewer", "a-long-password-1")
    with client(api, make_key(org_a)) as c:
        r = c.post(f"/models/{model.id}/next-best-actions",
                   json={"dataset_id": dsid, "actionable": {"Contract": None}, "risk_threshold": 0.5})
        assert r.status_code == 200, r.text
        rows = r.json()["rows"]
        assert rows, "the demo customers have churn risks above one half"
        changed = [row for row in rows if row.get("feature") == "Contract"]
        assert changed and all(row["new_risk"] < row["current_risk"] for row in changed)
        unknown = c.post(f"/models/{model.id}/next-best-actions",
                         json={"dataset_id": dsid, "actionable": {"Shoe size": None}})
        assert unknown.status_code == 422, unknown.text
        extra = c.post(f"/models/{model.id}/next-best-actions",
                       json={"dataset_id": dsid, "actionable": {"Contract": None}, "debug": True})
        assert extra.status_code == 422 and "debug" in extra.text
