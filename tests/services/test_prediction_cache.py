"""The prediction cache: in process without Redis, shared through the real Redis at 127.0.0.1:6379 with it.

Each Redis test uses its own key prefix (``AIHUB_REDIS_PREFIX``) and deletes its keys afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from aihub.demo import generate_customers
from aihub.services import jobs, model_cache, model_training, predictions, registry
from aihub.sharedstate import redis_client
from tests.conftest import new_tenant
from tests.fixtures import _quick_model

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def backend(request, monkeypatch):
    """Run the test once in process and once against the real Redis server, under a fresh prefix."""
    if request.param == "memory":
        monkeypatch.delenv("AIHUB_REDIS_URL", raising=False)
        yield None
        return
    prefix = f"aihub-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AIHUB_REDIS_URL", REDIS)
    monkeypatch.setenv("AIHUB_REDIS_PREFIX", prefix)
    client = redis_client(REDIS)
    client.ping()
    yield client
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def _customer(i: int) -> dict:
    return generate_customers(1, seed=100 + i).drop(columns="Churned").iloc[0].to_dict()


def test_a_repeated_input_is_answered_from_the_cache_and_a_deploy_changes_the_key(server_database, backend):
    admin = new_tenant("pcache")
    model, v1 = _quick_model(admin, name="cache churn")
    model_cache.forget()
    values = _customer(1)
    first = predictions.predict_one(admin, model.id, values)
    assert not first.cache_hit
    digest = predictions._input_hash(predictions.clean_values(model_cache.load(admin.tenant_id, v1.id), values))
    cached = model_cache.cached_output(admin.tenant_id, v1.id, digest, explained=True)
    assert cached == first.output
    if backend is not None:  # the entry is in Redis, under the tenant and version
        assert backend.exists(model_cache.prediction_key(admin.tenant_id, v1.id, digest, True))
    again = predictions.predict_one(admin, model.id, values)
    assert again.cache_hit and again.output == first.output and again.id != first.id

    # a new version deployed: the same input is predicted by it, never answered with v1's output
    job = model_training.train(admin, model.id, run=False)
    assert jobs.run_job(admin.tenant_id, job.id) == "succeeded"
    v2 = next(v for v in registry.list_versions(admin, model.id) if v.id != v1.id)
    registry.deploy(admin, model.id, v2.id)
    after = predictions.predict_one(admin, model.id, values)
    assert after.version_id == v2.id and not after.cache_hit
    assert model_cache.prediction_key(admin.tenant_id, v1.id, digest, True) != \
        model_cache.prediction_key(admin.tenant_id, v2.id, digest, True)


def test_redis_shares_the_cache_with_another_process(server_database, backend):
    if backend is None:
        pytest.skip("sharing across processes needs Redis")
    admin = new_tenant("pshare")
    model, version = _quick_model(admin, name="shared churn")
    out = predictions.predict_one(admin, model.id, _customer(2))
    digest = predictions._input_hash(predictions.clean_values(model_cache.load(admin.tenant_id, version.id),
                                                              _customer(2)))
    db = server_database
    code = (
        "import json, sys\n"
        "from sqlalchemy.engine import make_url\n"
        "from aihub.db import engine\n"
        f"engine.set_database(engine.Database(make_url({db.owner.url.render_as_string(hide_password=False)!r}), "
        f"make_url({db.app.url.render_as_string(hide_password=False)!r}), worker=make_url('postgresql://x@127.0.0.1/x')))\n"
        "from aihub.services import model_cache\n"
        f"print(json.dumps(model_cache.cached_output({admin.tenant_id}, {version.id}, {digest!r}, explained=True)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == out.output


def test_a_redis_that_is_down_fails_open(server_database, monkeypatch, caplog):
    """The cache misses (the stored predictions still answer a repeat); the prediction itself never fails."""
    monkeypatch.setenv("AIHUB_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    admin = new_tenant("pdown")
    model, _ = _quick_model(admin, name="down churn")
    model_cache.forget()
    values = _customer(3)
    first = predictions.predict_one(admin, model.id, values)
    again = predictions.predict_one(admin, model.id, values)
    assert not first.cache_hit and again.cache_hit and again.output == first.output
    assert "falls back to the database" in caplog.text
