"""Issue 10, item 6 (and the REST/object-store half of item 2): stored credentials never go to a new place.

Threat: an analyst may edit a source but never sees its stored token. Before the fix, saving the source with the
token left blank kept it, so pointing ``base_url`` at a host the analyst controls delivered the token there on the
next test or sync. Likewise a redirect or next-page link from an allowed API to another allowed host carried an
API-key header or query parameter along. Real HTTP servers on 127.0.0.1 record what they receive.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from aihub.connectors import ConnectorError, carry_over_secrets, read_source, split_secrets
from aihub.connectors.objectstore import storage_options
from aihub.errors import ValidationError
from aihub.services import sources

TOKEN = "stored-token-0f9e8d7c6b5a"


class _Recorder(BaseHTTPRequestHandler):
    """Answers JSON; records each request's path, query and headers. ``routes`` maps a path to a reply."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.server.seen.append({"path": url.path, "query": parse_qs(url.query),
                                 "headers": {k.lower(): v for k, v in self.headers.items()}})
        status, headers, body = self.server.routes.get(url.path, (200, {}, [{"id": 1}]))
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def servers():
    made = []

    def make(routes=None):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        srv.seen, srv.routes = [], routes or {}
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.shutdown()
        srv.server_close()


def _api(base_url: str, token: str = TOKEN, **conn) -> dict:
    return {"source_name": "Orders API", "source_type": "rest_api",
            "connection_config": {"base_url": base_url, "endpoints": ["orders"], "timeout_seconds": 5, **conn},
            "authentication_config": {"type": "bearer", "token": token}}


def test_changing_base_url_requires_the_token_again(tenant, servers, monkeypatch):
    """The attack of item 6, through the service an analyst uses."""
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1,localhost")
    legit, attacker = servers(), servers()
    src = sources.create_source(tenant, _api(f"http://127.0.0.1:{legit.server_port}"))
    assert sources.test_connection(tenant, src.id).ok
    assert legit.seen[-1]["headers"]["authorization"] == f"Bearer {TOKEN}"

    for blank in ("", "********"):  # left blank, or the mask the form shows
        with pytest.raises(ValidationError) as err:
            sources.update_source(tenant, src.id, _api(f"http://localhost:{attacker.server_port}", token=blank))
        assert err.value.field == "authentication_config.token"
        assert "connection_config.base_url" in err.value.message
    sources.test_connection(tenant, src.id)
    assert attacker.seen == [], "the stored token reached the new host"

    # Typing the token again is how the change is saved; a harmless edit keeps the stored token.
    sources.update_source(tenant, src.id, _api(f"http://localhost:{attacker.server_port}", token="typed-again"))
    assert sources.test_connection(tenant, src.id).ok
    assert attacker.seen[-1]["headers"]["authorization"] == "Bearer typed-again"
    renamed = {**_api(f"http://localhost:{attacker.server_port}", token=""), "description": "renamed"}
    sources.update_source(tenant, src.id, renamed)
    assert sources.test_connection(tenant, src.id).ok
    assert attacker.seen[-1]["headers"]["authorization"] == "Bearer typed-again"


