"""The single-row fast paths give exactly what the column (batch) paths give.

One form row goes through plain-Python cell parsing (:data:`aihub.ml.preprocess.SMALL_FRAME`) and a serial
TreeSHAP kernel; a batch goes through pandas string methods and the parallel kernel. Both must agree cell by
cell, so a single prediction never differs from the same row in a batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aihub.ml import preprocess
from aihub.ml.preprocess import SMALL_FRAME, parse_numeric, to_category_strings

CELLS = [
    "12", " 12.5 ", "", " ", "NA", "n/a", "null", "-", "?", "#N/A", "none", "$84,835.00 ", "(1,200)", "1,234",
    "12,34", "1e5", "-3.5e-2", "inf", "-inf", "Infinity", "abc", "1_000", "0x10", "USD 12", "12 EUR", "€ 5",
    "+7", ".5", "5.", None, np.nan, pd.NA, 3, 2.5, float("inf"), True, "True", "١٢", "12 apples", "--1",
]


def _big(values: list) -> pd.Series:
    """The values padded past SMALL_FRAME so the column path runs."""
    pad = ["pad"] * (SMALL_FRAME + 1)
    return pd.Series(list(values) + pad, dtype=object)


@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_one_cell_parses_like_the_column_path(cell) -> None:
    small_num, small_bad = parse_numeric(pd.Series([cell], dtype=object))
    big_num, big_bad = parse_numeric(_big([cell]))
    assert small_bad.iloc[0] == big_bad.iloc[0]
    assert (np.isnan(small_num.iloc[0]) and np.isnan(big_num.iloc[0])) or small_num.iloc[0] == big_num.iloc[0]
    small_cat = to_category_strings(pd.Series([cell], dtype=object)).iloc[0]
    big_cat = to_category_strings(_big([cell])).iloc[0]
    assert isinstance(small_cat, str) == isinstance(big_cat, str)
    if isinstance(big_cat, str):
        assert small_cat == big_cat
    else:
        assert isinstance(small_cat, float) and np.isnan(small_cat) and np.isnan(big_cat)


def test_the_small_path_is_really_taken() -> None:
    """A test that could not fail would prove nothing: the small path must run for one row."""
    calls = []
    real = preprocess._number_cell
    preprocess._number_cell = lambda v: calls.append(v) or real(v)
    try:
        parse_numeric(pd.Series(["1"], dtype=object))
        parse_numeric(_big(["1"]))
    finally:
        preprocess._number_cell = real
    assert calls == ["1"]


def test_few_rows_treeshap_equals_the_batch_kernel() -> None:
    """The serial kernel of a single prediction gives the parallel batch kernel's numbers, and adds up."""
    from sklearn.ensemble import RandomForestClassifier

    from aihub.ml import _treeshap

    if not _treeshap.available():
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=20, min_samples_leaf=3, random_state=0).fit(X, y)
    rows = X[:3]
    big = np.vstack([rows, X[3:3 + 2 * _treeshap.FEW_ROWS]])  # past FEW_ROWS: the parallel kernel
    few, base = _treeshap.forest_shap(forest, rows, 1)
    many, base2 = _treeshap.forest_shap(forest, big, 1)
    assert few.shape == (3, 6) and base == base2
    np.testing.assert_allclose(few, many[:3], rtol=0, atol=1e-12)
    np.testing.assert_allclose(base + few.sum(axis=1), forest.predict_proba(rows)[:, 1], atol=1e-9)


@pytest.fixture(scope="module")
def mixed_model():
    """A small forest on numbers (one with currency text), categories, dates and free text."""
    from aihub.ml import train_model

    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({
        "tenure": rng.integers(0, 72, n).astype(float),
        "charges": [f"${v:,.2f}" for v in rng.uniform(10, 3000, n)],
        "plan": rng.choice(["basic", "plus", "pro", "rare"], n, p=[0.5, 0.3, 0.18, 0.02]),
        "region": rng.choice(["north", "south", None], n),
        "signed": pd.date_range("2020-01-01", periods=n, freq="3D").strftime("%Y-%m-%d"),
        "note": rng.choice(["very happy with the service", "slow support and high price", "fine overall"], n),
    })
    frame["churn"] = np.where((frame["tenure"] < 20) ^ (frame["plan"] == "pro"), "Yes", "No")
    return train_model({"model_type": "churn_prediction", "target": "churn", "algorithm": "random_forest",
                        "hyperparameters": {"n_estimators": 15}}, frame), frame


def test_predict_one_equals_the_batch_prediction_and_explanation(mixed_model) -> None:
    """One row through the fast path (validated and transformed once, serial SHAP) = the same row in a batch."""
    from aihub.ml import explain, predict, predict_one

    model, frame = mixed_model
    rows = frame.drop(columns="churn").head(5)
    batch = predict(model, rows)
    ex = explain(model, rows)
    for i, values in enumerate(rows.to_dict("records")):
        one = predict_one(model, values)
        assert one["prediction"] == batch["prediction"].iloc[i]
        assert one["probability"] == pytest.approx(batch["probability"].iloc[i], abs=1e-12)
        got = {c["feature"]: c["contribution"] for c in one["contributions"]}
        want = ex.contributions.iloc[i].to_dict()
        assert got == pytest.approx(want, abs=1e-9)
    one_x = model.transform(rows.head(1))
    np.testing.assert_array_equal(one_x, model.pipeline.named_steps["preprocess"].transform(
        model.pipeline.named_steps["prepare"].transform(rows.head(1))))


def test_predict_one_names_the_bad_field_and_warns_once(mixed_model) -> None:
    from aihub.errors import ValidationError
    from aihub.ml import predict_one

    model, frame = mixed_model
    values = frame.drop(columns="churn").iloc[0].to_dict()
    with pytest.raises(ValidationError) as err:
        predict_one(model, {**values, "tenure": "twelve"})
    assert err.value.field == "tenure" and "twelve" in str(err.value)
    out = predict_one(model, {**values, "plan": "enterprise"})
    assert out["warning"].count("enterprise") == 1 and "not seen in training" in out["warning"]
