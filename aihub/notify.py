"""Outbound notifications: signed webhooks over httpx and e-mail through the configured SMTP server.

Webhooks
--------
:func:`send_webhook` POSTs a JSON body and signs it so the receiver can tell
the hub sent it and nothing changed on the way:

=========================  ===================================================
header                     value
=========================  ===================================================
``X-AIHub-Signature``      ``sha256=<hex HMAC-SHA256 of the raw body>``, keyed
                           with the workflow step's secret
``X-AIHub-Timestamp``      Unix seconds when this attempt was sent
``X-AIHub-Event``          the event that started the run (``anomaly_detected``
                           ...)
``X-AIHub-Delivery``       id of the delivery, the same on every retry, so a
                           receiver can drop duplicates
=========================  ===================================================

The body carries ``sent_at`` as well, so the time is covered by the
signature. A receiver verifies with::

    expected = "sha256=" + hmac.new(secret, raw_body, hashlib.sha256).hexdigest()
    hmac.compare_digest(expected, request.headers["X-AIHub-Signature"])

The destination host must be on the hub's allow-list (``AIHUB_ALLOWED_HOSTS``,
shared with the data-source connectors; see :mod:`aihub.connectors.rest`). The
check runs before any request, so a refused host sees no traffic. Redirects
are not followed (a redirect could leave the allow-list). Connection errors,
time-outs, HTTP 429 and 5xx answers are retried with exponential back-off
(``backoff * 2**(attempt - 1)`` seconds, capped at :data:`MAX_BACKOFF_SECONDS`,
at most :data:`MAX_ATTEMPTS` attempts); other 4xx answers are not retried.

E-mail
------
:func:`send_email` sends plain-text mail through the SMTP server in the
environment (:class:`SmtpSettings`):

======================  ========================================================
variable                meaning
======================  ========================================================
``AIHUB_SMTP_HOST``     server host name; unset means e-mail is not configured
``AIHUB_SMTP_PORT``     port (587; 465 with ``AIHUB_SMTP_TLS=ssl``)
``AIHUB_SMTP_USER``     login user (optional)
``AIHUB_SMTP_PASSWORD`` its password (kept in the environment, never stored)
``AIHUB_SMTP_FROM``     sender address (default: the user, else ``aihub@<host>``)
``AIHUB_SMTP_TLS``      ``auto`` (STARTTLS when the server offers it, the
                        default), ``starttls`` (required), ``ssl`` (implicit
                        TLS) or ``none``
``AIHUB_SMTP_TIMEOUT``  seconds per network operation (20)
======================  ========================================================

With ``auto``, a password is never sent over a connection the server did not
encrypt: set ``AIHUB_SMTP_TLS=none`` explicitly to allow that (a relay on
localhost, for instance).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import smtplib
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx

from aihub.connectors.rest import check_url_allowed, parse_allowed_hosts
from aihub.errors import AihubError, ConnectorError, ValidationError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-AIHub-Signature"
TIMESTAMP_HEADER = "X-AIHub-Timestamp"
EVENT_HEADER = "X-AIHub-Event"
DELIVERY_HEADER = "X-AIHub-Delivery"
USER_AGENT = "aihub-webhook/1"
#: Upper bounds on a webhook delivery, whatever a workflow asks for.
MAX_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 30.0
MAX_BODY_BYTES = 256 * 1024
TLS_MODES = ("auto", "starttls", "ssl", "none")
MAX_RECIPIENTS = 20
_EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_RESERVED_HEADERS = {h.lower() for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER, EVENT_HEADER, DELIVERY_HEADER,
                                         "content-type", "content-length", "host", "user-agent")}


class DeliveryError(AihubError):
    """A webhook or e-mail could not be delivered; the message says where it failed and what to do.

    ``retryable`` is True when trying again later may succeed (no answer, a refused connection, HTTP 429 or
    5xx, an SMTP error that is not a refusal of the login or of the recipients) and False when it cannot
    until someone changes a setting (a redirect, HTTP 4xx, a refused login, no e-mail server configured).
    """

    code = "delivery_failed"

    def __init__(self, message: str, *, retryable: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retryable = retryable


# ============================================================================ webhooks
def sign(body: bytes, secret: str | bytes) -> str:
    """The ``X-AIHub-Signature`` value of ``body``: ``sha256=`` and the hex HMAC-SHA256.

    Parameters
    ----------
    body : bytes
        The raw request body, exactly as sent.
    secret : str or bytes
        The shared secret (UTF-8 when text).
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None, secret: str | bytes) -> bool:
    """Whether ``signature`` is the valid :func:`sign` of ``body`` (constant-time comparison)."""
    return bool(signature) and hmac.compare_digest(sign(body, secret), str(signature))


