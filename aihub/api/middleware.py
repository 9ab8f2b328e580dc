"""Pure ASGI middleware: a request id for every request, and one log line per request.

The id is the client's ``X-Request-ID`` when it is a sane token (1 to 100 of
``A-Za-z0-9._-``), else a new UUID4; it is echoed in the response header, set
in :data:`aihub.api.context.request_id_var` for log records and problem
bodies, and printed in the access line ``request_id=... GET /path 200 3.1ms``
of the ``aihub.api.access`` logger.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aihub.api.context import request_id_var

access_log = logging.getLogger("aihub.api.access")
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class RequestIdMiddleware:
    """Attach a request id and log each request with its status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), "")
        rid = given if _ID_RE.match(given) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        status = [500]
        t0 = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                extra = [(b"x-request-id", rid.encode())]
                limit = scope["state"].get("ratelimit")
                if limit is not None:
                    extra += [(b"ratelimit-limit", str(limit.limit).encode()),
                              (b"ratelimit-remaining", str(limit.remaining).encode())]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info("request_id=%s %s %s %s %.1fms key=%s", rid, scope.get("method"), scope.get("path"),
                            status[0], (time.perf_counter() - t0) * 1000,
                            scope.get("state", {}).get("api_key_id", "-"))
            request_id_var.reset(token)
