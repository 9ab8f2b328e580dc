"""Settings of the HTTP API, read from ``AIHUB_API_*`` environment variables.

=========================  ==========================================================
variable                   meaning
=========================  ==========================================================
``AIHUB_API_HOST``         address to listen on (``127.0.0.1``)
``AIHUB_API_PORT``         port (``8000``)
``AIHUB_API_RATE_LIMIT``   requests a key may send per window, as ``N/SECONDS``
                           (``600/60``: 600 a minute, bursts up to 600)
=========================  ==========================================================
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from aihub.errors import ValidationError

#: Path prefix of every API route (version 1).
PREFIX = "/api/v1"
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class ApiSettings:
    """Where the API listens and how fast a key may call it."""

    host: str = "127.0.0.1"
    port: int = 8000
    rate_requests: int = 600
    rate_seconds: float = 60.0


def parse_rate(text: str) -> tuple[int, float]:
    """``"600/60"`` -> ``(600, 60.0)``.

    Raises
    ------
    ValidationError
        If the text is not ``N/SECONDS`` with positive numbers (field ``AIHUB_API_RATE_LIMIT``).
    """
    m = _RATE_RE.match(text or "")
    if m is None or int(m.group(1)) < 1 or float(m.group(2)) <= 0:
        raise ValidationError(f"AIHUB_API_RATE_LIMIT must look like 600/60 (requests per seconds); got {text!r}.",
                              field="AIHUB_API_RATE_LIMIT")
    return int(m.group(1)), float(m.group(2))


def load_api_settings() -> ApiSettings:
    """Read :class:`ApiSettings` from the environment.

    Raises
    ------
    ValidationError
        For a port that is not a number from 1 to 65535 or a malformed rate limit.
    """
    raw_port = os.environ.get("AIHUB_API_PORT", "8000")
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ValidationError(f"AIHUB_API_PORT must be a port number; got {raw_port!r}.", field="AIHUB_API_PORT")
    n, seconds = parse_rate(os.environ.get("AIHUB_API_RATE_LIMIT", "600/60"))
    return ApiSettings(os.environ.get("AIHUB_API_HOST", "127.0.0.1"), int(raw_port), n, seconds)
