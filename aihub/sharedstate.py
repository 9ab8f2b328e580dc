"""State several hub processes share: the Redis server named by ``AIHUB_REDIS_URL``, if any.

With ``AIHUB_REDIS_URL`` set (``redis://host:6379/0``, ``rediss://`` for TLS, a password in the URL), the
prediction cache (:mod:`aihub.services.model_cache`) and the API's per-key rate limits
(:mod:`aihub.api.ratelimit`) live in Redis, so every app, API and worker process sees the same entries and
counters. Without it, each process keeps its own in memory.

Keys are prefixed with ``AIHUB_REDIS_PREFIX`` (default ``aihub``), so several hubs (or test runs) can share
one Redis server. Calls use short socket timeouts (``AIHUB_REDIS_TIMEOUT`` seconds, default 0.25): a Redis
server that is down or slow costs a request a quarter of a second at most, and its callers decide what a
failure means (the cache misses; see :mod:`aihub.api.ratelimit` for the limits).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[tuple[str, float], Any] = {}
_lock = threading.Lock()


def redis_url() -> str | None:
    """``AIHUB_REDIS_URL`` (None when unset or blank: state stays in process)."""
    return (os.environ.get("AIHUB_REDIS_URL") or "").strip() or None


def key_prefix() -> str:
    """Prefix of every key the hub writes (``AIHUB_REDIS_PREFIX``, default ``aihub``)."""
    return (os.environ.get("AIHUB_REDIS_PREFIX") or "aihub").strip() or "aihub"


def redis_client(url: str | None = None) -> Any | None:
    """A pooled redis-py client for ``url`` (default :func:`redis_url`), or None without a URL.

    One client (and connection pool) per URL and process. Connecting is lazy: a server that is down
    raises ``redis.exceptions.ConnectionError`` at the first command, never here.
    """
    url = url or redis_url()
    if url is None:
        return None
    timeout = float(os.environ.get("AIHUB_REDIS_TIMEOUT") or 0.25)
    with _lock:
        client = _clients.get((url, timeout))
        if client is None:
            import redis

            client = _clients[(url, timeout)] = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30)
        return client
