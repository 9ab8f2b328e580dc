"""API keys (401 for none, malformed, unknown, revoked, expired; 403 for a missing scope), health, problem+json,
request ids, rate limits and idempotent POSTs, against the live server."""

from __future__ import annotations

import time

import httpx
import pytest

from aihub import apikeys, audit, auth
from aihub.api.ratelimit import TokenBucketLimiter
from aihub.errors import ValidationError
from tests.api.conftest import client, make_key, soon

CSV = b"date,region,revenue\n2024-01-01,West,10\n2024-01-02,East,12\n2024-01-03,West,9\n"


def _upload(c: httpx.Client, name: str = "orders", data: bytes = CSV, **headers):
    return c.post("/datasets", files={"file": ("orders.csv", data, "text/csv")}, data={"name": name},
                  headers=headers)


def test_health_needs_no_key_and_reports_database_worker_queue_version(api):
    r = httpx.get(api.url + "/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["database"]["ok"] is True and body["database"]["latency_ms"] >= 0
    assert body["status"] in ("ok", "degraded")
    assert body["worker"]["alive"] >= 0 and set(body["queue"]) == {"waiting", "running"}
    assert body["compute"]["backend"] == "in-process" and body["compute"]["scheduler"] is None
    from aihub import __version__
    assert body["version"] == __version__


def test_openapi_is_31_and_docs_are_served(api):
    doc = httpx.get(api.url + "/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert "/api/v1/datasets" in doc["paths"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    assert httpx.get(api.url + "/api/v1/docs").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer aihub_AAAAAAAAAAAA_" + "x" * 43, "Basic abc"])
