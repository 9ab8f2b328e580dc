"""Detector robustness: strict-JSON states, no deafness after incidents, non-negative ranges, daily defaults."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import ALGORITHMS, DetectorParams, detect, init_state, update
from aihub.anomaly.detectors import STATE_VERSION

WEEKLY = np.array([1.0, 1.04, 1.08, 1.06, 1.18, 0.72, 0.62])  # Mon..Sun revenue profile


def _revenue(seed: int, n: int = 700, sd: float = 600.0) -> pd.DataFrame:
    """Daily revenue: weekly seasonality, slow growth, Gaussian noise ``sd``."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2022-01-03", periods=n, freq="D")
    v = 20_000 * (1 + 0.0003 * np.arange(n)) * WEEKLY[ts.dayofweek] + rng.normal(0, sd, n)
    return pd.DataFrame({"timestamp": ts, "value": v})


def _strict(state: dict) -> dict:
    return json.loads(json.dumps(state, allow_nan=False))  # raises on NaN / Infinity


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b)
    for c in ["expected", "lower", "upper", "z", "anomaly_score", "raw_score"]:
        np.testing.assert_array_equal(a[c].to_numpy(float), b[c].to_numpy(float), err_msg=c)
    assert (a["is_anomaly"].to_numpy() == b["is_anomaly"].to_numpy()).all()
    assert (a["severity"].to_numpy() == b["severity"].to_numpy()).all()


# ------------------------------------------------------------------ state JSON
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_state_is_strict_json_and_streaming_equals_batch_exactly(algorithm):
    d = _revenue(3, n=500)
    d.loc[[40, 41, 42, 300], "value"] = np.nan  # missing days
    d.loc[200, "value"] = np.inf  # a broken reading counts as missing
    d.loc[250, "value"] += 20 * 600  # an incident
    full, final = detect(d, {"algorithm": algorithm}, return_state=True)
    _strict(final)
    state = init_state({"algorithm": algorithm})
    parts = []
    for a, b in [(0, 1), (1, 5), (5, 60), (60, 251), (251, 252), (252, 500)]:
        state = _strict(state)  # as stored in PostgreSQL jsonb
        out, state = update(state, d.iloc[a:b])
        parts.append(out)
    _assert_same(pd.concat(parts, ignore_index=True), full)
    assert state["version"] == STATE_VERSION
    assert not full["is_anomaly"].iloc[[40, 41, 42, 200, 300]].any()


