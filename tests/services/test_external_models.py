"""A model version served from outside, against a real scoring server on 127.0.0.1 (MLflow's protocol).

The server serves a scikit-learn pipeline trained here on Telco churn; the hub registers it as an external
version and serves it through the ordinary prediction service.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from aihub.connectors import endpoint
from aihub.errors import ConnectorError, ValidationError
from aihub.services import (
    external_models,
    jobs,
    model_cache,
    model_config,
    model_training,
    predictions,
    registry,
)
from tests.conftest import new_tenant
from tests.fixtures import SCORING_TOKEN, telco_world


@pytest.fixture
def org(server_database):
    endpoint.forget_breakers()
    model_cache.forget()
    return new_tenant("ext")


def _values(frame: pd.DataFrame, features: list[str], i: int) -> dict:
    return {f: (None if pd.isna(v) else v) for f, v in frame.iloc[i][features].items()}


def test_external_version_predicts_as_the_local_model_with_bounded_reasons(org, monkeypatch):
    ds, frame, features, pipeline, server, cfg = telco_world(org, monkeypatch)
    try:
        version = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN,
                                           model_name="Telco external")
        registry.deploy(org, version.model_id, version.id)
        rows = frame.iloc[:25]
        local = pipeline.predict_proba(rows[features].astype({c: str for c in features
                                                              if not pd.api.types.is_numeric_dtype(frame[c])}))
        yes = list(pipeline.classes_).index("Yes")
        latencies = []
        for i in range(len(rows)):
            out = predictions.predict_one(org, version.model_id, _values(frame, features, i), explain=False)
            latencies.append(out.latency_ms)
            assert out.version_id == version.id and not out.cache_hit
            assert out.probability == pytest.approx(local[i, yes], abs=1e-9)
            assert out.prediction == pipeline.classes_[local[i].argmax()]
        print(f"external single prediction latency: p50 {np.percentile(latencies, 50):.1f} ms, "
              f"p95 {np.percentile(latencies, 95):.1f} ms over {len(latencies)} calls")

        before = server.calls
        t0 = time.perf_counter()
        out = predictions.predict_one(org, version.model_id, _values(frame, features, 30), explain=True)
        seconds = time.perf_counter() - t0
        cost = out.output["explanation_cost"]
        print(f"explanation: {cost['calls']} calls, {cost['rows']} rows, {seconds * 1000:.0f} ms; {cost['statement']}")
        assert 1 <= cost["calls"] <= cfg.get("explain", {}).get("max_calls", 4)
        assert server.calls - before == 1 + cost["calls"]  # the prediction, then the explanation's calls
        assert f"from {cost['calls']} call" in out.explanation
        assert out.contributions and {c["feature"] for c in out.contributions} == set(features)
        total = sum(c["contribution"] for c in out.contributions)
        assert out.output["base_value"] + total == pytest.approx(out.probability, abs=1e-6)  # SHAP efficiency
        assert server.headers_seen.get("Authorization") == SCORING_TOKEN

        server.max_rows = 1  # the endpoint refuses the explanation's batches: the prediction still stands
        lone = predictions.predict_one(org, version.model_id, _values(frame, features, 31), explain=True)
        assert lone.probability is not None and not lone.contributions
        assert lone.explanation.startswith("No reasons: the endpoint failed") and "413" in lone.explanation
        server.max_rows = None
        retried = predictions.predict_one(org, version.model_id, _values(frame, features, 31), explain=True)
        assert not retried.cache_hit and retried.contributions  # a failed explanation is not served from the cache
        before = server.calls

        again = predictions.predict_one(org, version.model_id, _values(frame, features, 30), explain=True)
        assert again.cache_hit and server.calls == before
        stats = predictions.serving_stats(org, version.model_id)
        assert stats.count >= 27 and stats.error_rate == 0
        with pytest.raises(ValidationError, match="external endpoint"):
            predictions.compare_predictions(org, version.model_id, _values(frame, features, 1),
                                            _values(frame, features, 2))
    finally:
        server.shutdown()


def test_timeouts_retry_fail_with_their_reason_and_the_circuit_opens_then_recovers(org, monkeypatch):
    ds, frame, features, _, server, cfg = telco_world(org, monkeypatch, calls={
        "read_timeout_seconds": 0.3, "retries": 2, "backoff_seconds": 0.01, "breaker_failures": 2,
        "breaker_cooldown_seconds": 8.0})  # long enough for a loaded machine to check the open state in time
    try:
        version = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN, model_name="slow")
        registry.deploy(org, version.model_id, version.id)
        server.fail = 1  # one 503, then fine: retried and served
        ok = predictions.predict_one(org, version.model_id, _values(frame, features, 0), explain=False)
        assert ok.probability is not None and server.calls == 2

        server.delay = 1.0
        with pytest.raises(ConnectorError) as caught:
            predictions.predict_one(org, version.model_id, _values(frame, features, 1), explain=False)
        assert caught.value.kind == "timeout" and "did not answer in time" in str(caught.value)
        assert server.calls == 2 + 3  # one attempt and two retries
        stored = predictions.list_predictions(org, version.model_id, limit=1)[0]
        assert stored.error and "did not answer in time" in stored.error

        with pytest.raises(ConnectorError):  # second failed call in a row: the circuit opens
            predictions.predict_one(org, version.model_id, _values(frame, features, 2), explain=False)
        calls = server.calls
        assert external_models.circuit(org, version.id)["state"] == "open"
        with pytest.raises(ConnectorError, match="circuit is open"):
            predictions.predict_one(org, version.model_id, _values(frame, features, 3), explain=False)
        assert server.calls == calls  # refused without a call
        assert "circuit is open" in predictions.list_predictions(org, version.model_id, limit=1)[0].error

        server.delay = 0.0
        time.sleep(external_models.circuit(org, version.id)["retry_in_seconds"] + 0.2)
        assert external_models.circuit(org, version.id)["state"] == "half_open"
        back = predictions.predict_one(org, version.model_id, _values(frame, features, 3), explain=False)
        assert back.probability is not None and external_models.circuit(org, version.id)["state"] == "closed"
        assert predictions.serving_stats(org, version.model_id).error_rate > 0
    finally:
        server.shutdown()


def test_champion_internal_challenger_external(org, monkeypatch):
    ds, frame, features, _, server, cfg = telco_world(org, monkeypatch)
    try:
        tpl = model_config.template_config(org, "churn", ds, model_name="Telco churn",
                                           algorithm="logistic_regression", target="Churn", features=features)
        model, job = model_training.create_model(org, tpl, ds, run=False)
        assert jobs.run_job(org.tenant_id, job.id) == "succeeded", registry.get_job(org, job.id).error
        internal = registry.list_versions(org, model.id)[0]
        registry.deploy(org, model.id, internal.id)
        ext = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN, model_id=model.id)
        registry.set_challenger(org, model.id, ext.id, 0.5)
        served = [predictions.predict_one(org, model.id, _values(frame, features, i), explain=False)
                  for i in range(40)]
        by = {(o.served_by, o.version_id) for o in served}
        assert by == {("champion", internal.id), ("challenger", ext.id)}
        assert server.rows == sum(o.served_by == "challenger" for o in served)
        registry.promote_challenger(org, model.id)
        assert predictions.predict_one(org, model.id, _values(frame, features, 41), explain=False).version_id == ext.id
        registry.rollback(org, model.id)
        assert registry.get_model(org, model.id).active_version_id == internal.id
    finally:
        server.shutdown()


def test_cli_registers_and_deploys_an_external_version(org, monkeypatch, tmp_path, capsys):
    import json

    from aihub import cli

    ds, frame, features, _, server, cfg = telco_world(org, monkeypatch)
    try:
        path = tmp_path / "endpoint.json"
        path.write_text(json.dumps({**cfg, "output": {**cfg["output"], "classes": ["No", "Yes", "Maybe"],
                                                      "positive_class": "Perhaps"}}))
        args = ["models", "external", "--tenant", org.tenant_name, "--dataset-id", str(ds), "--config", str(path),
                "--name", "CLI external", "--auth-header-env", "SCORING_AUTH", "--deploy"]
        monkeypatch.setenv("SCORING_AUTH", SCORING_TOKEN)
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert "output.positive_class" in err and "Perhaps" in err and SCORING_TOKEN not in err
        path.write_text(json.dumps(cfg))
        assert cli.main(args) == 0, capsys.readouterr().err
        model = next(m for m in registry.list_models(org) if m.name == "CLI external")
        out = predictions.predict_one(org, model.id, _values(frame, features, 0), explain=False)
        assert out.version_id == model.active_version_id and out.probability is not None
    finally:
        server.shutdown()


def test_batches_outcomes_and_drift_work_for_an_external_version(org, monkeypatch):
    from aihub.services import batch_predictions, health, outcomes

    ds, frame, features, pipeline, server, cfg = telco_world(org, monkeypatch, calls={"max_rows_per_call": 25})
    try:
        version = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN, model_name="batch")
        registry.deploy(org, version.model_id, version.id)
        rows = frame.iloc[:60][["customerID", *features, "Churn"]].astype({"tenure": object})
        rows.loc[rows.index[3], "tenure"] = "lots"  # a bad row is reported by number, the rest predicted
        batch = batch_predictions.predict_batch(org, version.model_id, "customers.csv",
                                                rows.to_csv(index=False).encode())
        assert batch.batch.rows_total == 60 and batch.batch.rows_failed == 1
        assert any(e.get("row") == 4 for e in batch.errors), batch.errors
        assert server.calls == 3  # 59 valid rows in calls of at most 25
        yes = list(pipeline.classes_).index("Yes")
        good = rows.drop(index=rows.index[3])
        local = pipeline.predict_proba(good[features].astype({c: str for c in features
                                                              if not pd.api.types.is_numeric_dtype(frame[c])}))
        got = batch.results.drop(index=batch.results.index[3])["probability"].to_numpy(dtype=float)
        assert np.allclose(got, local[:, yes], atol=1e-9)

        stored = predictions.list_predictions(org, version.model_id, limit=100)
        done = outcomes.record_outcome_list(org, [(r.id, frame.loc[r.row_number - 1, "Churn"])
                                                  for r in stored if r.error is None and r.row_number])
        assert done.updated == 59, done.errors
        live = next(a for a in outcomes.live_accuracy(org, version.model_id) if a.version_id == version.id)
        assert live.live_n == 59 and 0.5 < live.live_accuracy <= 1

        report = health.check_drift(org, version.model_id)
        assert report.current_rows == 59 and report.report["features"]

        server.fail = 100  # the endpoint is down: the batch job fails with the reason and stores nothing
        job = batch_predictions.submit_batch(org, version.model_id, "again.csv", rows.to_csv(index=False).encode(),
                                             run=False)
        assert jobs.run_job(org.tenant_id, job.id) == "failed"
        assert "HTTP 503" in registry.get_job(org, job.id).error and SCORING_TOKEN not in registry.get_job(
            org, job.id).error
    finally:
        server.shutdown()
