"""Per-key rate limits: a token bucket per API key, in this process or shared through Redis.

Each key may send ``requests`` per ``seconds`` with bursts up to ``requests``
(the token bucket of RFC 2697-style policers; the same shape as GitHub's and
Stripe's per-key limits). A refused request gets 429 with ``Retry-After``:
the whole seconds until one token is back. Every answer carries
``RateLimit-Limit`` and ``RateLimit-Remaining`` (IETF draft "RateLimit header
fields for HTTP").

With ``AIHUB_REDIS_URL`` set, :func:`make_limiter` keeps the buckets in Redis
(:class:`RedisTokenBucketLimiter`, one atomic Lua script per request), so
every API process counts against the same bucket; without it each process
keeps its own (:class:`TokenBucketLimiter`). Same interface either way.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """Whether a request may pass, how many tokens remain, and the wait in seconds if not."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class TokenBucketLimiter:
    """Token buckets keyed by API key id.

    Parameters
    ----------
    requests : int
        Bucket size and tokens added per ``seconds``.
    seconds : float
        The refill window in seconds.
    clock : callable, optional
        Monotonic time source (tests pass their own).
    """

    def __init__(self, requests: int, seconds: float, clock=time.monotonic) -> None:
        if requests < 1 or seconds <= 0:
            raise ValueError("a rate limit needs requests >= 1 and seconds > 0")
        self.requests, self.seconds, self.clock = requests, seconds, clock
        self.rate = requests / seconds
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: int) -> Decision:
        """Take one token from ``key``'s bucket if there is one."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.requests), now))
            tokens = min(float(self.requests), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                tokens -= 1.0
                self._buckets[key] = (tokens, now)
                return Decision(True, self.requests, int(tokens), 0)
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
            return Decision(False, self.requests, 0, max(1, math.ceil(wait)))


# ====================================================================== shared through Redis
#: One token bucket per key in a Redis hash (tokens, last refill time), refilled and taken in one atomic
#: script on the server's own clock (``TIME``), so every API process shares the bucket and their clocks
#: never disagree. The hash expires once a full bucket would have refilled.
_BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = cap; ts = now end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 1)
return {allowed, tostring(tokens)}
"""


class RedisTokenBucketLimiter:
    """The same token bucket per API key, kept in Redis so several API processes share it.

    When Redis fails (down, timeout), the request is decided by this process's own
    :class:`TokenBucketLimiter` instead: the API stays up and every key is still limited, per process (with N
    API processes a key may get up to N times its limit until Redis is back). A warning is logged at most
    once a minute. Failing closed (refusing every request) would turn a cache outage into an API outage;
    failing fully open would drop the limit.

    Parameters
    ----------
    requests, seconds
        As for :class:`TokenBucketLimiter`.
    url : str
        The Redis URL (``AIHUB_REDIS_URL``).
    prefix : str
        Key prefix (``AIHUB_REDIS_PREFIX``); keys are ``<prefix>:ratelimit:<api key id>``.
    """

    def __init__(self, requests: int, seconds: float, url: str, prefix: str = "aihub") -> None:
        self.local = TokenBucketLimiter(requests, seconds)
        self.requests, self.seconds, self.url, self.prefix = requests, seconds, url, prefix
        self._script = None
        self._warned = 0.0

    def hit(self, key: int) -> Decision:
        """Take one token from ``key``'s shared bucket (this process's own bucket while Redis fails)."""
        from aihub.sharedstate import redis_client

        try:
            client = redis_client(self.url)
            if self._script is None:
                self._script = client.register_script(_BUCKET_SCRIPT)
            allowed, tokens = self._script(keys=[f"{self.prefix}:ratelimit:{int(key)}"],
                                           args=[self.requests, self.requests / self.seconds], client=client)
        except Exception as exc:  # noqa: BLE001 - any Redis failure: limit in this process
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                logging.getLogger(__name__).warning(
                    "Redis at AIHUB_REDIS_URL failed (%s); rate limits are kept per API process until it is back",
                    exc)
            return self.local.hit(key)
        left = float(tokens)
        if int(allowed) == 1:
            return Decision(True, self.requests, int(left), 0)
        wait = (1.0 - left) / (self.requests / self.seconds)
        return Decision(False, self.requests, 0, max(1, math.ceil(wait)))


def make_limiter(requests: int, seconds: float) -> TokenBucketLimiter | RedisTokenBucketLimiter:
    """The API's limiter: shared through Redis when ``AIHUB_REDIS_URL`` is set, else in this process."""
    from aihub.sharedstate import key_prefix, redis_url

    url = redis_url()
    if url is None:
        return TokenBucketLimiter(requests, seconds)
    return RedisTokenBucketLimiter(requests, seconds, url, key_prefix())