@pytest.mark.parametrize(("before", "after", "changed"), [
    ({"source_type": "database", "connection_config": {"url": "postgresql+psycopg://r@db.example.com/sales",
                                                       "table": "t"},
      "authentication_config": {"type": "password", "password": "pw-1"}},
     {"connection_config": {"url": "postgresql+psycopg://r@db.example.com:6543/sales", "table": "t"}},
     "connection_config.url"),
    ({"source_type": "database", "connection_config": {"url": "postgresql+psycopg://r@db.example.com/sales",
                                                       "table": "t"},
      "authentication_config": {"type": "password", "password": "pw-1"}},
     {"connection_config": {"url": "postgresql+psycopg://r@db.example.com/other", "table": "t"}},
     "connection_config.url"),
    ({"source_type": "rest_api", "connection_config": {"base_url": "https://api.example.com"},
      "authentication_config": {"type": "header", "header": "X-Key", "value": "k-1"}},
     {"authentication_config": {"type": "header", "header": "X-Other", "value": ""}},
     "authentication_config.header"),
    ({"source_type": "rest_api", "connection_config": {"base_url": "https://api.example.com"},
      "authentication_config": {"type": "oauth2_client_credentials", "token_url": "https://id.example.com/t",
                                "client_id": "c", "client_secret": "s-1"}},
     {"authentication_config": {"type": "oauth2_client_credentials", "token_url": "https://evil.example.com/t",
                                "client_id": "c"}},
     "authentication_config.token_url"),
])
def test_every_field_that_decides_the_destination_drops_stored_secrets(before, after, changed):
    old, old_secrets = split_secrets({"source_name": "S", **before})
    edited = {**before, **after}
    secret_keys = ("password", "value", "client_secret")
    edited["authentication_config"] = {k: "" if k in secret_keys else v
                                       for k, v in edited["authentication_config"].items()}  # left blank
    new, new_secrets = split_secrets({"source_name": "S", **edited})
    with pytest.raises(ValidationError) as err:
        carry_over_secrets(old, old_secrets, new, new_secrets)
    assert changed in err.value.message and err.value.details["changed"] == [changed]
    same, _ = split_secrets({"source_name": "S", "description": "x", **before})
    assert carry_over_secrets(old, old_secrets, same, {}) == old_secrets


def test_redirect_to_another_allowed_host_carries_no_credential(servers):
    other = servers()
    api = servers({"/orders": (302, {"Location": f"http://localhost:{other.server_port}/steal"}, [])})
    cfg = {"source_name": "Keyed API", "source_type": "rest_api",
           "connection_config": {"base_url": f"http://127.0.0.1:{api.server_port}", "endpoints": ["orders"]},
           "authentication_config": {"type": "header", "header": "X-API-Key", "value": TOKEN}}
    read_source(cfg, allowed_hosts="127.0.0.1,localhost")
    assert api.seen[0]["headers"]["x-api-key"] == TOKEN
    assert other.seen and "x-api-key" not in other.seen[0]["headers"]
    # A redirect to a host the list does not name is not followed at all.
    api.routes["/orders"] = (302, {"Location": "http://10.255.255.1:9/steal"}, [])
    with pytest.raises(ConnectorError) as err:
        read_source(cfg, allowed_hosts="127.0.0.1,localhost")
    assert err.value.kind == "not_allowed"


def test_next_page_link_to_another_host_carries_no_query_key(servers):
    other = servers()
    api = servers({"/orders": (200, {}, {"data": [{"id": 1}],
                                         "next": f"http://localhost:{other.server_port}/orders2"})})
    other.routes["/orders2"] = (200, {}, {"data": [{"id": 2}], "next": None})
    cfg = {"source_name": "Paged API", "source_type": "rest_api",
           "connection_config": {"base_url": f"http://127.0.0.1:{api.server_port}", "endpoints": ["orders"],
                                 "records_path": "data", "pagination": {"type": "next_link", "next_path": "next"}},
           "authentication_config": {"type": "query", "param": "api_key", "value": TOKEN}}
    table = read_source(cfg, allowed_hosts="127.0.0.1,localhost")
    assert table.rows_read == 2 and api.seen[0]["query"]["api_key"] == [TOKEN]
    assert "api_key" not in other.seen[0]["query"]


def test_object_store_options_cannot_read_local_files_or_borrow_the_hubs_cloud_identity():
    assert storage_options("S", "s3", {}, {}, ())["anon"] is True  # no key given: anonymous, never ~/.aws
    assert storage_options("S", "gs", {}, {}, ())["token"] == "anon"
    assert "anon" not in storage_options("S", "s3", {}, {"key": "k", "secret": "s"}, ())
    for protocol, options, secrets in (("s3", {"profile": "default"}, {}), ("gs", {}, {"token": "/root/key.json"}),
                                       ("az", {"account_host": "evil.example.com"}, {}),
                                       ("az", {}, {"connection_string": "BlobEndpoint=http://10.0.0.5/;x=y"})):
        with pytest.raises(ConnectorError) as err:
            storage_options("S", protocol, options, secrets, ("127.0.0.1",))
        assert err.value.kind == "not_allowed"
