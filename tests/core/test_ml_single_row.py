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


# ---------------------------------------------------------------- the row plan (no data frames)
def _same(a, b) -> bool:
    """Equal values of equal types, NaN equal to NaN, nested."""
    import math

    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _frame_and_plan(model, values):
    """``predict_one`` through the one-row frame and through the row plan: outputs, or the error and its field."""
    import sys

    from aihub.errors import ValidationError
    from aihub.ml import predict_one

    frame_path = sys.modules["aihub.ml.predict"]._predict_one_frame
    out = []
    for fn in (frame_path, predict_one):
        try:
            out.append(fn(model, values))
        except ValidationError as exc:
            out.append(("error", str(exc), exc.field))
    return out


def _plan_frame(n: int = 260, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tenure": [None if i % 17 == 0 else float(v) for i, v in enumerate(rng.integers(0, 72, n))],
        "charges": [" " if i % 23 == 0 else f"{v:.2f}" for i, v in enumerate(rng.uniform(10, 3000, n))],
        "senior": rng.integers(0, 2, n),
        "plan": rng.choice(["basic", "plus", "pro", "rare"], n, p=[0.5, 0.3, 0.18, 0.02]),
        "region": rng.choice(["north", "south", None], n),
    })
    frame["churn"] = np.where((frame["tenure"].fillna(30) < 20) ^ (frame["plan"] == "pro"), "Yes", "No")
    frame["spend"] = frame["tenure"].fillna(10) * 3.5 + rng.normal(0, 5, n)
    frame["tier"] = rng.choice(["a", "b", "c"], n)
    return frame


ODD_VALUES = [
    {}, {"tenure": 5}, {"tenure": 5.5}, {"tenure": True}, {"tenure": None}, {"tenure": float("nan")},
    {"tenure": " $1,200 "}, {"tenure": "(12)"}, {"tenure": "twelve"}, {"tenure": float("inf")}, {"tenure": 2**60},
    {"charges": " "}, {"charges": "abc"}, {"plan": "enterprise"}, {"plan": None}, {"plan": ""}, {"plan": "  pro "},
    {"plan": 3}, {"plan": 3.0}, {"plan": 2.5}, {"plan": True}, {"region": float("nan")}, {"senior": "1"},
    {"tenure": np.int64(3)}, {"plan": np.float64(1.0)}, {"plan": pd.Timestamp("2024-01-01")},
]

PLAN_MODELS = {
    "forest": {"model_type": "churn_prediction", "target": "churn", "algorithm": "random_forest",
               "hyperparameters": {"n_estimators": 12}},
    "forest_drop_log": {"model_type": "churn_prediction", "target": "churn", "algorithm": "random_forest",
                        "hyperparameters": {"n_estimators": 10},
                        "feature_engineering": {"handle_missing": "drop", "log_transform": ["charges"],
                                                "max_categories": 3}},
    "logistic": {"model_type": "lead_scoring", "target": "churn", "algorithm": "logistic_regression"},
    "regression": {"model_type": "demand", "target": "spend", "algorithm": "random_forest",
                   "hyperparameters": {"n_estimators": 10}},
    "multiclass": {"target": "tier", "task": "classification", "algorithm": "random_forest",
                   "hyperparameters": {"n_estimators": 10}},
}


@pytest.fixture(scope="module", params=sorted(PLAN_MODELS))
def plan_model(request):
    from aihub.ml import train_model

    frame = _plan_frame()
    drop = {"churn", "spend", "tier"} - {PLAN_MODELS[request.param]["target"]}
    return request.param, train_model(PLAN_MODELS[request.param], frame.drop(columns=sorted(drop))), frame


def test_the_row_plan_gives_the_frame_paths_output_exactly(plan_model) -> None:
    """Prediction, probabilities, interval, issues, warnings, contributions and sentence: the same values and types."""
    from aihub.ml.single_row import row_plan

    name, model, frame = plan_model
    assert row_plan(model) is not None, f"{name}: the row plan must cover numbers and categories"
    rows = frame[model.features].head(40).to_dict("records")
    cases = rows + [{**rows[i % len(rows)], **odd} for i, odd in enumerate(ODD_VALUES)]
    for values in cases:
        slow, fast = _frame_and_plan(model, values)
        assert _same(slow, fast), (name, values, slow, fast)


def test_models_the_plan_does_not_cover_take_the_frame_path(mixed_model) -> None:
    """Dates and free text: no plan, and predict_one still works (the frame path)."""
    from aihub.ml import predict_one
    from aihub.ml.single_row import row_plan

    model, frame = mixed_model
    assert row_plan(model) is None
    assert predict_one(model, frame.drop(columns="churn").iloc[0].to_dict())["prediction"] in ("Yes", "No")


def test_the_row_plan_is_really_taken(plan_model) -> None:
    """The fast path runs for a plain row (a test that could not fail would prove nothing)."""
    import sys

    from aihub.ml import predict_one

    _name, model, frame = plan_model
    mod = sys.modules["aihub.ml.predict"]
    real, calls = mod._predict_one_frame, []
    mod._predict_one_frame = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        predict_one(model, frame[model.features].iloc[1].to_dict())
    finally:
        mod._predict_one_frame = real
    assert calls == []


def _sentence_on_frames(rows: pd.DataFrame, label, pred, output, base, space, max_up=3, max_down=2) -> str:
    """The sentence as summarize built it on data frames before the row plan (the reference)."""
    import sys

    ex = sys.modules["aihub.ml.explain"]
    up = rows[rows["contribution"] > 0].sort_values("contribution", ascending=False)
    down = rows[rows["contribution"] < 0].sort_values("contribution")
    up = [r for r in up.itertuples() if round(r.contribution, 2) != 0][:max_up]
    down = [r for r in down.itertuples() if round(r.contribution, 2) != 0][:max_down]

    def item(r) -> str:
        return f"{r.feature} = {ex._fmt_value(r.value)} ({ex._fmt_contrib(r.contribution, space)})"

    if space == "log-odds":
        head = f"{label} {pred:.2f} (log-odds {output:+.2f} vs. average {base:+.2f})"
    else:
        head = f"{label} {ex._fmt_output(pred, space)} (average {ex._fmt_output(base, space)})"
    parts = []
    if up:
        parts.append("is driven up by " + ex._join([item(r) for r in up]))
    if down:
        parts.append(("and " if up else "is ") + "driven down by " + ex._join([item(r) for r in down]))
    if not parts:
        return f"{head} is close to the average; no single feature moves it by 0.01 or more."
    return head + " " + ", ".join(parts) + "."


@pytest.mark.parametrize("seed", range(30))
def test_the_sentence_orders_ties_as_the_data_frame_sort_did(seed) -> None:
    """Many features, equal contributions: the list-based sentence names the same features in the same order."""
    from aihub.ml.explain import sentence

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    contrib = rng.choice([-0.2, -0.05, -0.004, 0.0, 0.004, 0.05, 0.2, 0.31], n) + (rng.random(n) < 0.3) * 0.01
    rows = pd.DataFrame({"feature": [f"f{j}" for j in range(n)], "value": [f"v{j}" for j in range(n)],
                         "contribution": contrib})
    order = rows["contribution"].abs().sort_values(ascending=False).index
    rows = rows.reindex(order).reset_index(drop=True)
    space = ["probability", "log-odds", "value"][seed % 3]
    args = ("P(x)", 0.4, -0.4, 0.3, space)
    assert sentence(rows.to_dict("records"), *args) == _sentence_on_frames(rows, *args)
