"""External model versions through the served API: register, deploy, predict, the circuit; the auth header is
never returned and another organization's key sees nothing."""

from __future__ import annotations

import pandas as pd

from aihub.connectors import endpoint
from aihub.jsonsafe import plain
from tests.api.conftest import client, make_key
from tests.fixtures import SCORING_TOKEN, telco_world


def test_register_deploy_predict_and_keep_the_secret(api, org_a, org_b, monkeypatch):
    endpoint.forget_breakers()
    ds, frame, features, pipeline, server, cfg = telco_world(org_a, monkeypatch)
    token = SCORING_TOKEN.split()[-1]
    try:
        with client(api, make_key(org_a)) as a, client(api, make_key(org_b)) as b:
            bad = a.post("/models/external", json={"dataset_id": ds, "model_name": "x", "auth_header": SCORING_TOKEN,
                                                   "config": {**cfg, "input": {"format": "soap"}}})
            assert bad.status_code == 422 and token not in bad.text
            assert bad.json()["field"].startswith("input.format"), bad.json()

            r = a.post("/models/external", json={"dataset_id": ds, "model_name": "Telco via API",
                                                 "auth_header": SCORING_TOKEN, "config": cfg})
            assert r.status_code == 201, r.text
            version = r.json()
            assert version["artifact_format"] == "external-endpoint/1" and token not in r.text
            model_id = version["model_id"]
            assert a.post(f"/models/{model_id}/deploy", json={"version_id": version["id"]}).status_code == 200
            values = plain({f: (None if pd.isna(v) else v) for f, v in frame.iloc[0][features].items()})
            p = a.post(f"/models/{model_id}/predictions", json={"values": values, "explain": True})
            assert p.status_code == 201, p.text
            body = p.json()
            assert body["version_id"] == version["id"] and "call" in body["explanation"] and token not in p.text
            yes = list(pipeline.classes_).index("Yes")
            X = frame.iloc[[0]][features].astype({c: str for c in features if frame[c].dtype == object})
            assert abs(body["probability"] - pipeline.predict_proba(X)[0, yes]) < 1e-9
            c = a.get(f"/models/{model_id}/versions/{version['id']}/circuit")
            assert c.status_code == 200 and c.json()["state"] == "closed"
            listed = a.get(f"/models/{model_id}/versions/{version['id']}")
            assert listed.status_code == 200 and token not in listed.text

            for path in (f"/models/{model_id}/versions/{version['id']}",
                         f"/models/{model_id}/versions/{version['id']}/circuit"):
                assert b.get(path).status_code == 404
            assert b.post(f"/models/{model_id}/predictions", json={"values": values}).status_code == 404
            assert b.post(f"/models/{model_id}/versions/external", json={
                "dataset_id": ds, "config": cfg, "auth_header": "Bearer stolen"}).status_code == 404
    finally:
        server.shutdown()
