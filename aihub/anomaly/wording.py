"""Plain-word figures for anomaly evidence: compact numbers, dates and periods.

Issue 9 asks for large numbers in compact units ("138.5 M", not "138,459,571...").
The rule here: below 10,000 a number is written in full with thousands
separators and at most three significant decimals ("1,240", "0.82", "3.5");
from 10,000 upwards one decimal with k / M / B / T ("48.2 k", "138.5 M").
The compact-number rule has one home, :func:`aihub.insights.formatting.format_compact`
(next to the money formatter it shares its k / M / B choice with); it is
re-exported here for the anomaly wording.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from aihub.insights.formatting import format_compact

__all__ = ["PERIOD_WORDS", "format_change", "format_compact", "format_when", "period_word"]

#: Word for one period of each pandas frequency prefix ("per day", "5 days").
PERIOD_WORDS: dict[str, str] = {
    "min": "minute", "T": "minute", "h": "hour", "H": "hour", "D": "day", "B": "business day", "W": "week",
    "M": "month", "MS": "month", "ME": "month", "Q": "quarter", "QS": "quarter", "Y": "year", "YS": "year", "A": "year",
}


def format_change(before: float, after: float) -> str:
    """Relative change as ``"+31%"`` / ``"-31%"``; empty when ``before`` is 0 or not finite."""
    if not (math.isfinite(before) and math.isfinite(after)) or before == 0:
        return ""
    pct = (after - before) / abs(before) * 100.0
    return f"{pct:+.0f}%" if abs(pct) >= 10 else f"{pct:+.1f}%"


def format_when(ts: Any, freq: str | None = None) -> str:
    """A date as analysts write it: ``"3 March 2024"``, with the time for sub-daily data (``"3 March 2024 14:00"``)."""
    t = pd.Timestamp(ts)
    day = f"{t.day} {t:%B %Y}"
    sub_daily = freq is not None and period_word(freq) in ("hour", "minute")
    return f"{day} {t:%H:%M}" if sub_daily or (t.hour or t.minute) else day


def period_word(freq: str | None) -> str:
    """The word for one period of a pandas frequency string (``"D"`` -> ``"day"``, ``"15min"`` -> ``"minute"``)."""
    if not freq:
        return "period"
    code = str(freq).lstrip("0123456789").split("-")[0]
    return PERIOD_WORDS.get(code, PERIOD_WORDS.get(code.upper(), "period"))
