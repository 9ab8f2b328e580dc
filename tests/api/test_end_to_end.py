"""One client's whole path over HTTP with httpx against the served API: upload a CSV, train a churn model,
poll the job, deploy, predict one customer with reasons, batch-predict as a job, record outcomes, read history."""

from __future__ import annotations

import io
import time

import pandas as pd

from tests.api.conftest import client, make_key
from tests.conftest import shared_file


def _poll(c, location: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = c.get(location.removeprefix("/api/v1")).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.5)


def test_upload_train_deploy_predict_batch_outcomes(api, org_a):
    telco = shared_file("telco_churn", "telco_customer_churn.csv").read_bytes()
    frame = pd.read_csv(io.BytesIO(telco))
    with client(api, make_key(org_a)) as c:
        up = c.post("/datasets", files={"file": ("telco.csv", telco, "text/csv")}, data={"name": "telco"})
        assert up.status_code == 201, up.text
        dataset_id = up.json()["version"]["dataset_id"]

        cfg = c.get("/models/templates/churn", params={"dataset_id": dataset_id}).json()
        assert cfg["target"] == "Churn"
        cfg.update(model_name="API churn", algorithm="logistic_regression")
        created = c.post("/models", json={"kind": "ml", "dataset_id": dataset_id, "config": cfg},
                         headers={"Idempotency-Key": "train-1"})
        assert created.status_code == 202, created.text
        again = c.post("/models", json={"kind": "ml", "dataset_id": dataset_id, "config": cfg},
                       headers={"Idempotency-Key": "train-1"})
        assert again.json()["id"] == created.json()["id"]  # a retry never trains twice
        job = _poll(c, created.headers["location"])
        assert job["status"] == "succeeded", job
        model_id, version_id = job["model_id"], job["model_version_id"]
        assert len(c.get(f"/models/{model_id}/jobs").json()["items"]) == 1

        version = c.get(f"/models/{model_id}/versions/{version_id}").json()
        assert 0.5 < version["metrics"]["roc_auc"] <= 1 and version["feature_schema"]
        deployed = c.post(f"/models/{model_id}/deploy", json={"version_id": version_id}).json()
        assert deployed["active_version_id"] == version_id

        customer = frame.drop(columns=["Churn", "customerID"]).iloc[0].to_dict()
        one = c.post(f"/models/{model_id}/predictions", json={"values": customer})
        assert one.status_code == 201, one.text
        body = one.json()
        assert 0 <= body["probability"] <= 1 and body["contributions"] and "driven" in body["explanation"]
        cached = c.post(f"/models/{model_id}/predictions", json={"values": customer}).json()
        assert cached["cache_hit"] is True and cached["probability"] == body["probability"]

        rows = frame.drop(columns=["Churn"]).head(40).to_csv(index=False).encode()
        queued = c.post(f"/models/{model_id}/batches", files={"file": ("new.csv", rows, "text/csv")})
        assert queued.status_code == 202, queued.text
        done = _poll(c, queued.headers["location"])
        assert done["status"] == "succeeded", done
        batch_id = done["result"]["batch_id"]
        batch = c.get(f"/predictions/batches/{batch_id}").json()
        assert "rows_total" in batch, batch
        assert batch["rows_total"] == 40 and batch["rows_failed"] == 0
        results = pd.read_csv(io.BytesIO(c.get(f"/predictions/batches/{batch_id}/results.csv").content))
        assert len(results) == 40 and "probability" in results.columns

        one_outcome = c.put(f"/predictions/{body['id']}/outcome", json={"actual": "Yes"})
        assert one_outcome.status_code == 200 and one_outcome.json()["actual"] == "Yes"
        ids = results["prediction_id"].tolist()
        many = c.post("/predictions/outcomes", json={"outcomes": [
            {"prediction_id": int(i), "actual": a} for i, a in zip(ids, frame["Churn"].head(40))] + [
            {"prediction_id": 999_999_999, "actual": "No"}]}).json()
        assert many["updated"] == 40 and many["errors"][0]["row"] == 41

        history = c.get(f"/models/{model_id}/predictions", params={"limit": 30}).json()
        assert len(history["items"]) == 30 and history["next_cursor"]
        rest = c.get(f"/models/{model_id}/predictions", params={"cursor": history["next_cursor"]}).json()
        assert len(history["items"]) + len(rest["items"]) == 42
        assert c.get(f"/predictions/{body['id']}").json()["actual"] == "Yes"