def test_missing_malformed_or_unknown_key_is_401_problem(api, org_a, header):
    headers = {"Authorization": header} if header else {}
    r = httpx.get(api.url + "/api/v1/datasets", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    body = r.json()
    assert body["status"] == 401 and body["code"] in ("missing_api_key", "invalid_api_key")
    assert body["request_id"] == r.headers["x-request-id"]


def test_right_key_id_with_wrong_secret_is_401(api, org_a):
    token = make_key(org_a)
    forged = token[:-5] + ("AAAAA" if not token.endswith("AAAAA") else "BBBBB")
    with client(api, forged) as c:
        assert c.get("/datasets").json()["code"] == "invalid_api_key"


def test_revoked_and_expired_keys_are_401(api, org_a):
    token = make_key(org_a)
    rec = apikeys.list_keys(org_a)[0]
    with client(api, token) as c:
        assert c.get("/datasets").status_code == 200
        apikeys.revoke_key(org_a, rec.id)
        r = c.get("/datasets")
    assert r.status_code == 401 and r.json()["code"] == "api_key_revoked"

    expiring = apikeys.create_key(org_a, "short", ["read"], expires_at=soon(hours=1 / 3600))[1]
    time.sleep(1.2)
    with client(api, expiring) as c:
        r = c.get("/datasets")
    assert r.status_code == 401 and r.json()["code"] == "api_key_expired"


def test_key_of_deactivated_user_stops(api, org_a):
    second = auth.add_user(org_a, "second-admin@api-a.example.com", "Second", "admin", "correct-horse-battery")
    admin2 = auth.principal_for(second.username, org_a.tenant_id)
    token = make_key(admin2)
    auth.set_user_role(org_a, second.id, "admin", active=False)
    with client(api, token) as c:
        r = c.get("/datasets")
    assert r.status_code == 401 and r.json()["code"] == "api_key_user_inactive"


def test_missing_scope_is_403_and_names_it(api, org_a):
    with client(api, make_key(org_a, ["read"])) as c:
        r = _upload(c)
    assert r.status_code == 403
    assert r.json()["code"] == "scope_missing" and "ai_analytics:create" in r.json()["detail"]


def test_demoted_creator_narrows_the_key(api, org_a):
    user = auth.add_user(org_a, "analyst@api-a.example.com", "Ana", "admin", "correct-horse-battery")
    creator = auth.principal_for(user.username, org_a.tenant_id)
    token = make_key(creator)
    auth.set_user_role(org_a, user.id, "viewer")
    with client(api, token) as c:
        assert c.get("/datasets").status_code == 200
        r = _upload(c)
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"


def test_keys_are_stored_as_hashes_shown_once_and_audited(api, org_a):
    rec, token = apikeys.create_key(org_a, "crm", "read,ai_analytics:predict", expires_at=soon(24))
    assert token.startswith(f"aihub_{rec.key_id}_") and rec.scopes == ["read", "predict"]
    assert not hasattr(rec, "secret_hash")
    import sqlalchemy as sa

    from aihub.db.session import tenant_session
    with tenant_session(org_a.tenant_id) as s:
        stored = s.execute(sa.text("SELECT secret_hash FROM api_keys WHERE id = :i"), {"i": rec.id}).scalar()
    assert token.split("_")[-1] not in stored and len(stored) == 64
    apikeys.revoke_key(org_a, rec.id)
    events = [e.event for e in auth.list_audit_log(org_a, events=("api_key_created", "api_key_revoked"))]
    assert events == ["api_key_revoked", "api_key_created"]
    assert "api_key_created" in audit.EVENTS


def test_creating_keys_needs_manage_and_valid_scopes(api, org_a):
    user = auth.add_user(org_a, "an@api-a.example.com", "An", "analyst", "correct-horse-battery")
    analyst = auth.principal_for(user.username, org_a.tenant_id)
    with pytest.raises(auth.PermissionDenied):
        apikeys.create_key(analyst, "x", ["read"])
    with pytest.raises(ValidationError) as err:
        apikeys.create_key(org_a, "x", ["read", "delete_everything"])
    assert err.value.field == "scopes"
    with pytest.raises(ValidationError):
        apikeys.create_key(org_a, "x", ["read"], expires_at=soon(-1))


def test_usage_is_counted_on_the_key(api, org_a):
    token = make_key(org_a)
    with client(api, token) as c:
        for _ in range(3):
            c.get("/datasets")
    apikeys.flush_usage()
    key = apikeys.list_keys(org_a)[0]
    assert key.request_count == 3 and key.last_used_at is not None


def test_request_id_is_echoed_or_made(api):
    r = httpx.get(api.url + "/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = httpx.get(api.url + "/api/v1/health", headers={"X-Request-ID": "bad id with spaces"})
    assert len(r.headers["x-request-id"]) == 32


def test_rate_limit_gives_429_with_retry_after(api, org_a):
    token = make_key(org_a)
    saved = api.app.state.limiter
    api.app.state.limiter = TokenBucketLimiter(2, 60)
    try:
        with client(api, token) as c:
            codes = [c.get("/datasets") for _ in range(3)]
    finally:
        api.app.state.limiter = saved
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[0].headers["ratelimit-limit"] == "2"
    assert int(codes[2].headers["retry-after"]) >= 1
    assert codes[2].json()["code"] == "rate_limited"


def test_idempotency_key_replays_instead_of_doing_twice(api, org_a):
    with client(api, make_key(org_a)) as c:
        first = _upload(c, "idem", **{"Idempotency-Key": "k-1"})
        again = _upload(c, "idem", **{"Idempotency-Key": "k-1"})
        other = _upload(c, "idem-other", **{"Idempotency-Key": "k-1"})
        listed = c.get("/datasets", params={"name": "idem"}).json()["items"]
    assert first.status_code == 201 and again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert len(listed) == 1 and listed[0]["versions"] == 1


def test_validation_errors_name_the_field(api, org_a):
    with client(api, make_key(org_a)) as c:
        r = c.get("/datasets", params={"limit": 0})
        bad_cursor = c.get("/datasets", params={"cursor": "zzz"})
        no_name = c.post("/datasets", files={"file": ("orders.csv", CSV, "text/csv")})
        bad_file = _upload(c, data=b"\xff\xfe\x00garbage")
    assert r.status_code == 422 and r.json()["field"] == "limit"
    assert bad_cursor.status_code == 422 and bad_cursor.json()["field"] == "cursor"
    assert no_name.status_code == 422 and no_name.json()["field"] == "name"
    assert bad_file.status_code == 422 and bad_file.json()["details"]["file"] == "orders.csv"


def test_cli_creates_lists_and_revokes_keys(api, org_a, capsys):
    from aihub import cli

    assert cli.main(["api-keys", "create", "--tenant", org_a.tenant_name, "--name", "cli key",
                     "--scopes", "read,ai_analytics:predict", "--expires", "2099-01-01T00:00:00+00:00"]) == 0
    token = capsys.readouterr().out.strip()
    with client(api, token) as c:
        assert c.get("/datasets").status_code == 200
    assert cli.main(["api-keys", "list", "--tenant", org_a.tenant_name]) == 0
    listed = capsys.readouterr().out
    key = apikeys.list_keys(org_a)[0]
    assert "cli key" in listed and "read,predict" in listed and token not in listed
    assert cli.main(["api-keys", "revoke", "--tenant", org_a.tenant_name, str(key.id)]) == 0
    with client(api, token) as c:
        assert c.get("/datasets").status_code == 401
    assert cli.main(["api-keys", "create", "--tenant", org_a.tenant_name, "--name", "x", "--scopes", "nope"]) == 2
