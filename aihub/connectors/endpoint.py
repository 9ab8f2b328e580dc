"""Calls to an external scoring endpoint: allow-list, timeouts, retries with back-off, a circuit breaker.

One :func:`post_json` is one *call*: up to ``1 + retries`` HTTP attempts.

* **Allow-list.** The URL's host is checked against ``AIHUB_ALLOWED_HOSTS``
  (:func:`aihub.connectors.policy.check_url_allowed`, the rule REST sources and
  webhooks follow) before every call, so an operator removing a host stops the
  next call; nothing is sent to a refused host. Redirects are not followed:
  a 3xx answer is a failure that names the target, so an allowed host cannot
  bounce a call (and its auth header) elsewhere.
* **Timeouts.** Separate connect and read limits (httpx).
* **Retries** only after a timeout or a 5xx answer, waiting
  ``backoff * 2**(attempt-1)`` seconds times a random factor in [0.5, 1.5)
  ("equal jitter"; AWS Architecture Blog, "Exponential Backoff And Jitter",
  2015), capped at :data:`MAX_BACKOFF_SECONDS`. A 4xx, a refused connection
  or a bad answer fails at once.
* **Circuit breaker** per endpoint key (the hub uses the tenant and version):
  after ``failures`` consecutive failed calls it *opens* and refuses calls
  without sending anything for ``cooldown`` seconds; then it is *half-open* and
  lets one trial call through: success closes it, failure opens it again.
  The state is per process (each app, API or worker process learns it on its own).

No library is used for the retries or the breaker: the two small classes here
are the whole behaviour, tested directly (``tests/core/test_external_endpoint.py``).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from aihub.connectors.policy import check_url_allowed
from aihub.connectors.secrets import scrub
from aihub.errors import ConnectorError

#: Longest wait between two attempts (seconds).
MAX_BACKOFF_SECONDS = 10.0
#: Largest answer read (bytes).
MAX_RESPONSE_BYTES = 50_000_000
_USER_AGENT = "aihub-external-model/1"


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures -> half-open after ``cooldown`` seconds.

    Parameters
    ----------
    failures : int
        Consecutive failed calls that open the circuit (>= 1).
    cooldown : float
        Seconds the circuit stays open before one trial call.
    clock : callable
        Monotonic time in seconds (tests pass their own).
    """

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.cooldown, self.clock = max(1, int(failures)), float(cooldown), clock
        self.consecutive = 0
        self.opened_at: float | None = None
        self.trial_running = False
        self.last_error: str | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``."""
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.cooldown else "open"

    def retry_in(self) -> float:
        """Seconds until the open circuit lets a trial call through (0 when it does now)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self.clock() - self.opened_at))

    def allow(self) -> bool:
        """Whether a call may go now (a half-open circuit lets exactly one through at a time)."""
        with self._lock:
            state = self.state
            if state == "closed":
                return True
            if state == "half_open" and not self.trial_running:
                self.trial_running = True
                return True
            return False

    def success(self) -> None:
        """A call succeeded: the circuit closes."""
        with self._lock:
            self.consecutive, self.opened_at, self.trial_running, self.last_error = 0, None, False, None

    def failure(self, reason: str) -> None:
        """A call failed: count it; open (again) at the threshold or after a failed trial."""
        with self._lock:
            self.consecutive += 1
            self.last_error = reason
            if self.trial_running or self.consecutive >= self.failures:
                self.opened_at = self.clock()
            self.trial_running = False


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker(key: str, failures: int, cooldown: float) -> CircuitBreaker:
    """The process's breaker of ``key`` (created on first use with these limits)."""
    with _breakers_lock:
        b = _breakers.get(key)
        if b is None or (b.failures, b.cooldown) != (max(1, int(failures)), float(cooldown)):
            b = _breakers[key] = CircuitBreaker(failures, cooldown)
        return b


def forget_breakers() -> None:
    """Drop every breaker (tests)."""
    with _breakers_lock:
        _breakers.clear()


@dataclass
class CallStats:
    """What one :func:`post_json` cost: attempts, seconds and the errors of failed attempts."""

    attempts: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    """Timeouts (s), retries, first back-off (s) and the breaker's threshold and cool-down (s)."""

    connect_timeout: float = 2.0
    read_timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.2
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0


