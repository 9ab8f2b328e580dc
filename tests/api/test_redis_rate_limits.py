"""Per-key rate limits shared by two API servers through the real Redis at 127.0.0.1:6379 (issue 14).

Two servers, each with its own limiter object (as two ``aihub api`` processes have), share one bucket per
key through Redis; without Redis each keeps its own. A Redis that is down leaves each server limiting on
its own bucket.
"""

from __future__ import annotations

import uuid

import pytest

from aihub.api.app import create_app
from aihub.api.ratelimit import RedisTokenBucketLimiter, TokenBucketLimiter
from aihub.api.settings import ApiSettings
from aihub.sharedstate import redis_client
from tests.api.conftest import LiveServer, client, make_key

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix(monkeypatch):
    p = f"aihub-rl-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AIHUB_REDIS_URL", REDIS)
    monkeypatch.setenv("AIHUB_REDIS_PREFIX", p)
    yield p
    keys = list(redis_client(REDIS).scan_iter(f"{p}:*"))
    if keys:
        redis_client(REDIS).delete(*keys)


def _codes(servers, token, pattern):
    out = []
    for i in pattern:
        with client(servers[i], token) as c:
            out.append(c.get("/datasets"))
    return out


def test_two_api_servers_share_a_keys_bucket_through_redis(server_database, org_a, prefix):
    token = make_key(org_a)
    with LiveServer(create_app(ApiSettings(rate_requests=3, rate_seconds=60))) as one, \
            LiveServer(create_app(ApiSettings(rate_requests=3, rate_seconds=60))) as two:
        assert isinstance(one.app.state.limiter, RedisTokenBucketLimiter)
        assert one.app.state.limiter is not two.app.state.limiter
        replies = _codes([one, two], token, [0, 1, 0, 1])
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert int(replies[3].headers["retry-after"]) >= 1 and replies[3].json()["code"] == "rate_limited"
    assert redis_client(REDIS).exists(f"{prefix}:ratelimit:{_key_pk(org_a)}"), "the bucket lives in Redis"


def _key_pk(principal) -> int:
    from aihub import apikeys

    return apikeys.list_keys(principal)[0].id


def test_without_redis_each_server_keeps_its_own_bucket(server_database, org_a, monkeypatch):
    monkeypatch.delenv("AIHUB_REDIS_URL", raising=False)
    token = make_key(org_a)
    with LiveServer(create_app(ApiSettings(rate_requests=2, rate_seconds=60))) as one, \
            LiveServer(create_app(ApiSettings(rate_requests=2, rate_seconds=60))) as two:
        assert isinstance(one.app.state.limiter, TokenBucketLimiter)
        replies = _codes([one, two], token, [0, 1, 0, 1, 0])
    assert [r.status_code for r in replies] == [200, 200, 200, 200, 429]


def test_a_redis_that_is_down_limits_per_server(server_database, org_a, monkeypatch, caplog):
    monkeypatch.setenv("AIHUB_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    token = make_key(org_a)
    with LiveServer(create_app(ApiSettings(rate_requests=2, rate_seconds=60))) as one:
        replies = _codes([one], token, [0, 0, 0])
    assert [r.status_code for r in replies] == [200, 200, 429]
    assert "rate limits are kept per API process" in caplog.text
