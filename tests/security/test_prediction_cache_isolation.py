"""Tenants never share prediction-cache entries, in process or in Redis (issue 14).

The attack: organization B asks for the output cached for organization A's version and input (say the
version id leaked in a log). The key holds the tenant, so B's lookup can never reach A's entry, whichever
version id or input hash it names.
"""

from __future__ import annotations

import uuid

import pytest

from aihub.services import model_cache
from aihub.sharedstate import redis_client

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def backend(request, monkeypatch, server_database):
    if request.param == "memory":
        monkeypatch.delenv("AIHUB_REDIS_URL", raising=False)
        model_cache.forget_outputs()
        yield
        return
    prefix = f"aihub-sec-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AIHUB_REDIS_URL", REDIS)
    monkeypatch.setenv("AIHUB_REDIS_PREFIX", prefix)
    yield
    client = redis_client(REDIS)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def test_another_tenant_never_reads_a_cached_output(backend):
    secret = {"prediction": "Yes", "probability": 0.97, "explained": True, "customer": "A's customer"}
    model_cache.remember_output(101, 5555, "f" * 64, secret)
    assert model_cache.cached_output(101, 5555, "f" * 64, explained=True) == secret
    for tenant in (102, 1, 1010):  # other organizations, same version id and input hash
        assert model_cache.cached_output(tenant, 5555, "f" * 64, explained=True) is None
        assert model_cache.cached_output(tenant, 5555, "f" * 64, explained=False) is None
    key = model_cache.prediction_key(101, 5555, "f" * 64, True)
    assert ":t101:v5555:" in key and key != model_cache.prediction_key(1010, 5555, "f" * 64, True)
