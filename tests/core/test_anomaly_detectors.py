"""Detectors: causality, streaming == batch, planted anomalies on real data, output contract."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly import (
    ALGORITHMS,
    OUTPUT_COLUMNS,
    SEVERITIES,
    StreamingDetector,
    detect,
    detect_multivariate,
    init_state,
    update,
)
from aihub.errors import ValidationError


def _data_dir() -> Path:
    env = os.environ.get("AIHUB_SHARED_DIR")
    return (Path(env) if env else Path(__file__).resolve().parents[3] / "shared") / "data"


NAB = _data_dir() / "nab"


def _nab(rel: str, n: int | None = None) -> pd.DataFrame:
    path = NAB / rel
    if not path.exists():
        pytest.skip(f"{path} not found")
    d = pd.read_csv(path, parse_dates=["timestamp"])
    return d.iloc[:n].reset_index(drop=True) if n else d


NUMERIC = ["expected", "lower", "upper", "z", "anomaly_score", "raw_score"]


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b)
    for c in NUMERIC:
        np.testing.assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=c)
    assert (a["is_anomaly"].to_numpy() == b["is_anomaly"].to_numpy()).all()
    assert (a["severity"].to_numpy() == b["severity"].to_numpy()).all()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_scores_of_a_prefix_do_not_change_when_future_points_arrive(algorithm):
    n = 2500 if algorithm == "isolation_forest" else 4000
    d = _nab("realKnownCause/nyc_taxi.csv", n)
    full = detect(d, {"algorithm": algorithm})
    for cut in (700, 1801):
        _assert_same(detect(d.iloc[:cut], {"algorithm": algorithm}), full.iloc[:cut].reset_index(drop=True))


@pytest.mark.parametrize("algorithm", ["auto", "isolation_forest"])
def test_streaming_updates_equal_batch_scoring(algorithm):
    d = _nab("realKnownCause/ec2_request_latency_system_failure.csv", 3000)
    full, final_state = detect(d, {"algorithm": algorithm}, return_state=True)
    state = init_state({"algorithm": algorithm})
    parts = []
    for a, b in [(0, 1), (1, 40), (40, 1000), (1000, 1001), (1001, 2222), (2222, 3000)]:
        state = json.loads(json.dumps(state))  # stored as JSON between runs
        out, state = update(state, d.iloc[a:b])
        parts.append(out)
    _assert_same(pd.concat(parts, ignore_index=True), full)
    assert state["n_seen"] == final_state["n_seen"] == 3000
    det = StreamingDetector({"algorithm": algorithm})
    _assert_same(pd.concat([det.score(d.iloc[:1500]), det.score(d.iloc[1500:])], ignore_index=True), full)
    assert det.n_seen_ == 3000


def test_planted_spike_and_level_shift_on_real_taxi_demand():
    d = _nab("realKnownCause/nyc_taxi.csv", 4000)  # Jul-Sep 2014, before the labelled anomalies
    base_alarms = set(np.flatnonzero(detect(d)["is_anomaly"]))
    x = d["value"].to_numpy(float).copy()
    x[2500] += 8000  # a spike of ~5 typical half-hour changes
    x[3500:] *= 0.6  # demand drops 40% and stays down
    out = detect(d.assign(value=x))
    alarms = np.flatnonzero(out["is_anomaly"])
    assert any(2500 <= i <= 2503 for i in alarms), alarms
    assert any(3500 <= i <= 3510 for i in alarms), alarms
    # nothing new elsewhere (the taxi series has its own events, e.g. Labor Day)
    others = [i for i in alarms if not (2500 <= i <= 2503 or 3500 <= i <= 3548)]
    assert len(others) <= len(base_alarms) + 1
    shift = out.iloc[3500]
    assert shift["value"] < shift["lower"] and shift["z"] < -4


def test_no_alarms_on_seasonal_series_without_anomalies():
    for rel in ("artificialNoAnomaly/art_daily_small_noise.csv", "artificialNoAnomaly/art_noisy.csv",
                "artificialNoAnomaly/art_flatline.csv", "artificialNoAnomaly/art_daily_no_noise.csv"):
        out = detect(_nab(rel))
        probation = int(0.15 * len(out))  # NAB does not score the first 15% (learning period)
        assert not out["is_anomaly"].iloc[probation:].any(), rel
        assert out["is_anomaly"].sum() <= 1, rel


def test_output_contract_and_row_order():
    d = _nab("realKnownCause/nyc_taxi.csv", 2000)  # unique timestamps, so time order is unambiguous
    shuffled = d.sample(frac=1.0, random_state=3)
    out = detect(shuffled)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert (out["timestamp"].to_numpy() == shuffled["timestamp"].to_numpy()).all()  # input order kept
    assert (out["value"].to_numpy() == shuffled["value"].to_numpy()).all()
    assert out["anomaly_score"].between(0, 1).all() and out["raw_score"].between(0, 1).all()
    assert set(out["severity"]) <= {"none", *SEVERITIES}
    assert ((out["severity"] != "none") == out["is_anomaly"]).all()
    ok = out["expected"].notna()
    assert (out.loc[ok, "lower"] <= out.loc[ok, "expected"]).all() and (out.loc[ok, "expected"] <= out.loc[ok, "upper"]).all()
    # same scores as the time-ordered series
    ordered = detect(d)
    back = out.set_index(shuffled.index).sort_index()
    np.testing.assert_allclose(back["anomaly_score"], ordered["anomaly_score"])


def test_missing_values_are_not_scored_and_do_not_break_detection():
    d = _nab("realKnownCause/nyc_taxi.csv", 3000)
    x = d["value"].astype(float).copy()
    x.iloc[1000:1010] = np.nan
    out = detect(d.assign(value=x))
    assert not out["is_anomaly"].iloc[1000:1010].any()
    assert out["anomaly_score"].notna().all()


def test_invalid_input_is_reported_with_field():
    d = _nab("realKnownCause/nyc_taxi.csv", 200)
    with pytest.raises(ValidationError) as err:
        detect(d.rename(columns={"value": "passengers"}))
    assert err.value.field == "value"
    _, state = detect(d, return_state=True)
    with pytest.raises(ValidationError) as err:
        update(state, d.iloc[:5])  # older than what was already scored
    assert err.value.field == "timestamp"
    with pytest.raises(ValidationError) as err:
        update({"format": "something else"}, d)
    assert err.value.field == "state"
    with pytest.raises(ValidationError) as err:
        detect(d, {"algorithm": "lstm"})
    assert err.value.field == "algorithm" and "robust_seasonal" in str(err.value)
    with pytest.raises(ValidationError) as err:
        init_state({"algorithm": "auto"}, columns=["a", "b"])
    assert err.value.field == "algorithm"


def test_multivariate_forest_flags_a_broken_relationship():
    rng = np.random.default_rng(5)
    n = 600
    ts = pd.date_range("2023-01-01", periods=n, freq="D")
    count = rng.poisson(200, n).astype(float)
    revenue = count * 50 + rng.normal(0, 300, n)
    count[500], revenue[500] = 172, 11_400  # both within their usual ranges, but ~46% too much revenue per order
    frame = pd.DataFrame({"timestamp": ts, "revenue": revenue, "orders": count})
    out = detect_multivariate(frame, ["revenue", "orders"], {"contamination": 0.01})
    assert out["is_anomaly"].iloc[500]
    assert out["anomaly_score"].iloc[500] == out["anomaly_score"].iloc[100:].max()
    assert out["is_anomaly"].sum() <= 15


def test_a_long_series_is_scored_whole_with_its_spikes_found():
    n = 300_000  # the benchmark times 1,000,000 points against the previous auto
    rng = np.random.default_rng(0)
    ts = pd.date_range("2020-01-01", periods=n, freq="min")
    v = 100 + 10 * np.sin(2 * np.pi * np.arange(n) / 1440) + rng.normal(0, 2, n)
    spikes = np.arange(20_000, n, 40_000)
    v[spikes] += 40
    out = detect(pd.DataFrame({"timestamp": ts, "value": v}))
    assert len(out) == n and out["anomaly_score"].between(0, 1).all()
    assert (out["raw_score"].to_numpy()[spikes] >= 0.5).all()  # every 20-sigma spike reaches the alert level
    assert out["is_anomaly"].to_numpy()[spikes].sum() >= 5  # unless an alarm of the day before mutes it
    assert out["is_anomaly"].sum() <= n // 3000  # about one alarm per two days of minutely noise at most
