"""Proxy streams for the held-out NAB categories: real carriers, fixed split, NAB label windows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aihub.anomaly.proxy import (
    CATEGORIES,
    Carrier,
    carrier_pool,
    load_carriers,
    proxy_corpus,
    proxy_stream,
    write_corpus,
)
from aihub.anomaly.synthetic import probation
from aihub.errors import ValidationError
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def carriers():
    return load_carriers(shared_file("m4_hourly").parent)


def test_carriers_are_the_real_shared_series(carriers):
    assert len([k for k in carriers if k.startswith("m4h:")]) == 100
    assert all(len(carriers[k].values) == 748 for k in carriers if k.startswith("m4h:"))
    cnt = carriers["bike:cnt_2011"].values
    assert len(cnt) == 8760 and cnt.min() >= 1 and np.all(cnt == np.round(cnt))  # hourly rentals of one year
    assert {"superstore:East_orders", "superstore:West_sales", "prophet:peyton_views"} <= set(carriers)


def test_halves_are_split_by_carrier_series(carriers):
    for cat in CATEGORIES:
        dev, test = set(carrier_pool(carriers, cat.name, "dev")), set(carrier_pool(carriers, cat.name, "test"))
        assert dev and test and not dev & test, cat.name
    every = {h: {c for cat in CATEGORIES for c in carrier_pool(carriers, cat.name, h)} for h in ("dev", "test")}
    assert not every["dev"] & every["test"]


def test_streams_are_shaped_like_their_category_with_nab_windows(carriers):
    streams = proxy_corpus(carriers, "test")
    assert len(streams) == sum(c.files for c in CATEGORIES)
    again = proxy_corpus(carriers, "test")
    for s, t in zip(streams, again):  # fixed seeds
        pd.testing.assert_frame_equal(s.frame, t.frame)
        assert s.windows == t.windows
    by_cat = {c.name: c for c in CATEGORIES}
    for s in streams:
        cat = by_cat[s.key.split("/")[0]]
        n = len(s.frame)
        assert n <= cat.length and s.frame["timestamp"].is_monotonic_increasing
        assert 1 <= len(s.windows) <= 3 and len(s.kinds) == len(s.windows)
        assert all(probation(n) < r < n for r in s.starts)
        ts = s.frame["timestamp"]
        for (a, b), r in zip(s.windows, s.starts):
            inside = int(((ts >= a) & (ts <= b)).sum())
            assert abs(inside - (int(0.1 * n / len(s.windows)) // 2 * 2 + 1)) <= 1  # NAB: 10% of n / anomalies
            assert pd.Timestamp(a) <= ts.iloc[r] <= pd.Timestamp(b)
        if cat.name == "tweets":
            v = s.frame["value"].to_numpy()
            assert np.all(v >= 0) and np.all(v == np.round(v))  # counts
        if cat.freq == "5min":
            assert (ts.diff().dropna() >= pd.Timedelta("5min")).all()


def test_every_planted_kind_changes_the_series_at_its_start():
    rng = np.random.default_rng(0)
    t = np.arange(2000)
    base = Carrier("x:y", 100 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, 2000), "h", True, False)
    cat = next(c for c in CATEGORIES if c.name == "ad")
    for kind in ("spike", "drop", "level_shift", "burst", "variance_change", "stuck", "trend_change"):
        one = type(cat)(cat.name, cat.nab, cat.freq, cat.length, 1, {kind: 1.0})
        s = proxy_stream(base, one, np.random.default_rng(3), "ad/x.csv")
        clean = proxy_stream(base, type(cat)(cat.name, cat.nab, cat.freq, cat.length, 1, {kind: 1.0}),
                             np.random.default_rng(3), "ad/x.csv")
        assert s.kinds == [kind] * len(s.kinds)
        r = s.starts[0]
        assert s.frame["value"].iloc[r:].to_numpy().std() > 0 and clean.starts == s.starts
        seg = s.frame["value"].to_numpy()[r : r + 400]
        ref = base.values[: len(s.frame)][r : r + 400]
        if kind != "stuck":
            assert not np.allclose(seg, ref[: len(seg)]), kind


def test_write_corpus_gives_the_scorer_its_inputs(carriers, tmp_path):
    streams = proxy_corpus(carriers, "dev")[:3]
    wins = json.loads(write_corpus(streams, tmp_path).read_text())
    assert set(wins) == {s.key for s in streams}
    kinds = json.loads((tmp_path / "kinds.json").read_text())
    for s in streams:
        assert len(pd.read_csv(tmp_path / s.key)) == len(s.frame) and len(kinds[s.key]) == len(wins[s.key])


def test_bad_half_or_category_is_refused(carriers):
    with pytest.raises(ValidationError, match="half"):
        carrier_pool(carriers, "ad", "train")
    with pytest.raises(ValidationError, match="category"):
        carrier_pool(carriers, "radio", "dev")
