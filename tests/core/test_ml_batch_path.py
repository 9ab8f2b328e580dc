"""The batch path of :func:`aihub.ml.predict` gives exactly what the straightforward path gives.

The batch path works per issue, not per row, for its messages, and parses each column once (the pipeline's
``FrameCoercer`` is not run again on the frame :func:`aihub.ml.validate.validate` already parsed). The
references here are the plain versions: messages gathered row by row, and the whole pipeline run on the
cleaned rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from aihub.ml.predict import _messages
from aihub.ml.validate import RowIssue


def _messages_row_by_row(issues: list[RowIssue], n: int) -> tuple[list, list]:
    """The former ``_messages``: a list per row, joined."""
    errors: list = [None] * n
    warns: list[list[str]] = [[] for _ in range(n)]
    for iss in issues:
        if iss.fatal:
            errors[iss.row - 1] = iss.message if errors[iss.row - 1] is None else errors[iss.row - 1] + "; " + iss.message
        else:
            warns[iss.row - 1].append(iss.message)
    return errors, ["; ".join(w) if w else None for w in warns]


@pytest.mark.parametrize("seed", range(5))
def test_messages_equal_the_row_by_row_reference(seed) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    rows = np.sort(rng.integers(1, n + 1, 200))
    issues = [RowIssue(int(r), f"c{k}", None, f"row {r}: m{k}", fatal=bool(rng.random() < 0.4))
              for k, r in enumerate(rows)]
    issues.sort(key=lambda x: (x.row, not x.fatal))
    got, want = _messages(issues, n), _messages_row_by_row(issues, n)
    assert got == want
    assert any(e and ";" in e for e in got[0]) and any(w and ";" in w for w in got[1])  # joins were exercised
    assert _messages([], 4) == ([None] * 4, [None] * 4)


# ---------------------------------------------------------------- the batch path against the plain pipeline
TELCO_MODELS = {
    "forest": {"model_type": "churn_prediction", "target": "Churn", "algorithm": "random_forest",
               "hyperparameters": {"n_estimators": 20}},
    "lead_logistic_drop_log": {"model_type": "lead_scoring", "target": "Churn", "algorithm": "logistic_regression",
                               "feature_engineering": {"handle_missing": "drop", "log_transform": ["TotalCharges"]}},
    "regression": {"task": "regression", "target": "MonthlyCharges", "algorithm": "random_forest",
                   "hyperparameters": {"n_estimators": 15},
                   "feature_engineering": {"log_transform": ["TotalCharges"]}},
    "multiclass_target_encoded": {"task": "classification", "target": "Contract", "algorithm": "random_forest",
                                  "hyperparameters": {"n_estimators": 15}, "feature_engineering": {"max_categories": 2}},
    "forest_target_encoded_most_frequent": {
        "model_type": "churn_prediction", "target": "Churn", "algorithm": "random_forest",
        "hyperparameters": {"n_estimators": 15},
        "feature_engineering": {"max_categories": 2, "handle_missing": "most_frequent", "normalize": True}},
    "clustering": {"task": "clustering", "features": ["tenure", "MonthlyCharges", "TotalCharges", "Contract",
                                                       "InternetService"], "hyperparameters": {"max_clusters": 4}},
}


@pytest.fixture(scope="module")
def telco_text():
    """The Telco table as a CSV upload reads it: every cell text, blanks as ''."""
    import pandas as pd

    from tests.conftest import DATA

    return pd.read_csv(DATA / "telco_churn" / "telco_customer_churn.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module", params=sorted(TELCO_MODELS))
def telco_model(request, telco_text):
    from aihub.ml import train_model

    return request.param, train_model(TELCO_MODELS[request.param], telco_text.head(1500))


def _messy(telco_text, model, n: int = 700, seed: int = 5):
    """Real Telco rows (not the training rows) with blanks, bad numbers, unseen and padded categories,
    ' ' in TotalCharges, currency text and None cells."""
    rng = np.random.default_rng(seed)
    frame = telco_text.iloc[2000:2000 + n].copy().astype(object)
    frame.index = frame.index * 3 + 7  # an index that is not 0..n-1: output keeps it
    cells = {
        "tenure": ["", " ", "abc", None, "12.0", " 7 "],
        "MonthlyCharges": ["", "n/a", "$84.35", "1,234.50", "12,5x", "inf", None],
        "TotalCharges": [" ", "", "(120.5)", "USD 99", "-", "1e3"],
        "Contract": ["", "Biennial", "  Two year ", None, "One year"],
        "InternetService": ["Satellite", "", " DSL"],
        "PaymentMethod": ["Cash", ""],
        "SeniorCitizen": ["", "2", "x"],
    }
    for col, values in cells.items():
        if col not in frame.columns or col == model.target:
            continue
        hit = rng.random(n) < 0.06
        frame.loc[frame.index[hit], col] = rng.choice(np.asarray(values, dtype=object), int(hit.sum()))
    return frame.drop(columns=[c for c in [model.target] if c])


def _reference(model, frame, positive_class=None):
    """The straightforward path: validate, then the whole pipeline (FrameCoercer first) on the raw valid rows."""
    from aihub.ml.validate import validate

    ok, issues, clean = validate(model, frame)
    raw = frame.iloc[np.flatnonzero(ok)]
    errors, warns = _messages_row_by_row(issues, len(frame))
    if model.task == "classification":
        out = model.predict_proba(raw)
        return ok, out, model.decide(out), errors, warns, clean
    return ok, model.pipeline.predict(raw), None, errors, warns, clean


def test_the_batch_path_equals_the_plain_pipeline_on_messy_telco_rows(telco_model, telco_text) -> None:
    """Probabilities, predictions, labels, errors and warnings: bit for bit and in the same order."""
    from aihub.ml import predict

    name, model = telco_model
    frame = _messy(telco_text, model)
    out = predict(model, frame)
    ok, ref, decided, errors, warns, _ = _reference(model, frame)
    assert 0 < ok.sum() < len(frame), name
    assert list(out.index) == list(frame.index)
    assert out["error"].tolist() == errors and out["warning"].tolist() == warns
    assert any(w and "not seen in training" in w for w in warns), name  # unseen categories were exercised
    np.testing.assert_array_equal(out["error"].isna().to_numpy(), ok)
    if model.task == "classification":
        classes = list(model.classes)
        if len(classes) == 2:
            got = out["probability"].to_numpy()[ok]
            np.testing.assert_array_equal(got, ref[:, classes.index(model.positive_class)])
        else:
            got = np.column_stack([out[f"probability_{c}"].to_numpy()[ok] for c in classes])
            np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(out["prediction"].to_numpy()[ok], decided)
        assert out["prediction"].to_numpy()[~ok].tolist() == [None] * int((~ok).sum())
    elif model.task == "regression":
        np.testing.assert_array_equal(out["prediction"].to_numpy()[ok], ref)
        assert np.isnan(out["prediction"].to_numpy()[~ok]).all()
    else:
        np.testing.assert_array_equal(out["cluster"].to_numpy()[ok].astype(int), ref)


def test_the_parsed_frame_needs_no_second_parse(telco_model, telco_text) -> None:
    """FrameCoercer.transform_parsed(clean) = transform(clean) = transform(raw rows); and predict never re-parses."""
    import pandas as pd

    from aihub.ml import predict, preprocess

    name, model = telco_model
    frame = _messy(telco_text, model)
    ok, _, _, _, _, clean = _reference(model, frame)
    coercer = model.pipeline.named_steps["prepare"]
    valid = clean.iloc[np.flatnonzero(ok)]
    fast = coercer.transform_parsed(valid)
    pd.testing.assert_frame_equal(fast, coercer.transform(valid), check_exact=True)
    pd.testing.assert_frame_equal(fast, coercer.transform(frame.iloc[np.flatnonzero(ok)]), check_exact=True)
    np.testing.assert_array_equal(model.transform(valid, parsed=True), model.transform(frame.iloc[np.flatnonzero(ok)]))
    calls = []
    real_num, real_cat = preprocess.parse_numeric, preprocess.to_category_strings
    preprocess.parse_numeric = lambda v: calls.append(v.name) or real_num(v)
    preprocess.to_category_strings = lambda v: calls.append(v.name) or real_cat(v)
    try:
        predict(model, frame)
        assert calls == [], f"{name}: the coercer parsed {sorted(set(calls))} again"
        coercer.transform(valid)  # the spy sees the coercer's own parse: the assertion above can fail
        assert calls, name
    finally:
        preprocess.parse_numeric, preprocess.to_category_strings = real_num, real_cat


def test_the_category_tables_give_the_column_transformers_matrix(telco_model, telco_text) -> None:
    """Category blocks filled from the row plan's tables = ``ColumnTransformer.transform`` of the raw rows, and the
    tables are really used for every model the plan covers."""
    from aihub.ml import predict
    from aihub.ml.predict import _transform_valid
    from aihub.ml.single_row import row_plan

    name, model = telco_model
    frame = _messy(telco_text, model)
    ok, _, _, _, _, clean = _reference(model, frame)
    raw = frame.iloc[np.flatnonzero(ok)]
    want = model.pipeline.named_steps["preprocess"].transform(model.pipeline.named_steps["prepare"].transform(raw))
    got = _transform_valid(model, clean.iloc[np.flatnonzero(ok)])
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert (row_plan(model) is None) == (model.task == "clustering"), name
    if model.task != "clustering":
        calls = []
        model.transform = lambda *a, **k: calls.append(1)  # the general path would call it
        try:
            predict(model, frame)
        finally:
            del model.transform
        assert calls == [], name


def test_explanations_on_the_batch_path_equal_explaining_the_raw_rows(telco_text) -> None:
    """``explain=True`` reads the matrix the prediction used: the same sentences and contributions."""
    from aihub.ml import explain, predict, train_model
    from aihub.ml.explain import format_contributions, summarize

    model = train_model(TELCO_MODELS["forest"], telco_text.head(1500))
    frame = _messy(telco_text, model, n=150)
    out = predict(model, frame, explain=True)
    ok = out["error"].isna().to_numpy()
    ex = explain(model, frame.iloc[np.flatnonzero(ok)])
    want = [summarize(ex, j) for j in range(int(ok.sum()))]
    assert out["explanation"].to_numpy()[ok].tolist() == want
    assert out["top_contributions"].to_numpy()[ok].tolist() == [format_contributions(ex, j, 3) for j in range(int(ok.sum()))]


def test_dates_and_text_on_the_batch_path() -> None:
    """A model with date and free-text columns: the same figures as the plain pipeline on the raw rows."""
    import pandas as pd

    from aihub.ml import predict, train_model

    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({
        "tenure": rng.integers(0, 72, n).astype(str),
        "charges": [f"${v:,.2f}" for v in rng.uniform(10, 3000, n)],
        "plan": rng.choice(["basic", "plus", "pro", "rare"], n, p=[0.5, 0.3, 0.18, 0.02]),
        "signed": pd.date_range("2020-01-01", periods=n, freq="3D").strftime("%Y-%m-%d"),
        "note": rng.choice(["very happy with the service", "slow support and high price", "fine overall"], n),
    })
    frame["churn"] = np.where((frame["tenure"].astype(int) < 20) ^ (frame["plan"] == "pro"), "Yes", "No")
    model = train_model({"model_type": "churn_prediction", "target": "churn", "algorithm": "random_forest",
                         "hyperparameters": {"n_estimators": 15}}, frame)
    x = frame.drop(columns="churn").sample(120, random_state=2).astype(object)
    x.iloc[::7, 0] = "abc"
    x.iloc[::5, 3] = "not a date"
    x.iloc[::6, 4] = None
    x.iloc[::9, 2] = "enterprise"
    out = predict(model, x)
    ok, ref, decided, errors, warns, _ = _reference(model, x)
    assert out["error"].tolist() == errors and out["warning"].tolist() == warns and 0 < ok.sum() < len(x)
    np.testing.assert_array_equal(out["probability"].to_numpy()[ok], ref[:, list(model.classes).index(model.positive_class)])
    np.testing.assert_array_equal(out["prediction"].to_numpy()[ok], decided)


# ---------------------------------------------------------------- the column parsers on large chunks
def _parse_numeric_every_cell(values):
    """The former column parser: every cell through the blank check and every rewrite."""
    import pandas as pd

    from aihub.ml import preprocess as p

    obj = values.astype(object)
    na = obj.isna().to_numpy()
    text = obj.where(~na, "").astype(str).str.strip()
    blank = na | text.str.lower().isin(p._BLANK_TOKENS).to_numpy()
    cleaned = text.str.replace(p._ACCOUNTING_NEGATIVE, r"-\1", regex=True)
    cleaned = cleaned.str.replace(p._CURRENCY_AFTER, "", regex=True).str.replace(p._CURRENCY, r"\1", regex=True)
    thousands = cleaned.str.match(p._THOUSANDS)
    cleaned = cleaned.where(~thousands, cleaned.str.replace(",", "", regex=False))
    out = pd.to_numeric(cleaned.where(~blank, None), errors="coerce").astype("float64")
    arr = out.to_numpy()
    bad = (~blank) & (np.isnan(arr) | np.isinf(arr))
    return np.where(np.isinf(arr), np.nan, arr), bad


def _number_texts(rng, n: int) -> list:
    from tests.core.test_ml_single_row import CELLS

    plain = [f"{v:.2f}" for v in rng.uniform(-500, 9000, n)] + [str(int(v)) for v in rng.integers(-10**6, 10**6, n)]
    odd = ["1e5", "-3.5E-2", "+7", ".5", "5.", "007", "1e", "e5", "1.2.3", "--1", "+-1", "1 2", "١٢", "12\n",
           "99999999999999999999", "0.1e-400", "1e400", "NaN", "Inf", "-", "$1,234.56", "(1,200)", "12 USD",
           "€ 5", "1,234", "12,34", " 42 ", "4 2"]
    pool = plain + odd + [c for c in CELLS if not isinstance(c, (int, float)) or isinstance(c, bool)]
    return list(rng.choice(np.asarray(pool, dtype=object), n))


@pytest.mark.parametrize("seed", range(4))
def test_parse_numeric_equals_the_every_cell_parser(seed) -> None:
    """Plain numbers skip the rewrites; the numbers and the unparseable flags stay the same, cell for cell."""
    import pandas as pd

    from aihub.ml.preprocess import _parse_numeric_each, parse_numeric

    rng = np.random.default_rng(seed)
    values = pd.Series(_number_texts(rng, 3000), dtype=object)
    want_num, want_bad = _parse_numeric_every_cell(values)
    for got_num, got_bad in (_parse_numeric_each(values), parse_numeric(values)):
        np.testing.assert_array_equal(got_num.to_numpy(), want_num)
        np.testing.assert_array_equal(got_bad.to_numpy(), want_bad)
    assert want_bad.any() and np.isfinite(want_num).sum() > 2000


def _old_categorical(checker, spec):
    """The former ``_Checker.categorical`` of a large column: every cell checked for blank and membership."""
    from aihub.ml.preprocess import to_category_strings

    cats = to_category_strings(checker.frame[spec.name])
    blank = cats.isna().to_numpy()
    checker.blanks(spec.name, blank)
    allowed = checker.known.get(spec.name)
    if allowed:
        for i in np.flatnonzero(~blank & ~cats.isin(allowed).to_numpy()):
            checker.warn(i, spec.name, cats.iloc[i], f"{spec.name} = {cats.iloc[i]!r} was not seen in training; predicted as an unknown value")
    return cats.to_numpy(dtype=object)


def test_category_checks_per_distinct_value_equal_the_cell_by_cell_checks(telco_model, telco_text) -> None:
    """Issues (rows, values, messages, order) and cells, including padded duplicates, None, NaN and an all-blank column."""
    import pandas as pd

    from aihub.ml.validate import _Checker

    name, model = telco_model
    frame = _messy(telco_text, model)
    cat_specs = [s for s in model.feature_schema if s.kind == "categorical"]
    assert cat_specs, name
    frame[cat_specs[0].name] = None  # every cell missing
    if len(cat_specs) > 1:
        frame.loc[frame.index[::11], cat_specs[1].name] = np.nan
    new, old = _Checker(model, frame), _Checker(model, frame)
    for spec in cat_specs:
        got, want = new.categorical(spec), _old_categorical(old, spec)
        assert pd.isna(got).tolist() == pd.isna(want).tolist()
        assert got[~pd.isna(got)].tolist() == want[~pd.isna(want)].tolist()
    assert [i.to_dict() for i in new.issues] == [i.to_dict() for i in old.issues]
    assert [type(i.value) for i in new.issues] == [type(i.value) for i in old.issues]
    np.testing.assert_array_equal(new.ok, old.ok)
    assert any(not i.fatal for i in new.issues), name


def test_a_column_with_every_cell_missing_is_predicted_as_blank(telco_text) -> None:
    """A large chunk whose category and number columns hold only None used to raise IndexError."""
    from aihub.ml import predict, train_model

    model = train_model(TELCO_MODELS["forest"], telco_text.head(1500))
    frame = telco_text.iloc[2000:2100].drop(columns="Churn").astype(object)
    frame["Contract"] = None
    frame["TotalCharges"] = None
    out = predict(model, frame)
    assert out["error"].isna().all() and out["probability"].notna().all()