def backoff_wait(attempt: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): ``base * 2**(attempt-1)`` x U[0.5, 1.5), capped."""
    r = (rng or random).random()
    return min(base * 2 ** (attempt - 1) * (0.5 + r), MAX_BACKOFF_SECONDS)


def post_json(url: str, body: Any, *, name: str, key: str, limits: Limits, headers: Mapping[str, str] | None = None,
              allowed_hosts: Sequence[str], secrets: Mapping[str, Any] | None = None,
              sleep: Callable[[float], None] = time.sleep, stats: CallStats | None = None) -> Any:
    """POST ``body`` as JSON to ``url`` and return the decoded JSON answer.

    Parameters
    ----------
    url : str
        http(s) URL whose host is on ``allowed_hosts``.
    body : JSON-able
    name : str
        What to call the endpoint in messages ("model 'Churn' version 3").
    key : str
        The circuit breaker's key.
    limits : Limits
    headers : mapping, optional
        Extra headers (the auth header).
    allowed_hosts : sequence of str
        Normalised allow-list (:func:`aihub.connectors.policy.parse_allowed_hosts`).
    secrets : mapping, optional
        Values masked in every message.
    sleep, stats :
        For tests; ``stats`` is filled with the attempts made.

    Returns
    -------
    Any
        The answer's JSON.

    Raises
    ------
    ConnectorError
        ``not_allowed`` (host not on the list; nothing sent), ``timeout``,
        ``http_error`` (5xx after the retries, 4xx, a redirect, or the
        circuit is open), ``auth`` (401/403), ``refused``, ``bad_data`` (not
        JSON). The message names the endpoint and says what to do.
    """
    stats = stats if stats is not None else CallStats()
    check_url_allowed(url, allowed_hosts, source=name, what="call to the external model")
    b = breaker(key, limits.breaker_failures, limits.breaker_cooldown)
    if not b.allow():
        raise ConnectorError(
            f"{name}: the circuit is open after {b.consecutive} failed calls in a row (last: {b.last_error}); "
            f"no call is made for {b.retry_in():.0f} more seconds, then one trial call. Check the endpoint.",
            kind="http_error", details={"source": name, "circuit": "open", "retry_in": round(b.retry_in(), 1)})
    content = json.dumps(body, separators=(",", ":"), default=str).encode()
    t0 = time.perf_counter()
    try:
        result = _attempts(url, content, name, limits, dict(headers or {}), sleep, stats)
    except Exception as exc:  # noqa: BLE001 - every failure counts for the breaker (a trial call must end)
        stats.seconds = time.perf_counter() - t0
        if not isinstance(exc, ConnectorError):
            exc = ConnectorError(f"{name}: the call failed ({type(exc).__name__}: {exc}).", kind="http_error",
                                 details={"source": name})
        message = scrub(str(exc), secrets)
        b.failure(message)
        raise ConnectorError(message, kind=exc.kind, details={**exc.details, "attempts": stats.attempts,
                                                                "errors": [scrub(e, secrets) for e in stats.errors]}
                             ) from None
    stats.seconds = time.perf_counter() - t0
    b.success()
    return result


_clients: dict[tuple[float, float], httpx.Client] = {}


def _no_cookies() -> CookieJar:
    """A jar that keeps no cookie: the pooled client serves every tenant, so a cookie one endpoint sets must
    never ride along on another tenant's call."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def _client(limits: Limits) -> httpx.Client:
    """One pooled client per pair of timeouts (building one costs tens of milliseconds: its TLS context),
    shared by every tenant and version: it keeps no cookies and sends only the headers each call gives."""
    key = (limits.connect_timeout, limits.read_timeout)
    with _breakers_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = httpx.Client(
                timeout=httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout), follow_redirects=False,
                trust_env=False, headers={"User-Agent": _USER_AGENT}, cookies=_no_cookies())
        return client


def _attempts(url: str, content: bytes, name: str, limits: Limits, headers: dict[str, str],
              sleep: Callable[[float], None], stats: CallStats) -> Any:
    client, host = _client(limits), httpx.URL(url).host
    for attempt in range(1, limits.retries + 2):
        stats.attempts = attempt
        retryable, error = _one(client, url, content, headers, name, host)
        if error is None:
            return retryable  # the decoded answer
        stats.errors.append(f"attempt {attempt}: {error}")
        if not retryable or attempt > limits.retries:
            raise error
        sleep(backoff_wait(attempt, limits.backoff))
    raise AssertionError("unreachable")  # pragma: no cover


def _one(client: httpx.Client, url: str, content: bytes, headers: dict[str, str], name: str, host: str
         ) -> tuple[Any, ConnectorError | None]:
    """One attempt: ``(answer, None)``, or ``(retryable, error)``."""
    details = {"source": name, "host": host}
    try:
        response = client.post(url, content=content, headers={**headers, "Content-Type": "application/json",
                                                              "Accept": "application/json"})
    except httpx.TimeoutException as exc:
        phase = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for the answer"
        return True, ConnectorError(f"{name}: {host} did not answer in time ({phase}). Try again later, or raise "
                                    "calls.read_timeout_seconds.", kind="timeout", details=details)
    except httpx.TransportError as exc:
        return False, ConnectorError(f"{name}: cannot connect to {host} ({type(exc).__name__}). Check the URL's host "
                                     "and port and that the scoring server runs.", kind="refused", details=details)
    status = response.status_code
    if 300 <= status < 400:
        return False, ConnectorError(
            f"{name}: {host} answered with a redirect (HTTP {status} to {response.headers.get('location', '?')}); "
            "redirects are not followed. Register the final URL.", kind="http_error",
            details={**details, "status": status})
    if status in (401, 403):
        return False, ConnectorError(f"{name}: {host} refused the auth header (HTTP {status}). Register the version "
                                     "again with a valid auth header.", kind="auth", details={**details, "status": status})
    if status >= 400:
        excerpt = response.text[:200].strip()
        hint = "the server failed; try again later" if status >= 500 else "check the input mapping"
        return status >= 500, ConnectorError(
            f"{name}: {host} answered HTTP {status}" + (f" ({excerpt})" if excerpt else "") + f"; {hint}.",
            kind="http_error", details={**details, "status": status})
    if len(response.content) > MAX_RESPONSE_BYTES:
        return False, ConnectorError(f"{name}: the answer is over {MAX_RESPONSE_BYTES:,} bytes.", kind="bad_data",
                                     details=details)
    try:
        return response.json(), None
    except ValueError:
        return False, ConnectorError(f"{name}: the answer is not JSON ({response.headers.get('content-type', '?')}). "
                                     "Check that the URL is the scoring endpoint.", kind="bad_data", details=details)
