"""A real API server for the tests: uvicorn on 127.0.0.1 serving :func:`aihub.api.create_app`, on PostgreSQL.

The server runs in a thread of the test process, so it uses the process-wide
database that ``server_database`` installs (the local PostgreSQL server), and
clients talk to it over real HTTP with httpx.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn

from aihub import apikeys
from aihub.auth import PERMISSIONS
from tests.conftest import new_tenant


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a daemon thread."""

    def __init__(self, app) -> None:
        self.app = app
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:  # noqa: PYI034
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_api(_server_database_session):
    """The API served on a free port of 127.0.0.1 for the whole session."""
    from aihub.api.app import create_app
    from aihub.api.settings import ApiSettings

    with LiveServer(create_app(ApiSettings(rate_requests=100_000, rate_seconds=60))) as server:
        yield server


@pytest.fixture
def api(server_database, live_api) -> LiveServer:
    """The live API, with the local-server database installed for this test."""
    return live_api


def make_key(principal, scopes=PERMISSIONS, *, expires_at: datetime | None = None, name: str = "test") -> str:
    """A new API key of ``principal``'s organization; returns the token."""
    return apikeys.create_key(principal, name, list(scopes), expires_at=expires_at)[1]


def client(api: LiveServer, token: str | None) -> httpx.Client:
    """An httpx client of the live API sending ``token`` as its bearer key."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=api.url + "/api/v1", headers=headers, timeout=60)


@pytest.fixture
def org_a(api):
    return new_tenant("api-a")


@pytest.fixture
def org_b(api):
    return new_tenant("api-b")


def soon(hours: float = 1) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
