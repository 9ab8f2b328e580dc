"""REST sources against a real HTTP server on 127.0.0.1 started by the tests."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from aihub.connectors import MASK, ConnectorError, read_source, test_connection
from aihub.errors import ValidationError

ITEMS = [
    {"id": i, "name": f"item {i}", "price": f"{i * 1.5:.2f}", "meta": {"colour": "red" if i % 2 else "blue"},
     **({"in_stock": "yes" if i % 3 else "no"} if i != 4 else {})}
    for i in range(1, 24)
]
BEARER = "good-token-123"
API_KEY = "key-abc-SECRET"
CLIENT_ID, CLIENT_SECRET = "hub client", "cs/SECRET+1"
OAUTH_TOKEN = "oauth-access-777"
SLOW_SECONDS = 2.0


class Handler(BaseHTTPRequestHandler):
    server_version = "TestAPI/1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status, body, *, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.server.hits.append(("POST", self.path, dict(self.headers)))
        length = int(self.headers.get("Content-Length", 0))
        form = parse_qs(self.rfile.read(length).decode())
        if urlsplit(self.path).path != "/oauth/token":
            return self._send(404, {"error": "not found"})
        auth = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(b"hub%20client:cs%2FSECRET%2B1").decode()
        if form.get("grant_type") != ["client_credentials"] or auth != expected:
            return self._send(401, {"error": "invalid_client"})
        return self._send(200, {"access_token": OAUTH_TOKEN, "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self):  # noqa: C901 - over the complexity ceiling before it existed; a fake REST server's router
        self.server.hits.append(("GET", self.path, dict(self.headers)))
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path == "/v1/items":  # page number pagination, records under data.items
            page, size = int(q.get("page", 1)), int(q.get("per_page", 10))
            chunk = ITEMS[(page - 1) * size: page * size]
            return self._send(200, {"data": {"items": chunk}, "total": len(ITEMS)})
        if path == "/v1/offset":
            off, lim = int(q.get("offset", 0)), int(q.get("limit", 10))
            return self._send(200, ITEMS[off: off + lim])
        if path == "/v1/cursor":
            start = int(q.get("cursor", "0"))
            chunk = ITEMS[start: start + 10]
            nxt = str(start + 10) if start + 10 < len(ITEMS) else None
            return self._send(200, {"results": chunk, "meta": {"next_cursor": nxt}})
        if path == "/v1/same-cursor":  # a buggy API repeating its cursor
            return self._send(200, {"results": ITEMS[:2], "meta": {"next_cursor": "again"}})
        if path == "/v1/linked":  # next link in the body, relative
            after = int(q.get("after", 0))
            chunk = ITEMS[after: after + 10]
            nxt = f"/v1/linked?after={after + 10}" if after + 10 < len(ITEMS) else None
            return self._send(200, {"items": chunk, "links": {"next": nxt}})
        if path == "/v1/link-header":  # RFC 8288 Link header
            p = int(q.get("p", 0))
            headers = {"Link": f'<http://127.0.0.1:{self.server.server_port}/v1/link-header?p={p + 1}>; rel="next"'}
            return self._send(200, ITEMS[p * 10: p * 10 + 10], headers=headers if p < 2 else None)
        if path == "/v1/secure":
            if self.headers.get("Authorization") != f"Bearer {BEARER}":
                return self._send(401, {"error": "bad token"}, headers={"WWW-Authenticate": "Bearer"})
            return self._send(200, {"items": ITEMS[:3]})
        if path == "/v1/apikey":
            if self.headers.get("X-API-Key") != API_KEY:
                return self._send(403, {"error": "forbidden"})
            return self._send(200, ITEMS[:2])
        if path == "/v1/query-key":
            if q.get("api_key") != API_KEY:
                return self._send(401, {"error": "no key"})
            return self._send(200, ITEMS[:2])
        if path == "/v1/oauth-data":
            if self.headers.get("Authorization") != f"Bearer {OAUTH_TOKEN}":
                return self._send(401, {"error": "bad token"})
            return self._send(200, {"data": {"items": ITEMS[:4]}})
        if path == "/v1/slow":
            time.sleep(SLOW_SECONDS)
            return self._send(200, [])
        if path == "/v1/html":
            return self._send(200, b"<html><body>Login</body></html>", ctype="text/html")
        if path == "/v1/broken":
            return self._send(500, {"error": "boom"})
        if path == "/v1/redirect-out":  # to a host name that is not on the allow-list
            return self._send(302, b"", headers={"Location": f"http://localhost:{self.server.server_port}/v1/items"})
        return self._send(404, {"error": "not found"})


@pytest.fixture(scope="module")
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def base(api):
    api.hits.clear()
    return f"http://127.0.0.1:{api.server_port}/v1"


ALLOWED = "127.0.0.1"


def source(base_url, *, auth=None, **conn):
    return {
        "source_name": "Test API",
        "source_type": "rest_api",
        "connection_config": {"base_url": base_url, "timeout_seconds": 5, **conn},
        **({"authentication_config": auth} if auth else {}),
    }


def refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_page_pagination_reads_every_page(api, base):
    cfg = source(base, endpoints=["items"], records_path="data.items",
                 pagination={"type": "page", "size_param": "per_page", "page_size": 10})
    table = read_source(cfg, allowed_hosts=ALLOWED)
    assert table.rows_read == 23 and not table.truncated
    assert table.frame["id"].tolist() == list(range(1, 24))
    assert "meta.colour" in table.frame.columns  # nested objects flattened
    pages = [h[1] for h in api.hits]
    assert pages == ["/v1/items?page=1&per_page=10", "/v1/items?page=2&per_page=10", "/v1/items?page=3&per_page=10"]


@pytest.mark.parametrize(
    ("conn", "expected_requests"),
    [
        ({"endpoints": ["offset"], "pagination": {"type": "offset", "page_size": 10}}, 3),
        ({"endpoints": ["cursor"], "records_path": "results",
          "pagination": {"type": "cursor", "cursor_path": "meta.next_cursor"}}, 3),
        ({"endpoints": ["linked"], "records_path": "items",
          "pagination": {"type": "next_link", "next_path": "links.next"}}, 3),
        ({"endpoints": ["link-header"], "pagination": {"type": "next_link"}}, 3),
    ],
)
def test_offset_cursor_and_next_link_pagination(api, base, conn, expected_requests):
    table = read_source(source(base, **conn), allowed_hosts=ALLOWED)
    assert table.frame["id"].tolist() == list(range(1, 24))
    assert len(api.hits) == expected_requests


def test_repeating_cursor_stops_and_page_cap_truncates(api, base):
    cfg = source(base, endpoints=["same-cursor"], records_path="results",
                 pagination={"type": "cursor", "cursor_path": "meta.next_cursor", "max_pages": 50})
    table = read_source(cfg, allowed_hosts=ALLOWED)
    assert len(api.hits) == 2 and table.rows_read == 4  # second answer repeats the cursor: stop
    api.hits.clear()
    cfg = source(base, endpoints=["items"], records_path="data.items",
                 pagination={"type": "page", "size_param": "per_page", "page_size": 5, "max_pages": 2})
    table = read_source(cfg, allowed_hosts=ALLOWED)
    assert table.rows_read == 10 and table.truncated and len(api.hits) == 2
    assert any("max_pages" in w for w in table.warnings)


def test_row_limit_stops_early(api, base):
    cfg = source(base, endpoints=["items"], records_path="data.items", row_limit=12,
                 pagination={"type": "page", "size_param": "per_page", "page_size": 5})
    table = read_source(cfg, allowed_hosts=ALLOWED)
    assert table.rows_read == 12 and table.truncated and len(api.hits) == 3


def test_mapping_types_and_csv_round_trip_through_the_upload_reader(base):
    cfg = source(base, endpoints=["items"], records_path="data.items",
                 pagination={"type": "page", "size_param": "per_page", "page_size": 10})
    cfg["data_schema"] = {"fields": [
        {"name": "item_id", "type": "integer", "required": True},
        {"name": "price", "type": "number"},
        {"name": "in_stock", "type": "boolean", "default": False},
        {"name": "colour", "type": "category"},
    ]}
    cfg["field_mapping"] = {"id": "item_id", "meta.colour": "colour"}
    table = read_source(cfg, allowed_hosts=ALLOWED)
    f = table.frame
    assert list(f.columns) == ["item_id", "price", "in_stock", "colour"]
    assert f["price"].iloc[2] == 4.5
    assert f["in_stock"].tolist()[:4] == [True, True, False, False]  # record 4 has no in_stock: default
    assert table.data.startswith(b"item_id,price,in_stock,colour\n1,1.5,true,red\n")
    assert table.filename == "Test_API.csv"
    typed = table.to_upload().typed()
    pd.testing.assert_frame_equal(typed, f, check_categorical=False)
    again = read_source(cfg, allowed_hosts=ALLOWED)
    assert again.sha256 == table.sha256  # unchanged data gives the same bytes: no new version


def test_bearer_auth_success_and_401(base):
    ok = test_connection(source(base, endpoints=["secure"], records_path="items",
                                auth={"type": "bearer", "token": BEARER}), allowed_hosts=ALLOWED)
    assert ok.ok and ok.error_kind is None and len(ok.rows_sample) == 3
    assert "3 sample rows" in ok.message
    bad = test_connection(source(base, endpoints=["secure"], records_path="items"), allowed_hosts=ALLOWED)
    assert not bad.ok and bad.error_kind == "auth" and "HTTP 401" in bad.message
    wrong = test_connection(source(base, endpoints=["secure"], records_path="items",
                                   auth={"type": "bearer", "token": "wrong-SECRET-token"}), allowed_hosts=ALLOWED)
    assert wrong.error_kind == "auth" and "127.0.0.1" in wrong.message
    assert "wrong-SECRET-token" not in json.dumps(wrong.to_dict())


def test_api_key_header_and_query_auth(base):
    ok = read_source(source(base, endpoints=["apikey"], auth={"type": "header", "header": "X-API-Key"}),
                     {"value": API_KEY}, allowed_hosts=ALLOWED)
    assert ok.rows_read == 2
    forbidden = test_connection(source(base, endpoints=["apikey"], auth={"type": "header", "header": "X-API-Key"}),
                                {"value": "nope-SECRET"}, allowed_hosts=ALLOWED)
    assert forbidden.error_kind == "auth" and "HTTP 403" in forbidden.message
    ok = read_source(source(base, endpoints=["query-key"], auth={"type": "query", "param": "api_key"}),
                     {"value": API_KEY}, allowed_hosts=ALLOWED)
    assert ok.rows_read == 2
    bad = test_connection(source(base, endpoints=["query-key"], auth={"type": "query", "param": "api_key"}),
                          {"value": "leaky-SECRET-value"}, allowed_hosts=ALLOWED)
    assert bad.error_kind == "auth"
    assert "leaky-SECRET-value" not in json.dumps(bad.to_dict())


def test_oauth2_client_credentials(api, base):
    auth = {"type": "oauth2_client_credentials", "token_url": f"{base.rsplit('/v1', 1)[0]}/oauth/token",
            "client_id": CLIENT_ID, "scope": "read"}
    cfg = source(base, endpoints=["oauth-data"], records_path="data.items", auth={**auth, "client_secret": CLIENT_SECRET})
    table = read_source(cfg, allowed_hosts=ALLOWED)
    assert table.rows_read == 4
    assert [h[0] for h in api.hits] == ["POST", "GET"]
    bad = test_connection({**cfg, "authentication_config": {**auth, "client_secret": "wrong-SECRET"}},
                          allowed_hosts=ALLOWED)
    assert bad.error_kind == "auth" and "client credentials" in bad.message and "invalid_client" in bad.message
    assert "wrong-SECRET" not in json.dumps(bad.to_dict())


def test_allow_list_is_enforced_before_any_request(api, base):
    port = api.server_port
    cfg = source(f"http://localhost:{port}/v1", endpoints=["items"], records_path="data.items")
    report = test_connection(cfg, allowed_hosts=ALLOWED)
    assert report.error_kind == "not_allowed" and "'localhost'" in report.message
    assert "AIHUB_ALLOWED_HOSTS" in report.message and "Nothing was sent" in report.message
    assert api.hits == []
    report = test_connection(source(base, endpoints=["items"]), allowed_hosts=f"127.0.0.1:{port + 1}")
    assert report.error_kind == "not_allowed" and api.hits == []  # wrong port
    report = test_connection(source(base, endpoints=["items"]), allowed_hosts=None)  # env unset: nothing allowed
    assert report.error_kind == "not_allowed" and api.hits == []
    oauth = source(base, endpoints=["oauth-data"], auth={
        "type": "oauth2_client_credentials", "token_url": "https://auth.elsewhere.example.com/token",
        "client_id": "x", "client_secret": "y"})
    report = test_connection(oauth, allowed_hosts=ALLOWED)
    assert report.error_kind == "not_allowed" and "auth.elsewhere.example.com" in report.message
    assert api.hits == []


def test_redirect_to_a_host_off_the_list_is_refused(api, base):
    report = test_connection(source(base, endpoints=["redirect-out"]), allowed_hosts=ALLOWED)
    assert report.error_kind == "not_allowed" and "localhost" in report.message
    assert [h[1] for h in api.hits] == ["/v1/redirect-out"]  # the redirect target got nothing


def test_env_allow_list(monkeypatch, base):
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "example.com, 127.0.0.1")
    assert read_source(source(base, endpoints=["apikey"], auth={"type": "header", "header": "X-API-Key"}),
                       {"value": API_KEY}).rows_read == 2


def test_timeout(base):
    started = time.perf_counter()
    report = test_connection(source(base, endpoints=["slow"], timeout_seconds=0.3), allowed_hosts=ALLOWED)
    assert report.error_kind == "timeout" and "did not answer in time" in report.message
    assert time.perf_counter() - started < SLOW_SECONDS


def test_refused_port():
    port = refused_port()
    report = test_connection(source(f"http://127.0.0.1:{port}/v1", endpoints=["items"]), allowed_hosts=ALLOWED)
    assert report.error_kind == "refused" and "refused the connection" in report.message


def test_dns_failure():
    report = test_connection(source("http://nonexistent.invalid/api"), allowed_hosts="nonexistent.invalid")
    assert report.error_kind == "dns" and "'nonexistent.invalid'" in report.message


@pytest.mark.parametrize(
    ("conn", "kind", "words"),
    [
        ({"endpoints": ["html"]}, "bad_data", "not JSON (text/html"),
        ({"endpoints": ["broken"]}, "http_error", "HTTP 500"),
        ({"endpoints": ["missing"]}, "http_error", "HTTP 404"),
        ({"endpoints": ["items"], "records_path": "data.rows"}, "schema_mismatch", "keys there: 'items'"),
        ({"endpoints": ["items"], "records_path": "total"}, "schema_mismatch", "the number 23"),
    ],
)
def test_http_errors_are_classified(base, conn, kind, words):
    report = test_connection(source(base, **conn), allowed_hosts=ALLOWED)
    assert not report.ok and report.error_kind == kind and words in report.message, report.message
    assert report.rows_sample.empty


def test_schema_mismatch_from_mapping(base):
    cfg = source(base, endpoints=["items"], records_path="data.items")
    cfg["data_schema"] = {"fields": [{"name": "sku", "type": "id", "required": True}]}
    report = test_connection(cfg, allowed_hosts=ALLOWED)
    assert report.error_kind == "schema_mismatch" and "'sku'" in report.message and "'price'" in report.message
    cfg["data_schema"] = {"fields": [{"name": "name", "type": "number"}]}
    report = test_connection(cfg, allowed_hosts=ALLOWED)
    assert report.error_kind == "schema_mismatch" and "'item 1'" in report.message and "record 1" in report.message


def test_sample_reads_one_page(api, base):
    cfg = source(base, endpoints=["items"], records_path="data.items",
                 pagination={"type": "page", "size_param": "per_page", "page_size": 10})
    report = test_connection(cfg, allowed_hosts=ALLOWED, sample_rows=5)
    assert report.ok and len(report.rows_sample) == 5 and report.truncated and len(api.hits) == 1
    assert report.warnings == ()


def test_several_endpoints_are_stacked(base):
    cfg = source(base, endpoints=[{"path": "apikey"}, {"path": "secure", "records_path": "items"}],
                 auth={"type": "header", "header": "X-API-Key"})
    with pytest.raises(ConnectorError) as e:  # the second endpoint wants a bearer token
        read_source(cfg, {"value": API_KEY}, allowed_hosts=ALLOWED)
    assert e.value.kind == "auth" and API_KEY not in str(e.value.to_dict())
    cfg = source(base, endpoints=["apikey", {"path": "offset", "params": {"limit": 3}}],
                 auth={"type": "header", "header": "X-API-Key"})
    table = read_source(cfg, {"value": API_KEY}, allowed_hosts=ALLOWED)
    assert table.frame["_endpoint"].tolist() == ["apikey"] * 2 + ["offset"] * 3


def test_config_problems_raise_validation_errors(base):
    with pytest.raises(ValidationError) as e:
        test_connection(source(base, auth={"type": "bearer"}), allowed_hosts=ALLOWED)
    assert e.value.field == "authentication_config.token"
    with pytest.raises(ValidationError):
        test_connection(source(base), allowed_hosts="http://bad/")
    with pytest.raises(ValidationError):
        test_connection(source(base), allowed_hosts=ALLOWED, sample_rows=0)
    with pytest.raises(ValidationError):
        read_source(source(base, auth={"type": "bearer", "token": MASK}), allowed_hosts=ALLOWED)
