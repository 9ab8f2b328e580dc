"""Batch and single predictions with per-row validation.

:func:`predict` never lets one bad row sink a batch: rows that fail validation
against the model's feature schema get a message in the ``error`` column
(naming the 1-based row number, column and value) and no prediction; every
other row is predicted. Output rows keep the input order and index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from aihub.errors import ValidationError
from aihub.ml.model import TrainedModel, thread_limit
from aihub.ml.preprocess import parse_numeric, to_category_strings

BANDS = ("hot", "warm", "cold")


@dataclass
class RowIssue:
    """A problem with one input row.

    Attributes
    ----------
    row : int
        1-based position in the input frame (CSV line = row + 1 with a header).
    column : str
    value : Any
    message : str
    fatal : bool
        True: the row is not predicted. False: a warning (e.g. unseen category).
    """

    row: int
    column: str
    value: Any
    message: str
    fatal: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": None if self.value is None else str(self.value), "message": self.message, "fatal": self.fatal}


def _known_categories(model: TrainedModel) -> dict[str, set]:
    cache = model._cache.get("known_categories")
    if cache is not None:
        return cache
    out: dict[str, set] = {}
    pre = model.pipeline.named_steps["preprocess"]
    for name, trans, cols in pre.transformers_:
        if name in ("cat", "te"):
            enc = trans.named_steps["onehot" if name == "cat" else "target"]
            for col, cats in zip(cols, enc.categories_):
                out[col] = {str(c) for c in cats}
    model._cache["known_categories"] = out
    return out


def prepare_input(model: TrainedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the model's ``data_prep`` (orders -> customer table) when the input is an orders table.

    Segmentation and CLV models accept either the per-customer table they were
    trained on or the raw orders (detected by the configured customer, date
    and amount columns); in the latter case the output has one row per customer.
    """
    prep = model.config.data_prep
    if prep is None:
        return frame
    needed = [prep["customer_column"], prep["date_column"], prep["amount_column"]]
    if all(c in frame.columns for c in needed) and not all(f in frame.columns for f in model.features):
        from aihub.ml.train import apply_data_prep

        return apply_data_prep(prep, frame, with_target=False)
    return frame


def validate_rows(model: TrainedModel, frame: pd.DataFrame) -> tuple[np.ndarray, list[RowIssue]]:
    """Check every row against the feature schema (see :func:`_validate`).

    Returns
    -------
    ok : ndarray of bool, shape (n_rows,)
        Rows that can be predicted.
    issues : list of RowIssue
        In row order.
    """
    ok, issues, _ = _validate(model, frame)
    return ok, issues


