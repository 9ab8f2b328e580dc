"""The ``auto`` ensemble: planted anomalies found, quiet series quiet, causal, resumable from strict JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import ALGORITHMS, DetectorParams, detect, init_state, update
from aihub.anomaly.detectors import STATE_VERSION
from aihub.anomaly.nab_synthetic import STREAM_SHAPES, planted_stream, probation
from aihub.errors import ValidationError
from tests.conftest import shared_file

UNIVARIATE = [a for a in ALGORITHMS if a != "isolation_forest"]
SEEDS = range(6)


def _strict(state: dict) -> dict:
    return json.loads(json.dumps(state, allow_nan=False))  # as PostgreSQL jsonb stores it; raises on NaN


def _window_hits(stream, scored: pd.DataFrame) -> tuple[bool, int]:
    """Whether an alarm falls in the label window, and the alarms outside it after the probationary period."""
    alarm = scored["is_anomaly"].to_numpy()
    if not stream.windows:
        return False, int(alarm[probation(len(alarm)):].sum())
    a, b = stream.windows[0]
    inside = ((scored["timestamp"] >= a) & (scored["timestamp"] <= b)).to_numpy()
    return bool((alarm & inside).any()), int((alarm & ~inside)[probation(len(alarm)):].sum())


@pytest.mark.parametrize("shape", STREAM_SHAPES)
def test_planted_anomalies_of_every_shape_are_found_without_a_flood_of_alarms(shape):
    hits, false_alarms = 0, 0
    for seed in SEEDS:
        s = planted_stream(shape, seed)
        hit, fa = _window_hits(s, detect(s.frame))
        hits += hit
        false_alarms += fa
    # 5-6 of 6 today; a detector that never fires finds none, one that fires everywhere floods
    assert hits >= 4, f"{shape}: {hits}/6 planted anomalies found"
    assert false_alarms <= 6 * 6, f"{shape}: {false_alarms} false alarms in 6 streams"


def test_streams_without_anomaly_raise_few_alarms():
    total = sum(_window_hits(s, detect(s.frame))[1] for s in (planted_stream(None, seed) for seed in range(8)))
    assert total <= 8 * 4  # heavy-tailed noise included; about 2.4 per stream of weeks of data today


def test_a_clean_seasonal_series_stays_quiet_under_every_component():
    rng = np.random.default_rng(7)
    n = 12_000
    t = np.arange(n)
    frame = pd.DataFrame({"timestamp": pd.date_range("2023-01-02", periods=n, freq="5min"),
                          "value": 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, n)})
    for algorithm in UNIVARIATE:
        alarms = int(detect(frame, {"algorithm": algorithm})["is_anomaly"].sum())
        assert alarms <= 3, f"{algorithm}: {alarms} alarms in 12,000 points of a sine plus Gaussian noise"


@pytest.mark.parametrize("name", ["art_daily_no_noise", "art_daily_perfect_square_wave", "art_daily_small_noise",
                                  "art_flatline", "art_noisy"])
def test_nab_files_without_anomaly_raise_no_alarm(name):
    frame = pd.read_csv(shared_file("nab", "artificialNoAnomaly", f"{name}.csv"), parse_dates=["timestamp"])
    assert not detect(frame)["is_anomaly"].any()


def test_the_ensemble_finds_the_labelled_failures_of_a_real_machine():
    path = shared_file("nab", "realKnownCause", "machine_temperature_system_failure.csv")
    frame = pd.read_csv(path, parse_dates=["timestamp"])
    wins = json.loads(shared_file("nab", "combined_windows.json").read_text())[
        "realKnownCause/machine_temperature_system_failure.csv"]
    scored = detect(frame)
    found = sum(bool(scored.loc[(scored.timestamp >= a) & (scored.timestamp <= b), "is_anomaly"].any())
                for a, b in wins)
    assert found >= 3, f"{found} of 4 labelled failures found"
    assert scored["is_anomaly"].sum() <= 25


def test_a_stuck_sensor_inside_the_normal_range_is_seen_by_adaptive_resonance():
    rng = np.random.default_rng(7)
    n = 12_000
    t = np.arange(n)
    v = 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, n)
    v[8000:8300] = v[7999]  # the collector repeats its last reading for a day
    frame = pd.DataFrame({"timestamp": pd.date_range("2023-01-02", periods=n, freq="5min"), "value": v})
    alarms = np.flatnonzero(detect(frame, {"algorithm": "art"})["is_anomaly"].to_numpy())
    assert any(8000 <= i < 8300 for i in alarms)
    assert len(alarms) <= 2


@pytest.mark.parametrize("algorithm", UNIVARIATE)
def test_scores_of_a_prefix_equal_the_full_run_on_that_prefix(algorithm):
    s = planted_stream("level_shift", 3)
    full = detect(s.frame, {"algorithm": algorithm})
    for cut in (11, 900, 2500):
        part = detect(s.frame.iloc[:cut], {"algorithm": algorithm})
        for col in ("anomaly_score", "raw_score", "expected", "is_anomaly"):
            np.testing.assert_array_equal(part[col].to_numpy(), full[col].to_numpy()[:cut], err_msg=f"{col} @ {cut}")


@pytest.mark.parametrize("algorithm", UNIVARIATE)
def test_a_run_resumed_from_strict_json_equals_an_uninterrupted_run(algorithm):
    s = planted_stream("seasonality_break", 2, freq="10min")
    frame = s.frame
    full, final = detect(frame, {"algorithm": algorithm}, return_state=True)
    state, parts = init_state({"algorithm": algorithm}), []
    for a, b in [(0, 1), (1, 7), (7, 12), (12, 700), (700, 701), (701, 2900), (2900, len(frame))]:
        out, state = update(_strict(state), frame.iloc[a:b])
        parts.append(out)
    streamed = pd.concat(parts, ignore_index=True)
    for col in ("anomaly_score", "raw_score", "expected", "lower", "upper", "is_anomaly", "severity"):
        np.testing.assert_array_equal(streamed[col].to_numpy(), full[col].to_numpy(), err_msg=col)
    assert json.dumps(_strict(state), sort_keys=True) == json.dumps(_strict(final), sort_keys=True)
    assert state["version"] == STATE_VERSION


def test_a_version_2_state_of_the_previous_auto_continues():
    s = planted_stream("spike", 1)
    cut = s.start - 50
    _, state = detect(s.frame.iloc[:cut], return_state=True)
    old = _strict(state)
    old["version"] = 2  # the previous auto had no adaptive-resonance or context component
    for name in ("art", "context"):
        old["components"].pop(name)
        old["likelihood"].pop(name)
    for lk in old["likelihood"].values():
        lk.pop("last")
    out, new = update(old, s.frame.iloc[cut:])
    assert new["version"] == STATE_VERSION and {"art", "context"} <= set(new["components"])
    assert np.isfinite(out["raw_score"]).all()
    assert out["is_anomaly"].any()  # the planted spike lies after the resume point
    _strict(new)


def test_combination_rules_follow_their_definitions():
    from scipy.stats import chi2

    from aihub.anomaly._kernels import _combine

    with pytest.raises(ValidationError) as err:
        DetectorParams(combine="median")
    assert err.value.field == "detection_config.combine" and "fisher" in str(err.value)
    with pytest.raises(ValidationError) as err:
        DetectorParams(probation=3)
    assert err.value.field == "detection_config.probation"
    scores = np.array([0.5, 0.3, 0.2, 0.1])  # -log10(p) / 10 of four components
    family = np.array([0, 0, 1, 2])  # the two residual components are one family
    fam = np.zeros(3)
    fam_n = np.array([2.0, 1.0, 1.0])
    assert _combine(scores, family, 0, fam, fam_n) == pytest.approx((0.4 + 0.2 + 0.1) / 3)
    assert _combine(scores, family, 1, fam, fam_n) == pytest.approx(0.4 - np.log10(3) / 10)  # Bonferroni
    p = 10.0 ** (-10 * np.array([0.4, 0.2, 0.1]))
    fisher = -np.log10(chi2.sf(-2 * np.log(p).sum(), 6)) / 10
    assert _combine(scores, family, 2, fam, fam_n) == pytest.approx(fisher, rel=1e-9)


def test_feedback_does_not_import_the_detectors():
    import ast
    from pathlib import Path

    from aihub.anomaly import feedback

    tree = ast.parse(Path(feedback.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "aihub.anomaly.detectors" not in imported  # detectors imports feedback; no cycle back
