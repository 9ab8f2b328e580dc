"""The FastAPI application: ``create_app()`` builds it, ``aihub api`` serves it with uvicorn.

Everything lives under ``/api/v1``: the OpenAPI 3.1 document at
``/api/v1/openapi.json``, interactive docs at ``/api/v1/docs``. Routes are
thin: they parse the request, call the same service functions as the screens
with the caller's :class:`~aihub.auth.Principal`, and shape the answer; the
services check permissions and run under the tenant's row-level security.
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aihub import __version__, apikeys
from aihub.api import problems
from aihub.api.middleware import RequestIdMiddleware
from aihub.api.ratelimit import make_limiter
from aihub.api.settings import PREFIX, ApiSettings, load_api_settings
from aihub.runtime.wiring import wire

log = logging.getLogger("aihub.api")

#: Seconds between writes of the keys' request counts and last-used times.
USAGE_FLUSH_SECONDS = 5.0

DESCRIPTION = """The AI Analytics Hub's REST API: datasets, models and jobs, predictions with reasons, forecasts,
anomaly monitors and triage, insights, workflows and the dashboard's figures, for your organization.

Authenticate with an API key of your organization: `Authorization: Bearer aihub_...` (Admin screen or
`aihub api-keys create`). A key acts within its scopes (`ai_analytics:*`) and the role of the admin who made it.
Errors are RFC 9457 `application/problem+json`. Lists are newest first with cursor pagination (`cursor`,
`limit`, `next_cursor`). Long work answers `202 Accepted` with a job to poll. POSTs that create things honour
`Idempotency-Key`. Every response carries `X-Request-ID`.
"""


class _UsageFlusher:
    """Writes the keys' request counts every few seconds on a daemon thread, and once more at shutdown."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aihub-api-usage", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            apikeys.flush_usage()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 1)
        apikeys.flush_usage()


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the API application.

    Parameters
    ----------
    settings : ApiSettings, optional
        Defaults to :func:`aihub.api.settings.load_api_settings` (``AIHUB_API_*``).
    """
    from aihub.api.routers import ROUTERS

    settings = settings or load_api_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        wire()
        flusher = _UsageFlusher(USAGE_FLUSH_SECONDS)
        flusher.start()
        try:
            yield
        finally:
            flusher.stop()

    app = FastAPI(title="AI Analytics Hub API", version=__version__, description=DESCRIPTION,
                  openapi_url=f"{PREFIX}/openapi.json", docs_url=f"{PREFIX}/docs", redoc_url=None,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.limiter = make_limiter(settings.rate_requests, settings.rate_seconds)
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router, prefix=PREFIX)
    app.add_middleware(RequestIdMiddleware)
    return app