def webhook_body(payload: Mapping[str, Any], *, sent_at: datetime | None = None) -> bytes:
    """The JSON body sent for ``payload``: compact, keys sorted, with ``sent_at`` added.

    Raises
    ------
    ValidationError
        If the body would exceed :data:`MAX_BODY_BYTES`.
    """
    data = {**payload, "sent_at": (sent_at or datetime.now(UTC)).isoformat()}
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_BODY_BYTES:
        raise ValidationError(f"The webhook body would be {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}.",
                              field="payload")
    return body


@dataclass(frozen=True)
class WebhookResult:
    """A delivered webhook: the receiver's answer and what it took.

    Attributes
    ----------
    status_code : int
        The final (2xx) HTTP status.
    attempts : int
        Requests sent, including the successful one.
    seconds : float
        Wall time including back-off waits.
    delivery_id : str
        Value of ``X-AIHub-Delivery``.
    errors : tuple of str
        Why each earlier attempt failed.
    response_excerpt : str
        The first 500 characters of the answer.
    """

    status_code: int
    attempts: int
    seconds: float
    delivery_id: str
    errors: tuple[str, ...] = ()
    response_excerpt: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as recorded in a workflow step."""
        return {"status_code": self.status_code, "attempts": self.attempts, "seconds": round(self.seconds, 3),
                "delivery_id": self.delivery_id, "errors": list(self.errors),
                "response_excerpt": self.response_excerpt}


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw and raw.strip().isdigit():
        return float(raw.strip())
    return None


def send_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    secret: str,
    event: str = "workflow",
    delivery_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    allowed_hosts: str | Sequence[str] | None = None,
    max_attempts: int = 3,
    backoff_seconds: float = 1.0,
    timeout_seconds: float = 10.0,
    name: str = "webhook",
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookResult:
    """POST ``payload`` as signed JSON to ``url``, retrying transient failures.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` URL whose host is on the allow-list.
    payload : mapping
        JSON-able body (``sent_at`` is added).
    secret : str
        HMAC key for ``X-AIHub-Signature``.
    event : str
        Value of ``X-AIHub-Event``.
    delivery_id : str, optional
        Value of ``X-AIHub-Delivery`` (a random id when None); pass a stable
        one (workflow run and step) so a repeated step is recognisable.
    headers : mapping, optional
        Extra headers (the signature, timestamp, event, delivery and content
        headers cannot be overridden).
    allowed_hosts : str or sequence, optional
        Allow-list entries; None reads ``AIHUB_ALLOWED_HOSTS``.
    max_attempts : int
        1 to :data:`MAX_ATTEMPTS`.
    backoff_seconds : float
        First wait between attempts; doubles each time, capped at
        :data:`MAX_BACKOFF_SECONDS`.
    timeout_seconds : float
        Per-request time limit, at most :data:`MAX_TIMEOUT_SECONDS`.
    name : str
        What to call the destination in messages (the workflow step).
    transport, sleep :
        For tests.

    Returns
    -------
    WebhookResult

    Raises
    ------
    ConnectorError
        Kind ``not_allowed`` when the host is not on the allow-list (nothing
        was sent).
    DeliveryError
        When every attempt failed or the receiver answered with a 4xx other
        than 429; the message gives the last status or error.
    ValidationError
        For a secret that is empty, or a body over :data:`MAX_BODY_BYTES`.
    """
    if not secret:
        raise ValidationError("A webhook needs a secret to sign its body.", field="secret")
    allowed = parse_allowed_hosts(allowed_hosts)
    check_url_allowed(url, allowed, source=name, what="webhook")
    attempts_allowed = max(1, min(int(max_attempts), MAX_ATTEMPTS))
    timeout = max(0.1, min(float(timeout_seconds), MAX_TIMEOUT_SECONDS))
    delivery = delivery_id or uuid.uuid4().hex
    body = webhook_body(payload)
    signature = sign(body, secret)
    extra = {str(k): str(v) for k, v in (headers or {}).items() if str(k).lower() not in _RESERVED_HEADERS}
    errors: list[str] = []
    started = time.monotonic()
    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport,
                      headers={"User-Agent": USER_AGENT}) as client:
        for attempt in range(1, attempts_allowed + 1):
            wait = min(backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
            request_headers = {
                **extra, "Content-Type": "application/json", SIGNATURE_HEADER: signature,
                TIMESTAMP_HEADER: str(int(time.time())), EVENT_HEADER: event, DELIVERY_HEADER: delivery,
            }
            try:
                response = client.post(url, content=body, headers=request_headers)
            except httpx.TimeoutException:
                errors.append(f"attempt {attempt}: no answer within {timeout:g} s")
            except httpx.TransportError as exc:
                errors.append(f"attempt {attempt}: cannot connect ({type(exc).__name__}: {exc})")
            else:
                if 200 <= response.status_code < 300:
                    return WebhookResult(response.status_code, attempt, time.monotonic() - started, delivery,
                                         tuple(errors), response.text[:500])
                text = response.text[:200].strip()
                errors.append(f"attempt {attempt}: HTTP {response.status_code}" + (f" ({text})" if text else ""))
                if 300 <= response.status_code < 400:
                    raise DeliveryError(
                        f"The {name} at {url} answered with a redirect (HTTP {response.status_code} to "
                        f"{response.headers.get('location', '?')}); webhooks do not follow redirects. "
                        "Use the final URL.", details={"errors": errors, "delivery_id": delivery})
                if response.status_code != 429 and response.status_code < 500:
                    raise DeliveryError(
                        f"The {name} at {url} refused the delivery: HTTP {response.status_code}"
                        + (f" ({text})" if text else "") + ". Check the URL and that the receiver accepts "
                        "the signature; client errors are not retried.",
                        details={"errors": errors, "delivery_id": delivery, "status_code": response.status_code})
                hinted = _retry_after(response)
                if hinted is not None:
                    wait = min(hinted, MAX_BACKOFF_SECONDS)
            if attempt < attempts_allowed:
                log.info("webhook %s attempt %s failed; retrying in %.1f s", name, attempt, wait)
                sleep(wait)
    raise DeliveryError(
        f"The {name} at {url} could not be reached after {attempts_allowed} attempt"
        f"{'s' if attempts_allowed != 1 else ''}: {errors[-1] if errors else 'no attempt made'}.",
        details={"errors": errors, "delivery_id": delivery}, retryable=True)


# ============================================================================ e-mail
@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server e-mail goes through (read with :meth:`from_env`).

    The password is read from the environment each time and never stored.
    """

    host: str | None
    port: int
    user: str | None
    password: str | None
    sender: str | None
    tls: str
    timeout: float

    def __repr__(self) -> str:
        return (f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
                f"password={'<set>' if self.password else None}, sender={self.sender!r}, tls={self.tls!r})")

    @property
    def configured(self) -> bool:
        """Whether a host is set."""
        return bool(self.host)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read the ``AIHUB_SMTP_*`` variables.

        Raises
        ------
        ValidationError
            For a port that is not a number from 1 to 65535, an unknown TLS
            mode or a sender that is not an e-mail address.
        """
        env = os.environ if env is None else env
        tls = (env.get("AIHUB_SMTP_TLS") or "auto").strip().lower()
        if tls not in TLS_MODES:
            raise ValidationError(f"AIHUB_SMTP_TLS must be one of {', '.join(TLS_MODES)}; got {tls!r}.",
                                  field="AIHUB_SMTP_TLS")
        raw_port = (env.get("AIHUB_SMTP_PORT") or "").strip()
        if raw_port:
            if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
                raise ValidationError(f"AIHUB_SMTP_PORT must be a port number from 1 to 65535; got {raw_port!r}.",
                                      field="AIHUB_SMTP_PORT")
            port = int(raw_port)
        else:
            port = 465 if tls == "ssl" else 587
        raw_timeout = (env.get("AIHUB_SMTP_TIMEOUT") or "20").strip()
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise ValidationError(f"AIHUB_SMTP_TIMEOUT must be seconds; got {raw_timeout!r}.",
                                  field="AIHUB_SMTP_TIMEOUT") from None
        host = (env.get("AIHUB_SMTP_HOST") or "").strip() or None
        user = (env.get("AIHUB_SMTP_USER") or "").strip() or None
        sender = (env.get("AIHUB_SMTP_FROM") or "").strip() or None
        if sender and not _EMAIL_RE.match(sender.split("<")[-1].rstrip(">").strip()):
            raise ValidationError(f"AIHUB_SMTP_FROM must be an e-mail address; got {sender!r}.",
                                  field="AIHUB_SMTP_FROM")
        return cls(host, port, user, env.get("AIHUB_SMTP_PASSWORD") or None, sender, tls,
                   max(1.0, min(timeout, 120.0)))


def check_recipients(to: str | Sequence[str], *, field: str = "to") -> list[str]:
    """Recipients as a clean list (a string may separate them with commas or semicolons).

    Raises
    ------
    ValidationError
        If there is none, more than :data:`MAX_RECIPIENTS`, or one is not an e-mail address.
    """
    items = re.split(r"[,;\s]+", to) if isinstance(to, str) else list(to or [])
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(f"Recipients must be e-mail addresses; got {item!r}.", field=field)
        addr = item.strip()
        if not addr:
            continue
        if not _EMAIL_RE.match(addr):
            raise ValidationError(f"{addr!r} is not an e-mail address.", field=field)
        if addr.lower() not in (a.lower() for a in out):
            out.append(addr)
    if not out:
        raise ValidationError("Give at least one recipient e-mail address.", field=field)
    if len(out) > MAX_RECIPIENTS:
        raise ValidationError(f"At most {MAX_RECIPIENTS} recipients; got {len(out)}.", field=field)
    return out


@dataclass(frozen=True)
class EmailResult:
    """A sent e-mail: its Message-ID, recipients and the server's refusals (none when all accepted)."""

    message_id: str
    recipients: tuple[str, ...]
    refused: dict[str, str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as recorded in a workflow step."""
        return {"message_id": self.message_id, "recipients": list(self.recipients), "refused": self.refused,
                "seconds": round(self.seconds, 3)}


def send_email(  # noqa: C901 - over the complexity ceiling before it existed; split pending (notify)
    to: str | Sequence[str],
    subject: str,
    body: str,
    *,
    settings: SmtpSettings | None = None,
) -> EmailResult:
    """Send a plain-text e-mail through the configured SMTP server.

    Parameters
    ----------
    to : str or sequence of str
        Recipient addresses.
    subject, body : str
        Subject (one line, at most 300 characters) and text.
    settings : SmtpSettings, optional
        Defaults to :meth:`SmtpSettings.from_env`.

    Returns
    -------
    EmailResult

    Raises
    ------
    DeliveryError
        When e-mail is not configured, the server cannot be reached, refuses
        the login or every recipient, or would need a password over an
        unencrypted connection.
    ValidationError
        For bad recipients or subject.
    """
    cfg = settings or SmtpSettings.from_env()
    if not cfg.configured:
        raise DeliveryError("E-mail is not configured: an administrator sets AIHUB_SMTP_HOST (and AIHUB_SMTP_PORT, "
                            "AIHUB_SMTP_USER, AIHUB_SMTP_PASSWORD, AIHUB_SMTP_FROM) for the app and the worker.",
                            code="email_not_configured")
    recipients = check_recipients(to)
    subject = " ".join(str(subject or "").split())
    if not subject or len(subject) > 300:
        raise ValidationError("The subject must have 1 to 300 characters.", field="subject")
    if cfg.sender:
        sender = cfg.sender
    elif cfg.user and "@" in cfg.user:
        sender = cfg.user
    else:
        sender = f"aihub@{cfg.host}"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.split("@")[-1].rstrip(">") if "@" in sender else cfg.host
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(body or "")
    where = f"{cfg.host}:{cfg.port}"
    started = time.monotonic()
    context = ssl.create_default_context()
    try:
        if cfg.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        with smtp:
            smtp.ehlo()
            encrypted = cfg.tls == "ssl"
            if cfg.tls == "starttls" or (cfg.tls == "auto" and smtp.has_extn("starttls")):
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(f"The SMTP server {where} does not offer STARTTLS, which AIHUB_SMTP_TLS="
                                        "starttls requires. Use another port or set AIHUB_SMTP_TLS.",
                                        code="email_tls")
                smtp.starttls(context=context)
                smtp.ehlo()
                encrypted = True
            if cfg.user:
                if not encrypted and cfg.tls != "none":
                    raise DeliveryError(
                        f"The SMTP server {where} offers no encryption, so the hub did not send the password. "
                        "Use a port with STARTTLS or SSL, or set AIHUB_SMTP_TLS=none for a trusted relay.",
                        code="email_tls")
                smtp.login(cfg.user, cfg.password or "")
            refused = smtp.send_message(msg, from_addr=sender.split("<")[-1].rstrip(">").strip(),
                                        to_addrs=recipients)
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"The SMTP server {where} refused the login of {cfg.user!r} "
                            f"({exc.smtp_code}); check AIHUB_SMTP_USER and AIHUB_SMTP_PASSWORD.",
                            code="email_auth") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused_all = {k: f"{v[0]} {v[1].decode(errors='replace') if isinstance(v[1], bytes) else v[1]}"
                       for k, v in exc.recipients.items()}
        raise DeliveryError(f"The SMTP server {where} refused every recipient: {refused_all}.",
                            code="email_refused", details={"refused": refused_all}) from None
    except TimeoutError:
        raise DeliveryError(f"The SMTP server {where} did not answer within {cfg.timeout:g} s.",
                            code="email_timeout", retryable=True) from None
    except ConnectionRefusedError:
        raise DeliveryError(f"Nothing accepts connections at the SMTP server {where}; check AIHUB_SMTP_HOST and "
                            "AIHUB_SMTP_PORT.", code="email_refused", retryable=True) from None
    except socket.gaierror:
        raise DeliveryError(f"The SMTP host {cfg.host!r} does not resolve; check AIHUB_SMTP_HOST.",
                            code="email_dns", retryable=True) from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"The TLS handshake with the SMTP server {where} failed: {exc.reason or exc}.",
                            code="email_tls") from None
    except (smtplib.SMTPException, OSError) as exc:
        # RFC 5321 4.2.1: a 5yz reply is a permanent refusal, 4yz (or no reply at all) may pass later
        permanent = isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600
        raise DeliveryError(f"Sending e-mail through {where} failed: {type(exc).__name__}: {exc}.",
                            code="email_failed", retryable=not permanent) from None
    refused_text = {k: f"{v[0]} {v[1].decode(errors='replace') if isinstance(v[1], bytes) else v[1]}"
                    for k, v in (refused or {}).items()}
    return EmailResult(str(msg["Message-ID"]), tuple(recipients), refused_text, time.monotonic() - started)


__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ConnectorError",
    "DeliveryError",
    "EmailResult",
    "SmtpSettings",
    "WebhookResult",
    "check_recipients",
    "send_email",
    "send_webhook",
    "sign",
    "verify",
    "webhook_body",
]
