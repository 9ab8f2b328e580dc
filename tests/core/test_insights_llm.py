"""The OpenAI-compatible narrative provider against a real chat-completions server on 127.0.0.1: its rephrasing is
kept only while every number is a computed figure; failures keep the template; off unless configured; held to the
host allow-list."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aihub.errors import ConnectorError, ValidationError
from aihub.insights import generate_insights
from aihub.insights.llm import ChatCompletionsProvider, provider_from_env
from tests.fixtures import NOW, _inputs


class ChatServer:
    """A chat-completions endpoint whose answer is ``reply(user_message)``; records every request it got."""

    def __init__(self, reply) -> None:
        outer = self
        self.requests: list[dict] = []
        self.reply = reply

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                status, payload = outer.reply(body["messages"][-1]["content"])
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(text: str) -> tuple[int, dict]:
    return 200, {"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def _finding(user_message: str) -> str:
    return user_message.split("Finding: ", 1)[1].split("\nFigures", 1)[0]


def test_faithful_rephrasing_is_kept_and_the_request_is_openai_shaped():
    with ChatServer(lambda msg: completion("In short: " + _finding(msg))) as srv:
        provider = ChatCompletionsProvider(srv.base_url, "local-model", "sk-test", allowed_hosts=["127.0.0.1"])
        out = generate_insights(_inputs(), now=NOW, provider=provider)
    assert out and all(i.narrative_source == "provider" and i.narrative.startswith("In short: ") for i in out)
    first = srv.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert first["body"]["model"] == "local-model" and first["body"]["messages"][0]["role"] == "system"
    assert "Figures (keep them exactly)" in first["body"]["messages"][1]["content"]


def test_a_changed_number_keeps_the_template():
    with ChatServer(lambda msg: completion("Revenue fell by 99.9% (made up).")) as srv:
        provider = ChatCompletionsProvider(srv.base_url, "m", allowed_hosts=["127.0.0.1"])
        plain = generate_insights(_inputs(), now=NOW)
        out = generate_insights(_inputs(), now=NOW, provider=provider)
    assert [i.narrative for i in out] == [i.narrative for i in plain]
    assert all(i.narrative_source == "template" for i in out) and srv.requests


@pytest.mark.parametrize("reply", [lambda m: (500, {"error": "boom"}), lambda m: (200, {"choices": []}),
                                   lambda m: completion("")])
def test_a_failing_server_keeps_the_template(reply):
    with ChatServer(reply) as srv:
        provider = ChatCompletionsProvider(srv.base_url, "m", allowed_hosts=["127.0.0.1"], timeout=5)
        out = generate_insights(_inputs(), now=NOW, provider=provider)
    assert out and all(i.narrative_source == "template" for i in out)


def test_nothing_listening_keeps_the_template():
    provider = ChatCompletionsProvider("http://127.0.0.1:9/v1", "m", allowed_hosts=["127.0.0.1:9"], timeout=2)
    assert all(i.narrative_source == "template" for i in generate_insights(_inputs(), now=NOW, provider=provider))


def test_off_by_default_and_configured_from_the_environment(monkeypatch):
    for name in ("AIHUB_LLM_BASE_URL", "AIHUB_LLM_MODEL", "AIHUB_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert provider_from_env() is None
    monkeypatch.setenv("AIHUB_LLM_BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("AIHUB_ALLOWED_HOSTS", "127.0.0.1")
    with pytest.raises(ValidationError) as err:
        provider_from_env()
    assert err.value.field == "AIHUB_LLM_MODEL"
    monkeypatch.setenv("AIHUB_LLM_MODEL", "llama")
    assert provider_from_env().url == "http://127.0.0.1:8080/v1/chat/completions"


def test_the_host_must_be_on_the_allow_list():
    with pytest.raises(ConnectorError) as err:
        ChatCompletionsProvider("https://llm.example.com/v1", "m", allowed_hosts=["127.0.0.1"])
    assert err.value.kind == "not_allowed"
    with pytest.raises(ConnectorError):
        ChatCompletionsProvider("file:///etc/passwd", "m", allowed_hosts=["*"])
