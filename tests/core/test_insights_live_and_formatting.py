"""Compact numbers in one place for insights and anomalies; the open-anomalies digest refreshes when anomalies change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aihub.anomaly import wording
from aihub.insights import AnomaliesInput, InsightInputs, generate_insights, is_stale
from aihub.insights.formatting import format_compact, format_money, format_signed_compact, render, untraced_numbers


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (138_459_571.4, "138.5 M"),
        (46_090_211.02, "46.1 M"),
        (9_999.4, "9,999"),
        (9_999.5, "10 k"),
        (48_213, "48.2 k"),
        (999_949, "999.9 k"),
        (999_950, "1 M"),
        (1_240, "1,240"),
        (0.8214, "0.821"),
        (3.5, "3.5"),
        (-2_500_000, "-2.5 M"),
        (2.4e12, "2.4 T"),
        (float("nan"), "n/a"),
    ],
)
def test_compact_numbers(value, text):
    assert format_compact(value) == text
    assert wording.format_compact is format_compact  # one implementation for anomalies and insights


def test_money_keeps_its_own_digits_and_shares_the_unit_choice():
    assert [format_money(v) for v in (512, 8.5, 48_213, 482_000, 1_234_567, 999_499, 999_500)] == [
        "$512",
        "$8.50",
        "$48.2k",
        "$482k",
        "$1.23M",
        "$999k",
        "$1M",
    ]
    assert format_signed_compact(48_213) == "+48.2 k" and format_signed_compact(0) == "0"
    text, shown = render("{v:qty}{u} and {d:sqty}", {"v": 138_459_571, "u": " avocados", "d": -1_250})
    assert text == "138.5 M avocados and -1,250" and untraced_numbers(text, shown) == []


def _anomalies(n_open: int, now: datetime):
    rows = [
        {
            "id": i,
            "severity": "high",
            "status": "new",
            "impact": -100.0 * i,
            "metric": "sales",
            "ts": now - timedelta(days=i),
        }
        for i in range(1, n_open + 1)
    ]
    return AnomaliesInput(
        rows + [{"id": 99, "severity": "high", "status": "resolved", "impact": -5.0, "metric": "sales"}]
    )


def test_open_anomalies_digest_is_replaced_when_an_anomaly_opens():
    now = datetime(2024, 5, 2, 9, tzinfo=UTC)
    first = generate_insights(InsightInputs(anomalies=_anomalies(7, now)), now=now)[0]
    assert first.figures["n_open"] == 7 and first.title.startswith("Open critical or high anomalies: 7,")
    stored = [{"fingerprint": first.fingerprint, "valid_until": first.valid_until, "state": first.figures["state"]}]
    later = now + timedelta(hours=2)
    same = generate_insights(InsightInputs(anomalies=_anomalies(7, now)), now=later, existing=stored)
    assert same == []  # nothing changed: the stored digest stands
    fresh = generate_insights(InsightInputs(anomalies=_anomalies(8, now)), now=later, existing=stored)
    assert len(fresh) == 1 and fresh[0].fingerprint == first.fingerprint and fresh[0].figures["n_open"] == 8
    assert is_stale(fresh[0], stored[0]["state"]) and not is_stale(first, first.figures["state"])
    # without a stored state (older callers) the still-valid digest is not repeated
    assert generate_insights(InsightInputs(anomalies=_anomalies(8, now)), now=later, existing=[first.fingerprint]) == []
    # acknowledging one changes nothing the digest says; resolving one does
    triaged = _anomalies(7, now)
    triaged.data.loc[0, "status"] = "acknowledged"
    assert generate_insights(InsightInputs(anomalies=triaged), now=later, existing=[first]) == []
    triaged.data.loc[0, "status"] = "resolved"
    assert generate_insights(InsightInputs(anomalies=triaged), now=later, existing=[first])[0].figures["n_open"] == 6
