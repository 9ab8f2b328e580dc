"""Anomaly types from shape: planted series of each type, evidence with figures, bad input named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly.synthetic import DEVELOPMENT, SHAPES, VALIDATION, planted
from aihub.anomaly.types import ANOMALY_SHAPES, classify_anomaly, naive_type
from aihub.anomaly.wording import format_compact
from aihub.errors import ValidationError


@pytest.mark.parametrize("shape", SHAPES)
def test_each_planted_type_is_recognised_on_most_series(shape):
    got = [classify_anomaly(*planted(shape, seed, VALIDATION)).type for seed in range(10_000, 10_008)]
    assert got.count(shape) >= 7, got


def test_level_shift_evidence_states_both_levels_and_the_date():
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    rng = np.random.default_rng(3)
    y = np.where(np.arange(120) < 90, 1240.0, 860.0) + rng.normal(0, 20, 120)
    r = classify_anomaly(pd.DataFrame({"ds": days, "y": y}), days[90], days[92], params={"season_length": None})
    assert r.type == "level_shift" and r.confidence > 0.9
    assert "Level shifted from 1,2" in r.evidence and "to 8" in r.evidence and "per day on 31 March 2024" in r.evidence
    assert r.figures["before"] == pytest.approx(1240, rel=0.03) and r.figures["after"] == pytest.approx(860, rel=0.03)
    assert set(r.weights) <= {"none", *ANOMALY_SHAPES}
    assert abs(sum(r.weights.values()) - 1) < 1e-3


def test_spike_at_the_end_of_the_data_says_it_may_not_last():
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    y = np.full(60, 138.5e6) + np.random.default_rng(0).normal(0, 1e6, 60)
    y[-1] = 200e6
    r = classify_anomaly(pd.DataFrame({"ds": days, "y": y}), days[-1], unit="USD")
    assert r.type == "spike"
    assert r.evidence.startswith("Rose to 200 M USD per day on 29 February 2024 from the expected 138.")
    assert "too little data after it" in r.evidence


def test_missing_rows_and_empty_values_are_missing_data():
    frame, start, end = planted("missing_data", 5, DEVELOPMENT)
    r = classify_anomaly(frame, start, end)
    assert r.type == "missing_data" and r.confidence == 1.0 and r.evidence.startswith("No data for")
    days = pd.date_range("2024-01-01", periods=50, freq="D")
    y = np.linspace(10, 20, 50)
    y[30:33] = np.nan
    r = classify_anomaly(pd.DataFrame({"ds": days, "y": y}), days[30], days[32])
    assert r.type == "missing_data" and r.figures["missing_periods"] == 3


def test_seasonality_break_reports_the_pattern_before_and_after():
    hours = pd.date_range("2024-01-01", periods=24 * 12, freq="h")
    t = np.arange(len(hours))
    season = 100 * np.sin(2 * np.pi * t / 24)
    y = 1000 + np.where(t < 24 * 9, season, -season) + np.random.default_rng(1).normal(0, 10, len(t))
    r = classify_anomaly(pd.DataFrame({"ds": hours, "y": y}), hours[24 * 9 + 3])
    assert r.type == "seasonality_break"
    assert "24-hour pattern changed" in r.evidence and "upside down" in r.evidence
    assert r.figures["acf_after"] > r.figures["acf_before"]


def test_naive_baseline_only_knows_spike_and_drop():
    assert {naive_type(*planted(s, 1, DEVELOPMENT)) for s in SHAPES} <= {"spike", "drop"}


def test_bad_input_is_named():
    days = pd.date_range("2024-01-01", periods=30, freq="D")
    frame = pd.DataFrame({"ds": days, "y": np.arange(30.0)})
    with pytest.raises(ValidationError) as err:
        classify_anomaly(frame, "2025-01-01")
    assert err.value.field == "start"
    with pytest.raises(ValidationError) as err:
        classify_anomaly(frame.rename(columns={"y": "sales"}), days[10])
    assert err.value.field == "series" and "sales" in str(err.value)
    with pytest.raises(ValidationError) as err:
        classify_anomaly(frame, days[10], params={"missing_share": 2})
    assert err.value.field == "missing_share"
    with pytest.raises(ValidationError):
        classify_anomaly(frame.head(5), days[2])


def test_compact_numbers():
    assert [format_compact(v) for v in (1240, 860, 0.8, 138_459_571, 48_213, -2.5e9)] == [
        "1,240", "860", "0.8", "138.5 M", "48.2 k", "-2.5 B"]
    assert format_compact(float("nan")) == "n/a" and format_compact(3, "USD") == "3 USD"
