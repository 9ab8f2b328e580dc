"""Per-key rate limits: a token bucket per API key (in this process).

Each key may send ``requests`` per ``seconds`` with bursts up to ``requests``
(the token bucket of RFC 2697-style policers; the same shape as GitHub's and
Stripe's per-key limits). A refused request gets 429 with ``Retry-After``:
the whole seconds until one token is back. Every answer carries
``RateLimit-Limit`` and ``RateLimit-Remaining`` (IETF draft "RateLimit header
fields for HTTP").
"""

from __future__ import annotations

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
