"""Batch and single predictions with per-row validation.

:func:`predict` never lets one bad row sink a batch: rows that fail validation
against the model's feature schema (:mod:`aihub.ml.validate`) get a message in
the ``error`` column (naming the 1-based row number, column and value) and no
prediction; every other row is predicted. Output rows keep the input order
and index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import ValidationError
from aihub.ml import external
from aihub.ml.explain import explain as _explain
from aihub.ml.explain import explain_transformed_row, format_contributions, summarize
from aihub.ml.intervals import interval_bounds
from aihub.ml.model import TrainedModel, thread_limit
from aihub.ml.preprocess import SMALL_FRAME
from aihub.ml.single_row import row_plan
from aihub.ml.targets import match_class
from aihub.ml.validate import RowIssue, prepare_input, validate, validate_rows

__all__ = ["BANDS", "RowIssue", "predict", "predict_one", "prepare_input", "validate_rows"]

BANDS = ("hot", "warm", "cold")

#: Former private name of :func:`aihub.ml.validate.validate` (``benchmarks/predictions_db.py`` uses it).
_validate = validate


def _band(score: float, bands: dict[str, float]) -> str:
    if score >= bands["hot"]:
        return "hot"
    if score >= bands["warm"]:
        return "warm"
    return "cold"


def _estimator_proba(est: Any, Xt: np.ndarray) -> np.ndarray:
    """``est.predict_proba(Xt)`` on preprocessed rows; a random forest sums its trees here directly.

    For a row or two, scikit-learn's forest spends most of its time dispatching each tree through joblib
    (a batch chunk of 2,000 rows still pays about 3 ms of its 17 ms for it); adding the trees'
    ``predict_proba(check_input=False)`` in tree order, then dividing by their number, is what the forest does
    itself (``sklearn.ensemble._forest._accumulate_prediction``), so the figures are identical. A forest that
    predicts on several threads (``n_jobs`` other than 1) keeps them for more than 4 rows.
    """
    from sklearn.ensemble import RandomForestClassifier

    if (not isinstance(est, RandomForestClassifier) or est.n_outputs_ != 1
            or (len(Xt) > 4 and est.n_jobs not in (None, 1))):
        return est.predict_proba(Xt)
    X32 = np.ascontiguousarray(Xt, dtype=np.float32)
    total = np.zeros((len(X32), len(est.classes_)))
    for tree in est.estimators_:
        total += tree.predict_proba(X32, check_input=False)
    return total / len(est.estimators_)


def _transform_valid(model: TrainedModel, valid: pd.DataFrame) -> np.ndarray:
    """``model.transform(valid, parsed=True)``: the valid rows of ``validate``'s clean frame, preprocessed.

    A model with a :class:`~aihub.ml.single_row.RowPlan` fills its category blocks (imputer, one-hot or target
    encoder, optional scaler) per distinct value: those steps work cell by cell, so a row's cells are the
    block's own output for its value, which the plan holds for every category, the blank and an unseen
    value (checked bit for bit when the plan is built). ``OneHotEncoder.transform`` looks every cell up in a
    Python dict; here each column is factorised once and its table rows are copied (about 0.04 s CPU less per
    100,000 Telco rows). The other blocks run as fitted, and the blocks are stacked as ``ColumnTransformer`` does
    (dense, ``remainder="drop"``).
    """
    plan = row_plan(model) if len(valid) > SMALL_FRAME else None
    if plan is None:
        return model.transform(valid, parsed=True)
    X = model.pipeline.named_steps["prepare"].transform_parsed(valid)
    blocks = {b.start: b for b in plan.categories}
    out = np.empty((len(X), plan.width), dtype=np.float64)
    start = 0
    for name, trans, cols in model.pipeline.named_steps["preprocess"].transformers_:
        if isinstance(trans, str) or (not isinstance(cols, str) and len(cols) == 0):
            continue  # "drop" (the plan covers no other string)
        block = blocks.get(start) if name in ("cat", "te") else None
        if block is None:
            cells = np.asarray(trans.transform(X[cols]), dtype=np.float64)
            out[:, start:start + cells.shape[1]] = cells
            start += cells.shape[1]
            continue
        for j, c in enumerate(block.columns):
            codes, uniques = pd.factorize(X[c].to_numpy(dtype=object), use_na_sentinel=True)
            rows = [block.tables[j].get(v, block.unseen[j]) if isinstance(v, str) else block.blank[j] for v in uniques]
            table = np.vstack(rows + [block.blank[j]])  # code -1 (blank) takes the last row
            out[:, start:start + table.shape[1]] = table[codes]
            start += table.shape[1]
    return out


def _classify(model: TrainedModel, out: pd.DataFrame, valid: pd.DataFrame | None, ok: np.ndarray, positive_class: Any,
              Xt: np.ndarray | None = None) -> None:
    classes = list(model.classes)
    n = len(out)
    proba = np.full((n, len(classes)), np.nan)
    pred = np.full(n, None, dtype=object)
    if valid is not None:
        proba[ok] = model.predict_proba(valid) if Xt is None else model.calibrate(_estimator_proba(model.estimator, Xt))
        pred[ok] = model.decide(proba[ok])
    out["prediction"] = pred
    if len(classes) == 2:
        pos = model.positive_class if positive_class is None else match_class(classes, positive_class)
        out["probability"] = proba[:, classes.index(pos)]
        out["positive_class"] = np.where(ok, pos, None)
    else:
        for j, c in enumerate(classes):
            out[f"probability_{c}"] = proba[:, j]
    out["confidence"] = np.where(ok, np.nanmax(np.where(np.isnan(proba), -1, proba), axis=1), np.nan)
    if model.config.model_type == "lead_scoring" and len(classes) == 2:
        p = out["probability"].to_numpy(dtype=float)
        score = np.where(np.isnan(p), np.nan, np.round(100.0 * np.nan_to_num(p)))
        out["lead_score"] = pd.array([None if np.isnan(s) else int(s) for s in score], dtype="Int64")
        out["band"] = [None if np.isnan(s) else _band(s, model.config.score_bands) for s in score]


def _regress(model: TrainedModel, out: pd.DataFrame, valid: pd.DataFrame | None, ok: np.ndarray,
             Xt: np.ndarray | None = None) -> None:
    pred = np.full(len(out), np.nan)
    if valid is not None:
        pred[ok] = model.pipeline.predict(valid) if Xt is None else model.estimator.predict(Xt)
    out["prediction"] = pred
    if model.interval is not None:
        out["lower"], out["upper"] = interval_bounds(pred, model.interval)


def _segment(model: TrainedModel, out: pd.DataFrame, valid: pd.DataFrame | None, ok: np.ndarray,
             Xt: np.ndarray | None = None) -> None:
    n = len(out)
    labels = pd.array([None] * n, dtype="Int64")
    names = np.full(n, None, dtype=object)
    if valid is not None:
        lab = model.pipeline.predict(valid) if Xt is None else model.estimator.predict(Xt)
        labels[ok] = lab
        seg = model.segments or {}
        names[ok] = [seg.get(str(int(c)), {}).get("name", f"Segment {int(c) + 1}") for c in lab]
    out["cluster"] = labels
    out["segment"] = names


def _messages(issues: list[RowIssue], n: int) -> tuple[list[str | None], list[str | None]]:
    """Per row, its fatal messages and its warnings, each joined by ``"; "`` in issue order (None when it has none).

    Work beyond the two lists of ``n`` Nones is proportional to the issues: a clean batch of 100,000 rows
    used to build 100,000 empty lists and join each (0.26 s of a 1.2 s prediction).
    """
    errors: list[str | None] = [None] * n
    warns: list[str | None] = [None] * n
    for iss in issues:
        into = errors if iss.fatal else warns
        r = iss.row - 1
        into[r] = iss.message if into[r] is None else into[r] + "; " + iss.message
    return errors, warns


def _explanations(model: TrainedModel, out: pd.DataFrame, valid: pd.DataFrame, ok: np.ndarray, top_k: int,
                  Xt: np.ndarray | None = None) -> None:
    ex = _explain(model, valid, transformed=Xt)
    n = len(out)
    texts = np.full(n, None, dtype=object)
    tops = np.full(n, None, dtype=object)
    for j, i in enumerate(np.flatnonzero(ok)):
        texts[i] = summarize(ex, j)
        tops[i] = format_contributions(ex, j, top_k)
    out["explanation"] = texts
    out["top_contributions"] = tops


def predict(
    model: TrainedModel,
    frame: pd.DataFrame,
    *,
    positive_class: Any = None,
    explain: bool = False,
    top_k: int = 3,
) -> pd.DataFrame:
    """Predict every valid row of ``frame``; report the others.

    Parameters
    ----------
    model : TrainedModel
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        Must hold the model's feature columns (extra columns are ignored).
        Segmentation/CLV models also accept the raw orders table.
    positive_class : optional
        Binary classification: report the probability of this class instead
        of the model's positive class (must be one of ``model.classes``).
    explain : bool, default False
        Add ``explanation`` (one sentence) and ``top_contributions`` (the
        ``top_k`` largest SHAP contributions) per row; see :mod:`aihub.ml.explain`.
    top_k : int, default 3

    Returns
    -------
    pandas.DataFrame
        Same index and row order as the input (one row per customer for
        orders input), with columns:

        * ``row``: 1-based input position;
        * classification: ``prediction`` (class label: for binary models the
          positive class when its probability reaches ``model.threshold``,
          else the most probable class), ``confidence`` (probability of the
          most probable class, 0 to 1) and, for binary problems,
          ``probability`` (of the positive class, 0 to 1; its name is
          ``model.score_name``, e.g. ``"P(bad)"``) and ``positive_class``;
          for multiclass ``probability_<class>`` per class; lead scoring adds
          ``lead_score`` (0 to 100, = round(100 x probability)) and ``band``
          (hot / warm / cold by ``config.score_bands``);
        * regression: ``prediction``, ``lower`` and ``upper`` (interval at
          ``model.interval["level"]``, target units; see ``model.interval["method"]``;
          the lower bound is floored at 0 for targets never negative in training);
        * clustering: ``cluster`` (int) and ``segment`` (business name);
        * ``error``: why the row was not predicted (None when predicted);
        * ``warning``: non-fatal notes (unseen categories).

        ``attrs["score_name"]`` holds the score's name for binary models.

    Raises
    ------
    ValidationError
        Missing feature columns, or ``positive_class`` not a class.
    """
    if isinstance(model, external.ExternalModel):  # served from outside: the endpoint predicts
        return external.predict(model, frame, explain=explain, top_k=top_k, positive_class=positive_class)
    frame = prepare_input(model, frame)
    return _predict_validated(model, frame, *validate(model, frame), positive_class=positive_class, explain=explain,
                              top_k=top_k)


def _predict_validated(model: TrainedModel, frame: pd.DataFrame, ok: np.ndarray, issues: list[RowIssue],
                       clean: pd.DataFrame, *, positive_class: Any = None, explain: bool = False, top_k: int = 3,
                       Xt: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`predict` after :func:`~aihub.ml.validate.validate`; ``Xt``: the valid rows already preprocessed.

    The valid rows of ``clean`` are preprocessed here once (numbers and categories as ``validate`` parsed them,
    not parsed again by the pipeline's ``FrameCoercer``), then the fitted estimator predicts on the matrix, which
    is what the pipeline does; SHAP reads the same matrix.
    """
    out = pd.DataFrame({"row": np.arange(1, len(frame) + 1)}, index=frame.index)
    if model.config.data_prep is not None and "customer" in frame.columns:
        out.insert(0, "customer", frame["customer"].to_numpy())
    valid = clean.iloc[np.flatnonzero(ok)] if ok.any() else None
    with thread_limit(model.config.n_jobs):
        if Xt is None and valid is not None:
            Xt = _transform_valid(model, valid)
        if model.task == "classification":
            _classify(model, out, valid, ok, positive_class, Xt)
        elif model.task == "regression":
            _regress(model, out, valid, ok, Xt)
        else:
            _segment(model, out, valid, ok, Xt)
    if explain and model.task != "clustering" and valid is not None:
        _explanations(model, out, valid, ok, top_k, Xt)
    out["error"], out["warning"] = _messages(issues, len(frame))
    if model.score_name:
        out.attrs["score_name"] = model.score_name if positive_class is None else f"P({match_class(model.classes, positive_class)})"
    return out