def _validate(model: TrainedModel, frame: pd.DataFrame) -> tuple[np.ndarray, list[RowIssue], pd.DataFrame]:
    """Check every row against the feature schema.

    Checks: numeric cells must parse as numbers (blank is allowed and imputed,
    except for models trained with ``handle_missing="drop"``; text is only
    tolerated, as blank with a warning, in columns whose training data held
    such text too); category values not seen in training are allowed (they
    match no one-hot column) but reported as warnings.

    Parameters
    ----------
    model : TrainedModel
    frame : pandas.DataFrame of shape (n_rows, n_columns)

    Returns
    -------
    ok : ndarray of bool, shape (n_rows,)
    issues : list of RowIssue
    clean : pandas.DataFrame of shape (n_rows, n_features)
        The feature columns already parsed (floats, category text); the
        model's ``FrameCoercer`` is idempotent, so predicting on ``clean``
        equals predicting on ``frame`` without parsing text twice.

    Raises
    ------
    ValidationError
        When feature columns are missing altogether (``field`` is the first
        missing column; ``details["missing"]`` lists all).
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"input must be a table (pandas DataFrame); got {type(frame).__name__}", field="input")
    missing = [f.name for f in model.feature_schema if f.name not in frame.columns]
    if missing:
        raise ValidationError(
            f"the input lacks column(s) the model needs: {', '.join(missing)}",
            field=missing[0],
            details={"missing": missing, "required": model.features},
        )
    n = len(frame)
    ok = np.ones(n, dtype=bool)
    issues: list[RowIssue] = []
    drop_mode = model.config.feature_engineering.handle_missing == "drop"
    known = _known_categories(model)
    clean: dict[str, Any] = {}
    for spec in model.feature_schema:
        col = frame[spec.name]
        if spec.kind == "numeric":
            nums, bad = parse_numeric(col)
            clean[spec.name] = nums.to_numpy(dtype="float64")
            tolerated = spec.unparseable_share > 0 and not drop_mode
            for i in np.flatnonzero(bad.to_numpy()):
                if tolerated:  # training had such text too and treated it as blank
                    issues.append(
                        RowIssue(int(i) + 1, spec.name, col.iloc[i], f"row {i + 1}: {spec.name} = {col.iloc[i]!r} is not a number; treated as blank as in training", fatal=False)
                    )
                    continue
                ok[i] = False
                issues.append(RowIssue(int(i) + 1, spec.name, col.iloc[i], f"row {i + 1}: {spec.name} = {col.iloc[i]!r} is not a number"))
            if drop_mode:
                blank = nums.isna().to_numpy() & ~bad.to_numpy()
                for i in np.flatnonzero(blank):
                    ok[i] = False
                    issues.append(RowIssue(int(i) + 1, spec.name, None, f"row {i + 1}: {spec.name} is blank and this model needs a value"))
        else:
            cats = to_category_strings(col)
            clean[spec.name] = cats.to_numpy(dtype=object)
            blank = cats.isna().to_numpy()
            if drop_mode:
                for i in np.flatnonzero(blank):
                    ok[i] = False
                    issues.append(RowIssue(int(i) + 1, spec.name, None, f"row {i + 1}: {spec.name} is blank and this model needs a value"))
            allowed = known.get(spec.name)
            if allowed:
                unseen = ~blank & ~cats.isin(allowed).to_numpy()
                for i in np.flatnonzero(unseen):
                    issues.append(
                        RowIssue(
                            int(i) + 1,
                            spec.name,
                            cats.iloc[i],
                            f"row {i + 1}: {spec.name} = {cats.iloc[i]!r} was not seen in training; predicted as an unknown value",
                            fatal=False,
                        )
                    )
    issues.sort(key=lambda x: (x.row, not x.fatal))
    return ok, issues, pd.DataFrame(clean, index=frame.index, columns=model.features)


def _band(score: float, bands: dict[str, float]) -> str:
    if score >= bands["hot"]:
        return "hot"
    if score >= bands["warm"]:
        return "warm"
    return "cold"


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
        * classification: ``prediction`` (class label), ``confidence``
          (probability of the predicted class, 0 to 1) and, for binary
          problems, ``probability`` (of the positive class, 0 to 1); for
          multiclass ``probability_<class>`` per class; lead scoring adds
          ``lead_score`` (0 to 100, = round(100 x probability)) and ``band``
          (hot / warm / cold by ``config.score_bands``);
        * regression: ``prediction``, ``lower`` and ``upper`` (interval at
          ``model.interval["level"]``, target units; see ``model.interval["method"]``;
          the lower bound is floored at 0 for targets never negative in training);
        * clustering: ``cluster`` (int) and ``segment`` (business name);
        * ``error``: why the row was not predicted (None when predicted);
        * ``warning``: non-fatal notes (unseen categories).

    Raises
    ------
    ValidationError
        Missing feature columns, or ``positive_class`` not a class.
    """
    frame = prepare_input(model, frame)
    ok, issues, clean = _validate(model, frame)
    n = len(frame)
    index = frame.index
    out = pd.DataFrame({"row": np.arange(1, n + 1)}, index=index)
    if model.config.data_prep is not None and "customer" in frame.columns:
        out.insert(0, "customer", frame["customer"].to_numpy())
    errors = [None] * n
    warns: list[list[str]] = [[] for _ in range(n)]
    for iss in issues:
        if iss.fatal:
            errors[iss.row - 1] = iss.message if errors[iss.row - 1] is None else errors[iss.row - 1] + "; " + iss.message
        else:
            warns[iss.row - 1].append(iss.message)
    valid = clean.iloc[np.flatnonzero(ok)] if ok.any() else None

    with thread_limit(model.config.n_jobs):
        if model.task == "classification":
            classes = list(model.classes)
            pos = model.positive_class
            if positive_class is not None:
                from aihub.ml.train import resolve_positive_class

                pos = resolve_positive_class(classes, positive_class)
            proba = np.full((n, len(classes)), np.nan)
            if valid is not None:
                raw = model.pipeline.predict_proba(valid)
                from aihub.ml.model import jsonable

                est_classes = jsonable(list(model.estimator.classes_))
                proba[ok] = raw[:, [est_classes.index(c) for c in classes]]
            pred = np.full(n, None, dtype=object)
            if ok.any():
                pred[ok] = np.asarray(classes, dtype=object)[np.argmax(proba[ok], axis=1)]
            out["prediction"] = pred
            if len(classes) == 2:
                out["probability"] = proba[:, classes.index(pos)]
            else:
                for j, c in enumerate(classes):
                    out[f"probability_{c}"] = proba[:, j]
            out["confidence"] = np.where(ok, np.nanmax(np.where(np.isnan(proba), -1, proba), axis=1), np.nan)
            if model.config.model_type == "lead_scoring" and len(classes) == 2:
                p = out["probability"].to_numpy(dtype=float)
                score = np.where(np.isnan(p), np.nan, np.round(100.0 * np.nan_to_num(p)))
                out["lead_score"] = pd.array([None if np.isnan(s) else int(s) for s in score], dtype="Int64")
                out["band"] = [None if np.isnan(s) else _band(s, model.config.score_bands) for s in score]
        elif model.task == "regression":
            pred = np.full(n, np.nan)
            if valid is not None:
                pred[ok] = model.pipeline.predict(valid)
            out["prediction"] = pred
            if model.interval is not None:
                from aihub.ml.train import interval_bounds

                out["lower"], out["upper"] = interval_bounds(pred, model.interval)
        else:
            labels = pd.array([None] * n, dtype="Int64")
            names = np.full(n, None, dtype=object)
            if valid is not None:
                lab = model.pipeline.predict(valid)
                labels[ok] = lab
                seg = model.segments or {}
                names[ok] = [seg.get(str(int(c)), {}).get("name", f"Segment {int(c) + 1}") for c in lab]
            out["cluster"] = labels
            out["segment"] = names

    if explain and model.task != "clustering" and valid is not None:
        from aihub.ml.explain import explain as _explain
        from aihub.ml.explain import format_contributions, summarize

        ex = _explain(model, valid)
        texts = np.full(n, None, dtype=object)
        tops = np.full(n, None, dtype=object)
        for j, i in enumerate(np.flatnonzero(ok)):
            texts[i] = summarize(ex, j)
            tops[i] = format_contributions(ex, j, top_k)
        out["explanation"] = texts
        out["top_contributions"] = tops
    out["error"] = errors
    out["warning"] = ["; ".join(w) if w else None for w in warns]
    return out


def predict_one(model: TrainedModel, values: dict[str, Any], *, explain: bool = True) -> dict[str, Any]:
    """Predict a single row given as ``{feature: value}`` (the form page).

    Returns
    -------
    dict
        The output row of :func:`predict` as a dict; with ``explain`` also
        ``contributions`` (list of ``{"feature", "value", "contribution"}``,
        largest first).

    Raises
    ------
    ValidationError
        The row is invalid (``field`` is the offending feature).
    """
    frame = pd.DataFrame([{f: values.get(f) for f in model.features}])
    res = predict(model, frame, explain=False).iloc[0].to_dict()
    if res.get("error"):
        _, issues = validate_rows(model, frame)
        fatal = [i for i in issues if i.fatal]
        raise ValidationError(fatal[0].message.replace("row 1: ", ""), field=fatal[0].column)
    if explain and model.task != "clustering":
        from aihub.ml.explain import explain as _explain
        from aihub.ml.explain import summarize

        ex = _explain(model, frame[model.features])
        res["explanation"] = summarize(ex, 0)
        res["contributions"] = ex.for_row(0).to_dict("records")
        res["output_space"] = ex.output_space
    return res
