"""External model endpoints: held to the hosts allow-list, confined to their tenant, their secret never shown.

Threats: an analyst registers an endpoint on a host the operator did not allow (an internal service) or one
that later leaves the list; an allowed endpoint redirects the call (and its auth header) elsewhere; another
organization uses or reads the version; the auth header leaks through logs, records or messages. Each runs
against a real scoring server on 127.0.0.1.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from aihub.connectors import endpoint
from aihub.errors import ConnectorError, NotFound, ValidationError
from aihub.services import external_models, model_cache, model_training, predictions, registry
from tests.conftest import new_tenant
from tests.fixtures import SCORING_TOKEN, telco_world


@pytest.fixture
def org(server_database):
    endpoint.forget_breakers()
    model_cache.forget()
    return new_tenant("extsec")


def _values(frame, features, i=0):
    return {f: frame.iloc[i][f] for f in features}


def test_a_host_off_the_allow_list_is_refused_at_save_and_before_each_call(org, monkeypatch):
    ds, frame, features, _, server, cfg = telco_world(org, monkeypatch)
    try:
        monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "scoring.example.com")
        with pytest.raises(ValidationError) as caught:
            external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN, model_name="blocked")
        assert caught.value.field == "url" and "allow-list" in str(caught.value)
        assert not registry.list_models(org) and server.calls == 0

        monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
        version = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN, model_name="ok")
        registry.deploy(org, version.model_id, version.id)
        predictions.predict_one(org, version.model_id, _values(frame, features), explain=False)
        calls = server.calls
        monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "scoring.example.com")  # the operator removes the host
        with pytest.raises(ConnectorError) as refused:
            predictions.predict_one(org, version.model_id, _values(frame, features, 1), explain=False)
        assert refused.value.kind == "not_allowed" and server.calls == calls  # nothing was sent
        assert "allow-list" in predictions.list_predictions(org, version.model_id, limit=1)[0].error
    finally:
        server.shutdown()


class _Redirect(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.server.seen.append(dict(self.headers))
        self.send_response(307)
        self.send_header("Location", self.server.target)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_redirect_is_not_followed_so_the_auth_header_stays_put(org, monkeypatch):
    ds, frame, features, _, server, cfg = telco_world(org, monkeypatch)
    bouncer = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    bouncer.seen, bouncer.target = [], f"http://127.0.0.1:{server.server_port}/invocations"
    threading.Thread(target=bouncer.serve_forever, daemon=True).start()
    try:
        cfg["url"] = f"http://127.0.0.1:{bouncer.server_port}/invocations"
        version = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN, model_name="bounce")
        registry.deploy(org, version.model_id, version.id)
        with pytest.raises(ConnectorError, match="redirects are not followed"):
            predictions.predict_one(org, version.model_id, _values(frame, features), explain=False)
        assert len(bouncer.seen) == 1 and server.calls == 0
    finally:
        bouncer.shutdown()
        server.shutdown()


def test_another_tenant_can_neither_use_nor_see_the_version(org, monkeypatch):
    ds, frame, features, _, server, cfg = telco_world(org, monkeypatch)
    other = new_tenant("extsec-b")
    try:
        version = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN, model_name="mine")
        registry.deploy(org, version.model_id, version.id)
        for attempt in (
            lambda: predictions.predict_one(other, version.model_id, _values(frame, features), explain=False),
            lambda: registry.get_version(other, version.id),
            lambda: model_training.version_details(other, version.id),
            lambda: external_models.circuit(other, version.id),
            lambda: external_models.register(other, cfg, dataset_id=ds, auth_header="x", model_id=version.model_id),
            lambda: registry.set_challenger(other, version.model_id, version.id, 0.5),
        ):
            with pytest.raises(NotFound):
                attempt()
        assert server.calls == 0
        assert all(m.id != version.model_id for m in registry.list_models(other))
        with pytest.raises(NotFound):  # nor serve it from this process's cache of models
            model_cache.load(other.tenant_id, version.id)
    finally:
        server.shutdown()


def test_the_auth_header_never_appears_in_records_messages_or_logs(org, monkeypatch, caplog, server_database):
    caplog.set_level(logging.DEBUG)
    ds, frame, features, _, server, cfg = telco_world(org, monkeypatch, calls={"retries": 0, "breaker_failures": 9})
    try:
        version = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN, model_name="secret")
        registry.deploy(org, version.model_id, version.id)
        ok = predictions.predict_one(org, version.model_id, _values(frame, features), explain=True)
        assert server.headers_seen["Authorization"] == SCORING_TOKEN  # it is sent ...
        wrong = external_models.register(org, cfg, dataset_id=ds, auth_header=SCORING_TOKEN + "x",
                                         model_id=version.model_id)
        registry.deploy(org, version.model_id, wrong.id)
        with pytest.raises(ConnectorError) as refused:
            predictions.predict_one(org, version.model_id, _values(frame, features), explain=False)
        assert refused.value.kind == "auth"
        token = SCORING_TOKEN.split()[-1]
        shown = [str(ok), str(ok.output), str(refused.value), str(refused.value.details), caplog.text,
                 str(registry.get_version(org, version.id)), str(model_training.version_details(org, wrong.id)),
                 str(predictions.list_predictions(org, version.model_id)), repr(model_cache.load(org.tenant_id,
                                                                                           version.id))]
        assert not [s for s in shown if token in s]  # ... and never shown
        with server_database.owner.connect() as conn:  # nor stored in clear
            rows = conn.execute(sa.text("SELECT artifact, config::text, params::text FROM model_versions "
                                        "WHERE model_id = :m"), {"m": version.model_id}).all()
        assert rows and not [r for r in rows if token.encode() in bytes(r[0]) or token in r[1] + r[2]]
    finally:
        server.shutdown()


class _Cookies(BaseHTTPRequestHandler):
    """Sets a session cookie on every answer and records the Cookie header each request brings."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append(self.headers.get("Cookie"))
        body = b'{"predictions": [0.5]}'
        self.send_response(200)
        self.send_header("Set-Cookie", "session=tenant-a-session; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_shared_http_client_carries_no_cookie_from_one_call_to_the_next():
    """Calls of every tenant share one pooled client: a cookie set by an answer must not ride along."""
    endpoint.forget_breakers()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Cookies)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/score"
        for key in ("tenant-a", "tenant-b", "tenant-b"):
            endpoint.post_json(url, {"rows": []}, name=key, key=key, limits=endpoint.Limits(),
                               allowed_hosts=["127.0.0.1"])
        assert server.seen == [None, None, None]
    finally:
        server.shutdown()