def predict_one(model: TrainedModel, values: dict[str, Any], *, explain: bool = True) -> dict[str, Any]:
    """Predict a single row given as ``{feature: value}`` (the form page).

    A model whose features are numbers and categories goes through its
    :class:`aihub.ml.single_row.RowPlan` (no data frames; the same figures,
    issues and reasons as the frame path, which every other model and value
    takes).

    Returns
    -------
    dict
        The output row of :func:`predict` as a dict; with ``explain`` also
        ``contributions`` (list of ``{"feature", "value", "contribution"}``,
        largest first), ``explanation`` and ``output_space``.

    Raises
    ------
    ValidationError
        The row is invalid (``field`` is the offending feature).
    """
    if isinstance(model, external.ExternalModel):  # served from outside: the endpoint predicts
        return external.predict_one(model, values, explain=explain)
    plan = row_plan(model)
    checked = plan.check(values) if plan is not None else None
    if checked is None:
        return _predict_one_frame(model, values, explain=explain)
    issues, cells = checked
    fatal = [i for i in issues if i.fatal]
    if fatal:
        raise ValidationError(fatal[0].message.replace("row 1: ", ""), field=fatal[0].column)
    Xt = plan.transform(cells)
    res = _predict_row(model, Xt, issues)
    if explain and model.task != "clustering":
        reasons = explain_transformed_row(model, Xt, [cells[f] for f in model.features])
        if reasons is None:  # explained by permutation: on the row as a frame
            frame = pd.DataFrame([{f: values.get(f) for f in model.features}])
            ex = _explain(model, frame[model.features], transformed=Xt)
            reasons = {"explanation": summarize(ex, 0), "contributions": ex.for_row(0).to_dict("records"),
                       "output_space": ex.output_space}
        res.update(reasons)
    return res