def test_null_in_a_state_means_missing_and_version_1_states_are_read():
    d = _revenue(4, n=300)
    _, state = detect(d.iloc[:200], return_state=True)
    text = json.dumps(state, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text
    # a version-1 state as the old store restored it: NaN floats, the old explicit point counts
    old = json.loads(text)
    old["version"] = 1
    old["params"].update({"level_window": 10, "scale_window": 288, "min_periods": 20, "warmup": 30, "short_window": 10})
    old["likelihood"]["robust_seasonal"]["s"] = [float("nan")] * len(old["likelihood"]["robust_seasonal"]["s"])
    out, new = update(old, d.iloc[200:])
    assert len(out) == 100 and out["anomaly_score"].notna().all()
    assert new["version"] == STATE_VERSION
    # the old defaults became the frequency-aware ones, and the state is strict JSON again
    assert new["params"]["scale_window"] is None and new["params"]["short_window"] is None
    _strict(new)


# ------------------------------------------------------------------ deafness
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fourth_incident_after_three_large_ones_is_flagged_high(seed):
    sd = 600.0
    d = _revenue(seed, sd=sd)
    v = d["value"].to_numpy().copy()
    v[150] += 30 * sd  # a 30-sigma spike
    v[300:302] *= 0.4  # a two-day outage (-60%)
    v[450] += 25 * sd  # another large spike
    for day in range(600, 607):  # the fourth incident, 14 sigma, on each weekday
        w = v.copy()
        w[day] += 14 * sd
        out = detect(d.assign(value=w))
        assert out["is_anomaly"].iloc[day], (seed, day)
        assert out["severity"].iloc[day] in ("high", "critical"), (seed, day, out["anomaly_score"].iloc[day])
    # the earlier incidents were reported, and little else
    alarms = set(np.flatnonzero(out["is_anomaly"]))
    assert {150, 300, 450, 606} <= alarms
    assert len(alarms) <= 6


@pytest.mark.parametrize("algorithm", ["forecast_band", "robust_seasonal"])
def test_a_spike_neither_widens_the_range_nor_drags_the_expected_value(algorithm):
    d = _revenue(5)
    base = detect(d, {"algorithm": algorithm})
    v = d["value"].to_numpy().copy()
    v[400] += 40 * 600
    out = detect(d.assign(value=v), {"algorithm": algorithm})
    assert out["is_anomaly"].iloc[400]
    after = slice(401, 430)  # learned as the edge of its range, the spike changes little afterwards
    width = ((out["upper"] - out["lower"]) / (base["upper"] - base["lower"])).iloc[after]
    assert width.median() < 1.1 and width.max() < 1.25  # the old forecast band was 2.5 times as wide
    assert np.abs(out["expected"] - base["expected"]).iloc[after].median() < 0.5 * 600


def test_a_lasting_level_shift_becomes_the_new_normal():
    d = _revenue(6)
    v = d["value"].to_numpy().copy()
    v[400:] *= 1.3  # revenue steps up 30% and stays there
    out = detect(d.assign(value=v))
    alarms = np.flatnonzero(out["is_anomaly"])
    assert any(400 <= i <= 403 for i in alarms), alarms
    assert not out["is_anomaly"].iloc[450:].any()  # learned: no endless incident
    assert np.abs(out["z"].iloc[450:]).median() < 1.5


# ------------------------------------------------------------------ non-negative metrics
def test_expected_range_of_a_nonnegative_metric_stays_nonnegative():
    rng = np.random.default_rng(8)
    ts = pd.date_range("2022-01-03", periods=400, freq="D")
    counts = rng.poisson(np.where(ts.dayofweek >= 5, 0.3, 4.0)).astype(float)  # few orders, none at weekends
    out = detect(pd.DataFrame({"timestamp": ts, "value": counts}))
    ok = out["expected"].notna()
    assert ok.sum() > 300
    assert (out.loc[ok, "lower"] >= 0).all() and (out.loc[ok, "expected"] >= 0).all()
    assert (out.loc[ok, "upper"] >= out.loc[ok, "expected"]).all()
    # without clipping the lower end would go negative
    raw = detect(pd.DataFrame({"timestamp": ts, "value": counts}), {"nonnegative": False})
    assert (raw["lower"] < 0).any()
    # a metric that has been negative (profit) keeps its negative range
    profit = counts - 2.0
    signed = detect(pd.DataFrame({"timestamp": ts, "value": profit}))
    assert (signed["lower"] < 0).any()


# ------------------------------------------------------------------ frequency-aware defaults
def test_defaults_follow_the_sampling_interval():
    p = DetectorParams()
    five_min = p.resolved(300.0)
    assert (five_min.level_window, five_min.scale_window, five_min.min_periods, five_min.warmup,
            five_min.short_window) == (10, 288, 20, 30, 10)  # as designed on 5-minute data (NAB)
    daily = p.resolved(86_400.0)
    assert (daily.level_window, daily.scale_window, daily.min_periods, daily.warmup, daily.short_window) == (
        14, 182, 14, 7, 7)  # two weeks, half a year, two weeks, a week, a week
    explicit = DetectorParams(scale_window=50).resolved(86_400.0)
    assert explicit.scale_window == 50 and explicit.min_periods == 14
    assert DetectorParams.from_dict(p.to_dict()) == p  # None round-trips


def test_daily_data_alarms_after_three_weeks_with_a_two_day_cooldown():
    d = _revenue(9, n=120)
    v = d["value"].to_numpy().copy()
    v[24] += 20 * 600  # day 25: the warm-up (three weeks) is over
    v[40] += 20 * 600
    v[43] += 20 * 600  # three days later: a new incident, not the same one
    v[60] += 20 * 600
    v[61] += 20 * 600  # the next day: inside the two-day cooldown
    out = detect(d.assign(value=v))
    alarms = list(np.flatnonzero(out["is_anomaly"]))
    assert alarms == [24, 40, 43, 60], alarms
    assert out["anomaly_score"].iloc[61] == 0 and out["raw_score"].iloc[61] >= 0.5
    assert not out["is_anomaly"].iloc[:21].any()


def test_compiled_kernels_equal_their_plain_python_form(monkeypatch):
    from aihub.anomaly import _kernels

    if not hasattr(_kernels.likelihood_alarm_loop, "py_func"):
        pytest.skip("numba is not installed: the kernels already run as Python")
    d = _revenue(10, n=160)
    d.loc[100, "value"] += 30 * 600
    compiled = detect(d)
    from aihub.anomaly import art, context

    for name in ("likelihood_alarm_loop", "robust_seasonal_loop", "alarm_loop", "fill_rings", "seasonal_loop"):
        monkeypatch.setattr(_kernels, name, getattr(_kernels, name).py_func)
    monkeypatch.setattr(art, "art_loop", art.art_loop.py_func)
    monkeypatch.setattr(context, "context_loop", context.context_loop.py_func)
    _assert_same(detect(d), compiled)