def _predict_row(model: TrainedModel, Xt: np.ndarray, issues: list[RowIssue]) -> dict[str, Any]:
    """:func:`_predict_validated`'s output row, as a dict, for one valid preprocessed row (classification or regression)."""
    out: dict[str, Any] = {"row": 1}
    with thread_limit(model.config.n_jobs):
        if model.task == "classification":
            classes = list(model.classes)
            proba = model.calibrate(_estimator_proba(model.estimator, Xt))
            out["prediction"] = model.decide(proba).tolist()[0]
            if len(classes) == 2:
                pos = model.positive_class
                out["probability"] = float(proba[0, classes.index(pos)])
                out["positive_class"] = pos
            else:
                for j, c in enumerate(classes):
                    out[f"probability_{c}"] = float(proba[0, j])
            out["confidence"] = float(np.nanmax(np.where(np.isnan(proba), -1, proba), axis=1)[0])
            if model.config.model_type == "lead_scoring" and len(classes) == 2:
                p = np.asarray([out["probability"]], dtype=float)
                score = np.where(np.isnan(p), np.nan, np.round(100.0 * np.nan_to_num(p)))[0]
                out["lead_score"] = None if np.isnan(score) else int(score)
                out["band"] = None if np.isnan(score) else _band(score, model.config.score_bands)
        else:
            pred = np.asarray(model.estimator.predict(Xt), dtype=float)
            out["prediction"] = float(pred[0])
            if model.interval is not None:
                lower, upper = interval_bounds(pred, model.interval)
                out["lower"], out["upper"] = float(lower[0]), float(upper[0])
    errors, warns = _messages(issues, 1)
    out["error"], out["warning"] = errors[0], warns[0]
    return out


def _predict_one_frame(model: TrainedModel, values: dict[str, Any], *, explain: bool = True) -> dict[str, Any]:
    """:func:`predict_one` through a one-row frame (every model; the reference the row plan must equal)."""
    frame = pd.DataFrame([{f: values.get(f) for f in model.features}])
    ok, issues, clean = validate(model, frame)
    if not ok[0]:
        fatal = [i for i in issues if i.fatal]
        raise ValidationError(fatal[0].message.replace("row 1: ", ""), field=fatal[0].column)
    # the row is validated and preprocessed once; prediction and SHAP both read this matrix
    Xt = model.transform(clean, parsed=True) if model.config.data_prep is None else None
    res = _predict_validated(model, frame, ok, issues, clean, Xt=Xt).iloc[0].to_dict()
    if explain and model.task != "clustering":
        ex = _explain(model, frame[model.features], transformed=Xt)
        res["explanation"] = summarize(ex, 0)
        res["contributions"] = ex.for_row(0).to_dict("records")
        res["output_space"] = ex.output_space
    return res
