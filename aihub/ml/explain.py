"""SHAP explanations: per prediction, per model, in words, and between two rows.

SHAP values (Lundberg & Lee 2017, "A Unified Approach to Interpreting Model
Predictions", NeurIPS) split one prediction into additive contributions:
``base_value + sum(contributions) == model output`` for every row.

Which explainer (``Explanation.method``):

* ``tree_path_dependent``: random forests. Exact path-dependent TreeSHAP
  (Lundberg et al. 2020), computed by :mod:`aihub.ml._treeshap` (same
  numbers as ``shap.TreeExplainer``, verified in the tests, much faster);
  falls back to ``shap.TreeExplainer`` without numba. For classifiers the
  forest's raw output *is* the probability, so contributions are in
  probability units.
* ``tree_path_dependent_shap``: histogram gradient boosting and LightGBM,
  ``shap.TreeExplainer`` (path-dependent; shap reads LightGBM's trees
  natively, so the repository's own :mod:`aihub.ml._treeshap`, written for
  scikit-learn forests, is not duplicated for it). Regressors: target units.
  Binary classifiers: **log-odds** (the boosted trees add up in log-odds;
  shap 0.51's interventional ``model_output="probability"`` mode is not
  additive for ``HistGradientBoostingClassifier`` -- off by up to 0.02 in
  our tests -- so it is not used).
* ``linear``: linear and binary logistic regression, ``shap.LinearExplainer``
  with an independent masker on the background sample. For logistic
  regression the contributions are in **log-odds** (the model is additive
  only there); summaries say so.
* ``permutation``: anything else (``auto`` blends, multiclass boosting and
  logistic regression, multiclass forests with calibrated probabilities),
  model-agnostic permutation SHAP (Strumbelj & Kononenko 2014, the
  estimator behind ``shap.PermutationExplainer``) with 10 antithetic feature
  orders and a background of at most 50 rows (probability / target units;
  a sampling approximation that still adds up exactly).

Classifiers report calibrated probabilities (:mod:`aihub.ml.decision`); the
contributions are carried over to them (:func:`_calibrate_contributions`), so
they always add up to the probability :func:`aihub.ml.predict.predict` reports.

One-hot, date and text columns are summed back into their original feature, so a category
feature gets one contribution (for interventional and path-dependent TreeSHAP
this sum is the standard approximation of the feature's group value; for the
linear and permutation explainers it is exact). The permutation explainer
switches whole features, so no summing is needed there.

:func:`compare_predictions` explains the *difference* between two rows with
baseline Shapley values (Sundararajan & Najmi 2020, "The Many Shapley Values
for Model Explanation", ICML): row A is the baseline, only features that differ
can get credit, and credits add up exactly to ``output(B) - output(A)``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import aihub.ml._treeshap as _treeshap  # noqa: PLR0402  (from aihub.ml import ... would make an import edge to the package: a cycle)
from aihub.errors import ValidationError
from aihub.jsonsafe import plain
from aihub.ml.decision import calibrate_scalar
from aihub.ml.features import parse_date_values
from aihub.ml.model import TrainedModel, thread_limit
from aihub.ml.preprocess import parse_numeric, to_category_strings
from aihub.ml.targets import match_class
from aihub.ml.validate import strip_columns, validate_rows


@dataclass
class Explanation:
    """SHAP contributions of a batch of rows, per original feature.

    Attributes
    ----------
    contributions : pandas.DataFrame of shape (n_rows, n_features)
        Contribution of each feature to each row's output, in
        ``output_space`` units; index = input index.
    values : pandas.DataFrame of shape (n_rows, n_features)
        The rows' feature values as the model read them.
    base_value : float
        Expected output over the background (average prediction).
    output : ndarray of shape (n_rows,)
        ``base_value + contributions.sum(axis=1)``.
    prediction : ndarray of shape (n_rows,)
        The model's natural output: probability of ``target_class`` (0 to 1)
        or predicted value (target units). Equals ``output`` except in
        log-odds space, where ``prediction = 1 / (1 + exp(-output))``.
    output_space : {"probability", "log-odds", "value"}
    method : str
        See module docstring.
    label : str
        Business name of the output ("Churn risk").
    target_class : Any
        Class whose probability is explained (classification).
    """

    contributions: pd.DataFrame
    values: pd.DataFrame
    base_value: float
    output: np.ndarray
    prediction: np.ndarray
    output_space: str
    method: str
    label: str
    target_class: Any = None

    def for_row(self, i: int) -> pd.DataFrame:
        """Contributions of row ``i`` (0-based position): columns ``feature``,
        ``value``, ``contribution``, sorted by absolute contribution."""
        c = self.contributions.iloc[i]
        v = self.values.iloc[i]
        df = pd.DataFrame({"feature": c.index, "value": [plain(x) for x in v.reindex(c.index).tolist()], "contribution": c.to_numpy(dtype=float)})
        return df.reindex(df["contribution"].abs().sort_values(ascending=False).index).reset_index(drop=True)

    def to_long(self) -> pd.DataFrame:
        """All rows in long form: ``row`` (0-based position), ``feature``, ``value``, ``contribution``."""
        frames = []
        for i in range(len(self.contributions)):
            f = self.for_row(i)
            f.insert(0, "row", i)
            frames.append(f)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["row", "feature", "value", "contribution"])


# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------


def _group_matrix(model: TrainedModel) -> np.ndarray:
    feats = model.features
    pos = {f: i for i, f in enumerate(feats)}
    G = np.zeros((len(model.transformed_origins), len(feats)))
    for j, origin in enumerate(model.transformed_origins):
        G[j, pos[origin]] = 1.0
    return G


def _target_index(model: TrainedModel, target_class: Any) -> tuple[int, int, Any]:
    """(position in ``model.classes``, column of the estimator's ``predict_proba``, class) explained."""
    classes = list(model.classes)
    tc = model.positive_class if target_class is None else match_class(classes, target_class)
    if tc is None:  # multiclass without an explicit class: the most frequent training class
        counts = (model.target_info or {}).get("counts")
        if not counts:
            cm = model.metrics.get("confusion_matrix", {}).get("matrix")
            counts = np.asarray(cm).sum(axis=1).tolist() if cm else None
        tc = classes[int(np.argmax(counts))] if counts else classes[0]
    k = classes.index(tc)
    est = k if model.class_codes else plain(list(model.estimator.classes_)).index(tc)
    return k, est, tc


def choose_method(model: TrainedModel) -> str:
    """Explainer ``explain`` uses for this model (see module docstring)."""
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    if model.task == "clustering":
        raise ValidationError("explanations are available for classification and regression models, not segmentation", field="model")
    est = model.estimator
    binary = model.task == "regression" or len(model.classes or []) == 2
    lgbm = type(est).__module__.startswith("lightgbm")
    if isinstance(est, RandomForestRegressor) or (isinstance(est, RandomForestClassifier) and (binary or not _calibrated(model))):
        return "tree_path_dependent"
    if isinstance(est, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)) and binary:
        return "tree_path_dependent_shap"
    if lgbm and binary:
        return "tree_path_dependent_shap"
    if isinstance(est, (LinearRegression, Ridge)) or (isinstance(est, LogisticRegression) and binary):
        return "linear"
    # multinomial logistic regression and multiclass boosting: per-class margins are not
    # log-odds of a softmax probability, so explain the probability model-agnostically
    return "permutation"


def _calibrated(model: TrainedModel) -> bool:
    return (model.calibration or {}).get("method", "none") != "none"


def explain(model: TrainedModel, frame: pd.DataFrame, *, method: str = "auto", target_class: Any = None,
            transformed: np.ndarray | None = None) -> Explanation:
    """SHAP contributions for each row of ``frame``.

    Parameters
    ----------
    model : TrainedModel
        Classification or regression model.
    frame : pandas.DataFrame of shape (n_rows, >= n_features)
        Valid rows (see :func:`aihub.ml.predict.validate_rows`).
    method : {"auto", "permutation"}, default "auto"
        ``"permutation"`` forces the model-agnostic explainer.
    target_class : optional
        Classification: class whose probability is explained (default the
        positive class).
    transformed : ndarray of shape (n_rows, n_transformed), optional
        ``model.transform`` of these rows, which the caller already validated
        (:func:`aihub.ml.predict.predict_one`): neither is done again.

    Returns
    -------
    Explanation

    Raises
    ------
    ValidationError
        Clustering models, missing columns, or rows that fail validation.

    Notes
    -----
    Speed (2 cores): a 100-tree forest explains 1,000 rows in about 1-2 s
    for trees of depth ~10-16, after a one-off numba compilation cached on
    disk; see ``benchmarks/ml_speed.py``.
    """
    chosen = choose_method(model) if method == "auto" else method
    if chosen not in ("tree_path_dependent", "tree_path_dependent_shap", "linear", "permutation"):
        raise ValidationError(f"method must be auto or permutation; got {method!r}", field="method")
    frame = strip_columns(frame)
    ok, issues = validate_rows(model, frame) if transformed is None else (np.ones(len(frame), dtype=bool), [])
    if not ok.all():
        bad = [i for i in issues if i.fatal]
        raise ValidationError("cannot explain invalid rows: " + "; ".join(i.message for i in bad[:5]), field=bad[0].column, details={"rows": sorted({i.row for i in bad})})
    X = frame[model.features]
    target = (None, None, None)
    if model.task == "classification":
        target = _target_index(model, target_class)
    with thread_limit(model.config.n_jobs), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if chosen == "permutation":
            contrib, base, space = _permutation(model, X, target[0])
        else:
            Xt = model.transform(X) if transformed is None else transformed
            phi, base, space = _transformed_shap(model, chosen, Xt, target[1])
            contrib, base = _calibrate_contributions(model, phi @ _group_matrix(model), base, space, target[0])
    output = base + contrib.sum(axis=1)
    prediction = 1.0 / (1.0 + np.exp(-output)) if space == "log-odds" else output
    tc = target[2]
    return Explanation(
        contributions=pd.DataFrame(contrib, index=X.index, columns=model.features),
        values=_display_values(model, X),
        base_value=float(base),
        output=np.asarray(output, dtype=float),
        prediction=np.asarray(prediction, dtype=float),
        output_space=space,
        method=chosen,
        label=model.output_label if (model.task != "classification" or tc == model.positive_class) else f"P({tc})",
        target_class=tc,
    )


def explain_transformed_row(model: TrainedModel, Xt: np.ndarray, values: list[Any]) -> dict[str, Any] | None:
    """The reasons of one valid row already preprocessed (``Xt`` of shape (1, n_transformed)), without data frames.

    ``values`` are the row's cells as :func:`explain` shows them (numbers, category text; NaN when blank),
    in ``model.features`` order. Returns ``{"explanation", "contributions", "output_space"}`` equal to what
    :func:`explain` of the row, :func:`summarize` and ``Explanation.for_row(0)`` records give; None for a model
    explained by permutation (the caller explains the row as a frame).
    """
    from pandas.core.sorting import nargsort

    chosen = choose_method(model)
    if chosen not in _EXPLAINERS:
        return None
    target = _target_index(model, None) if model.task == "classification" else (None, None, None)
    with thread_limit(model.config.n_jobs), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        phi, base, space = _transformed_shap(model, chosen, Xt, target[1])
        contrib, base = _calibrate_contributions(model, phi @ _group_matrix(model), base, space, target[0])
    output = base + contrib.sum(axis=1)
    prediction = 1.0 / (1.0 + np.exp(-output)) if space == "log-odds" else output
    tc = target[2]
    label = model.output_label if (model.task != "classification" or tc == model.positive_class) else f"P({tc})"
    c = np.asarray(contrib[0], dtype=float)
    feats = model.features
    order = nargsort(np.abs(c), ascending=False)  # Explanation.for_row's order
    rows = [{"feature": feats[j], "value": plain(values[j]), "contribution": float(c[j])} for j in order]
    return {"explanation": sentence(rows, label, prediction[0], output[0], float(base), space),
            "contributions": rows, "output_space": space}


def _display_values(model: TrainedModel, X: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for spec in model.feature_schema:
        if spec.kind == "numeric":
            out[spec.name] = parse_numeric(X[spec.name])[0]
        elif spec.kind == "date":
            dates = parse_date_values(X[spec.name], spec.date_format or "mixed")[0]
            out[spec.name] = dates.dt.strftime("%Y-%m-%d").where(dates.notna(), None)
        elif spec.kind == "text":
            out[spec.name] = X[spec.name].astype(object).map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)[:80])
        else:
            out[spec.name] = to_category_strings(X[spec.name])
    return pd.DataFrame(out, index=X.index)


def _calibrate_contributions(model: TrainedModel, contrib: np.ndarray, base: float, space: str, k: int | None) -> tuple[np.ndarray, float]:
    """Carry SHAP values of the estimator's output over to the reported (calibrated) probability.

    In log-odds, Platt scaling ``a * z + b`` is affine: contributions scale by
    ``a`` and the base moves, exactly; the prior-shift correction only moves
    the base. In probability units (forests), each row's contributions are
    rescaled by ``(g(output) - g(base)) / (output - base)`` for the
    calibration map ``g`` -- the rescale rule of DeepLIFT (Shrikumar et al.
    2017): signs and ranking are kept and the sum matches the reported
    probability exactly.
    """
    cal = model.calibration or {}
    method = cal.get("method", "none")
    if model.task != "classification" or method == "none":
        return contrib, base
    if space == "log-odds":
        if method == "platt":
            sign = 1.0 if k == int(cal.get("positive_index", 1)) else -1.0
            return contrib * cal["a"], cal["a"] * base + sign * cal["b"]
        w = np.asarray(cal["weights"], dtype=float)
        return contrib, base + float(np.log(w[1 - k] / w[k]))
    out = base + contrib.sum(axis=1)
    g_out = calibrate_scalar(out, cal, k)
    g_base = float(calibrate_scalar(np.asarray([base]), cal, k)[0])
    step = 1e-6
    slope = (calibrate_scalar(np.asarray([base + step]), cal, k)[0] - g_base) / step
    gap = out - base
    ratio = np.where(np.abs(gap) > 1e-9, (g_out - g_base) / np.where(np.abs(gap) > 1e-9, gap, 1.0), slope)
    return contrib * ratio[:, None], g_base


def _forest_shap(model: TrainedModel, Xt: np.ndarray, est_index: int | None):
    import shap

    est = model.estimator
    cache = model._cache
    out_index = est_index if est_index is not None else 0
    space = "probability" if model.task == "classification" else "value"
    if _treeshap.available():
        key = ("forest_tables", out_index)
        try:
            tables = cache.get(key)
            if tables is None:
                tables = cache[key] = _treeshap.leaf_tables(est, out_index)
            phi, base = _treeshap.forest_shap(est, Xt, out_index, tables=tables)
            return phi, base, space
        except ValueError:
            pass
    expl = cache.get("shap_tree")
    if expl is None:
        expl = cache["shap_tree"] = shap.TreeExplainer(est)
    sv = expl(Xt, check_additivity=False)
    vals, bases = np.asarray(sv.values), np.asarray(sv.base_values)
    if vals.ndim == 3:
        vals, bases = vals[:, :, out_index], bases[:, out_index] if bases.ndim == 2 else bases[out_index]
    return vals, float(np.ravel(bases)[0]), space


def _boosting_shap(model: TrainedModel, Xt: np.ndarray, est_index: int | None):
    """Histogram gradient boosting and LightGBM: ``shap.TreeExplainer``, path-dependent, raw margin."""
    import shap

    cache = model._cache
    expl = cache.get("shap_tree")
    if expl is None:
        expl = cache["shap_tree"] = shap.TreeExplainer(model.estimator)
    sv = expl(Xt, check_additivity=False)
    vals = np.asarray(sv.values)
    base = np.ravel(sv.base_values)
    if vals.ndim == 3:  # some explainers return both classes of a binary model
        vals, base = vals[:, :, 1], np.asarray(sv.base_values)[:, 1] if np.ndim(sv.base_values) == 2 else base
    base = float(base[0])
    if model.task != "classification":
        return vals, base, "value"
    # binary boosting explains the log-odds of the estimator's classes_[1]
    return (-vals, -base, "log-odds") if est_index == 0 else (vals, base, "log-odds")


def _linear_shap(model: TrainedModel, Xt: np.ndarray, est_index: int | None):
    import shap

    cache = model._cache
    expl = cache.get("shap_linear")
    if expl is None:
        bg = model.transform(model.explain_background)
        expl = cache["shap_linear"] = shap.LinearExplainer(model.estimator, shap.maskers.Independent(bg, max_samples=len(bg)))
    sv = expl(Xt)
    vals, bases = np.asarray(sv.values), np.asarray(sv.base_values)
    if model.task != "classification":
        return vals, float(np.ravel(bases)[0]), "value"
    if vals.ndim == 3:
        return vals[:, :, est_index], float(np.ravel(bases[:, est_index] if bases.ndim == 2 else bases[est_index])[0]), "log-odds"
    base = float(np.ravel(bases)[0])
    # shap explains the log-odds of classes_[1]
    return (-vals, -base, "log-odds") if est_index == 0 else (vals, base, "log-odds")


_EXPLAINERS = {"tree_path_dependent": _forest_shap, "tree_path_dependent_shap": _boosting_shap, "linear": _linear_shap}


def _transformed_shap(model: TrainedModel, method: str, Xt: np.ndarray, est_index: int | None):
    """SHAP values of the estimator's raw output on preprocessed rows: ``(phi, base, space)``."""
    return _EXPLAINERS[method](model, Xt, est_index)


def _model_fn(model: TrainedModel, k: int | None):
    """Raw frame -> output vector (reported probability of class ``k`` or value)."""
    if model.task == "classification":
        return lambda df: model.predict_proba(df)[:, k]
    return lambda df: model.pipeline.predict(df)


def _permutation(model: TrainedModel, X: pd.DataFrame, k: int | None, *, n_permutations: int = 10, max_background: int = 50):
    """Model-agnostic permutation SHAP (Strumbelj & Kononenko 2014), antithetic.

    Same estimator as ``shap.PermutationExplainer``: for each sampled feature
    order and its reverse, features are switched one at a time from the
    background rows to the explained row and the average output change is
    credited to the switched feature. Every order telescopes to
    ``f(x) - mean f(background)``, so the contributions add up exactly. For
    classifiers ``f`` is the reported (calibrated) probability of class ``k``.

    Hybrid rows are built in the preprocessed space, where every original
    feature owns its own block of columns (imputer, scaler, one-hot encoder,
    date and text features work column by column), so switching a block
    equals switching the raw feature and avoids re-running the preprocessing.
    """
    est = model.estimator
    bg = model.transform(model.explain_background.iloc[:max_background])
    Xt = model.transform(X)
    origins = model.transformed_origins
    feats = model.features
    blocks = [np.array([j for j, o in enumerate(origins) if o == f], dtype=int) for f in feats]
    p = len(feats)
    nb = len(bg)
    rng = np.random.default_rng(model.config.random_seed)
    if model.task == "classification":
        f = lambda Z: model.calibrate(est.predict_proba(Z))[:, k]
    else:
        f = est.predict
    base = float(np.mean(f(bg)))
    half = max(1, n_permutations // 2)
    out = np.zeros((len(Xt), p))
    for i in range(len(Xt)):
        orders = []
        for _ in range(half):
            o = rng.permutation(p)
            orders += [o, o[::-1]]
        Z = np.empty((len(orders), p + 1, nb, Xt.shape[1]))
        for j, order in enumerate(orders):
            cur = bg.copy()
            Z[j, 0] = cur
            for step, col in enumerate(order, start=1):
                cur[:, blocks[col]] = Xt[i][blocks[col]]
                Z[j, step] = cur
        vals = np.asarray(f(Z.reshape(-1, Xt.shape[1])), dtype=float).reshape(len(orders), p + 1, nb).mean(axis=2)
        for j, order in enumerate(orders):
            out[i, order] += np.diff(vals[j])
        out[i] /= len(orders)
    space = "probability" if model.task == "classification" else "value"
    return out, base, space


# ---------------------------------------------------------------------------
# Global importance and words
# ---------------------------------------------------------------------------


def global_importance(model: TrainedModel, frame: pd.DataFrame, *, max_rows: int = 500, seed: int = 0) -> list[dict[str, Any]]:
    """Mean absolute SHAP contribution per feature (a model-level ranking).

    Parameters
    ----------
    model : TrainedModel
    frame : pandas.DataFrame
        Rows to average over, typically training rows; sampled down to
        ``max_rows`` (30 for the slow permutation explainer).

    Returns
    -------
    list of dict
        ``{"feature", "importance", "output_space"}`` sorted by importance,
        descending; importance is in output units (probability, log-odds
        or target units).
    """
    limit = 30 if choose_method(model) == "permutation" else max_rows
    sample = frame.sample(n=min(limit, len(frame)), random_state=seed) if len(frame) > limit else frame
    ex = explain(model, sample)
    imp = ex.contributions.abs().mean(axis=0).sort_values(ascending=False)
    return [{"feature": f, "importance": float(v), "output_space": ex.output_space} for f, v in imp.items()]


def _fmt_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "(blank)"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f.is_integer():
            return str(int(f))  # codes and counts: no thousands separators
        return f"{f:,.2f}"
    return str(v)


def _fmt_output(v: float, space: str) -> str:
    if space in ("probability", "log-odds"):
        return f"{v:.2f}"
    return f"{v:,.2f}"


def _fmt_contrib(c: float, space: str) -> str:
    text = f"{c:+,.2f}"
    return text + (" log-odds" if space == "log-odds" else "")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def format_contributions(ex: Explanation, i: int, k: int = 3) -> str:
    """``"Contract = Month-to-month: +0.21; tenure = 2: +0.10; ..."`` for the top ``k`` features of row ``i``."""
    rows = ex.for_row(i).head(k)
    return "; ".join(f"{r.feature} = {_fmt_value(r.value)}: {_fmt_contrib(r.contribution, ex.output_space)}" for r in rows.itertuples())


def summarize(ex: Explanation, i: int = 0, *, max_up: int = 3, max_down: int = 2) -> str:
    """One sentence explaining row ``i``.

    Example: ``"Churn risk 0.78 (average 0.27) is driven up by Contract =
    Month-to-month (+0.21) and InternetService = Fiber optic (+0.09), and
    down by tenure = 34 (-0.12)."`` Numbers are the SHAP contributions
    rounded to 2 decimals; contributions that round to 0 are left out. For
    logistic regression the contributions are in log-odds and are labelled so.

    Parameters
    ----------
    ex : Explanation
    i : int
        0-based row position.
    max_up, max_down : int
        Most features named on each side.
    """
    return sentence(ex.for_row(i).to_dict("records"), ex.label, ex.prediction[i], ex.output[i], ex.base_value,
                    ex.output_space, max_up=max_up, max_down=max_down)


def sentence(rows: list[dict[str, Any]], label: str, prediction: float, output: float, base_value: float, space: str,
             *, max_up: int = 3, max_down: int = 2) -> str:
    """:func:`summarize` of one row given as its contribution records (``Explanation.for_row`` as records).

    The features pushing up are taken by decreasing contribution, those pushing down by increasing
    contribution, in pandas' own sort order (``nargsort``, what ``DataFrame.sort_values`` uses), so ties fall
    as they did when this ran on data frames.
    """
    from pandas.core.sorting import nargsort

    pos = [r for r in rows if r["contribution"] > 0]
    neg = [r for r in rows if r["contribution"] < 0]
    pos = [pos[j] for j in nargsort(np.asarray([r["contribution"] for r in pos], dtype=float), ascending=False)]
    neg = [neg[j] for j in nargsort(np.asarray([r["contribution"] for r in neg], dtype=float))]
    up = [r for r in pos if round(r["contribution"], 2) != 0][:max_up]
    down = [r for r in neg if round(r["contribution"], 2) != 0][:max_down]

    def item(r) -> str:
        return f"{r['feature']} = {_fmt_value(r['value'])} ({_fmt_contrib(r['contribution'], space)})"

    if space == "log-odds":
        head = f"{label} {prediction:.2f} (log-odds {output:+.2f} vs. average {base_value:+.2f})"
    else:
        head = f"{label} {_fmt_output(prediction, space)} (average {_fmt_output(base_value, space)})"
    parts = []
    if up:
        parts.append("is driven up by " + _join([item(r) for r in up]))
    if down:
        parts.append(("and " if up else "is ") + "driven down by " + _join([item(r) for r in down]))
    if not parts:
        return f"{head} is close to the average; no single feature moves it by 0.01 or more."
    return head + " " + ", ".join(parts) + "."


# ---------------------------------------------------------------------------
# Comparing two predictions
# ---------------------------------------------------------------------------


@dataclass
class Comparison:
    """How two rows' predictions differ and which feature changes caused it.

    Attributes
    ----------
    output_a, output_b : float
        Model outputs (probability 0 to 1, or target units).
    table : pandas.DataFrame
        One row per feature: ``feature``, ``value_a``, ``value_b``,
        ``changed`` (bool), ``effect`` (share of ``output_b - output_a`` the
        change caused; 0 for unchanged features), sorted by ``|effect|``.
        ``effect`` sums exactly to ``output_b - output_a``.
    text : str
        Plain-language summary.
    method : str
        ``"baseline_shapley_exact"`` (all subsets of changed features) or
        ``"baseline_shapley_sampled"`` (more than 12 changed features).
    """

    output_a: float
    output_b: float
    table: pd.DataFrame
    text: str
    method: str
    label: str

    @property
    def difference(self) -> float:
        return self.output_b - self.output_a


def _as_frame(model: TrainedModel, row: Any, name: str) -> pd.DataFrame:
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise ValidationError(f"{name} must be a single row; got {len(row)}", field=name)
        df = row.reset_index(drop=True)
    elif isinstance(row, pd.Series):
        df = row.to_frame().T.reset_index(drop=True)
    elif isinstance(row, dict):
        df = pd.DataFrame([row])
    else:
        raise ValidationError(f"{name} must be a dict, Series or one-row DataFrame", field=name)
    missing = [f for f in model.features if f not in df.columns]
    if missing:
        raise ValidationError(f"{name} lacks feature(s): {', '.join(missing)}", field=missing[0])
    return df[model.features]


def compare_predictions(model: TrainedModel, row_a: Any, row_b: Any, *, target_class: Any = None, max_items: int = 4) -> Comparison:
    """Explain why ``row_b``'s prediction differs from ``row_a``'s.

    Uses baseline Shapley values with ``row_a`` as the baseline: for the set
    ``D`` of features whose values differ, the value of a coalition ``S`` is
    the model output on ``row_a`` with the features in ``S`` switched to
    ``row_b``'s values. Exact over all ``2^|D|`` coalitions when ``|D| <= 12``,
    otherwise averaged over 256 random feature orders (antithetic pairs).
    Unchanged features get exactly 0 and the effects add up to
    ``output(B) - output(A)`` (efficiency). Works for every model type in
    probability (classification) or target units.

    Parameters
    ----------
    model : TrainedModel
    row_a, row_b : dict, pandas.Series or one-row DataFrame
    target_class : optional
        Classification: class whose probability is compared.
    max_items : int, default 4
        Changes named in the text.

    Returns
    -------
    Comparison

    Raises
    ------
    ValidationError
        Clustering model, missing features or invalid values.
    """
    if model.task == "clustering":
        raise ValidationError("comparisons are available for classification and regression models", field="model")
    a = _as_frame(model, row_a, "row_a")
    b = _as_frame(model, row_b, "row_b")
    for name, fr in (("row_a", a), ("row_b", b)):
        ok, issues = validate_rows(model, fr)
        if not ok.all():
            bad = next(i for i in issues if i.fatal)
            raise ValidationError(f"{name}: " + bad.message.replace("row 1: ", ""), field=bad.column)
    va = _display_values(model, a).iloc[0]
    vb = _display_values(model, b).iloc[0]
    feats = model.features
    changed = [f for f in feats if not _same(va[f], vb[f])]
    k, tc = (None, None)
    if model.task == "classification":
        k, _, tc = _target_index(model, target_class)
    fn = _model_fn(model, k)
    with thread_limit(model.config.n_jobs):
        if len(changed) <= 12:
            effects, out_a, out_b = _exact_shapley(fn, a, b, changed)
            method = "baseline_shapley_exact"
        else:
            effects, out_a, out_b = _sampled_shapley(fn, a, b, changed, model.config.random_seed)
            method = "baseline_shapley_sampled"
    table = pd.DataFrame(
        {
            "feature": feats,
            "value_a": [plain(va[f]) for f in feats],
            "value_b": [plain(vb[f]) for f in feats],
            "changed": [f in changed for f in feats],
            "effect": [effects.get(f, 0.0) for f in feats],
        }
    )
    table = table.reindex(table["effect"].abs().sort_values(ascending=False).index).reset_index(drop=True)
    label = model.output_label if (model.task != "classification" or tc == model.positive_class) else f"P({tc})"
    text = _comparison_text(label, "probability" if model.task == "classification" else "value", out_a, out_b, table, len(changed), max_items)
    return Comparison(output_a=float(out_a), output_b=float(out_b), table=table, text=text, method=method, label=label)


def _same(x: Any, y: Any) -> bool:
    xn = x is None or (isinstance(x, float) and math.isnan(x))
    yn = y is None or (isinstance(y, float) and math.isnan(y))
    return (xn and yn) or (not xn and not yn and x == y)


def _exact_shapley(fn, a: pd.DataFrame, b: pd.DataFrame, changed: list[str]) -> tuple[dict[str, float], float, float]:
    """Baseline Shapley values over all ``2^m`` coalitions of the changed features."""
    m = len(changed)
    masks = list(itertools.product([0, 1], repeat=m))
    rows = pd.concat([a] * len(masks), ignore_index=True)
    for col_i, f in enumerate(changed):
        take_b = np.array([mk[col_i] for mk in masks], dtype=bool)
        col = rows[f].astype(object).to_numpy()
        col[take_b] = b[f].iloc[0]
        rows[f] = col
    vals = np.asarray(fn(rows), dtype=float)
    index = {mk: j for j, mk in enumerate(masks)}
    fact = [math.factorial(j) for j in range(m + 1)]
    effects = {}
    for i, f in enumerate(changed):
        total = 0.0
        for mk in masks:
            if mk[i]:
                continue
            s = sum(mk)
            with_i = mk[:i] + (1,) + mk[i + 1 :]
            total += fact[s] * fact[m - s - 1] / fact[m] * (vals[index[with_i]] - vals[index[mk]])
        effects[f] = total
    return effects, vals[index[tuple([0] * m)]], vals[index[tuple([1] * m)]]


def _sampled_shapley(fn, a: pd.DataFrame, b: pd.DataFrame, changed: list[str], seed: int) -> tuple[dict[str, float], float, float]:
    """Baseline Shapley values averaged over 256 feature orders (128 antithetic pairs)."""
    m = len(changed)
    rng = np.random.default_rng(seed)
    perms = []
    for _ in range(128):
        p = rng.permutation(m)
        perms += [p, p[::-1]]
    frames = []
    for p in perms:
        cur = a.copy()
        frames.append(cur.copy())
        for j in p:
            cur[changed[j]] = b[changed[j]].iloc[0]
            frames.append(cur.copy())
    vals = np.asarray(fn(pd.concat(frames, ignore_index=True)), dtype=float).reshape(len(perms), m + 1)
    acc = np.zeros(m)
    for j, p in enumerate(perms):
        acc[p] += np.diff(vals[j])
    return {f: acc[j] / len(perms) for j, f in enumerate(changed)}, vals[0, 0], vals[0, -1]


def _comparison_text(label: str, space: str, out_a: float, out_b: float, table: pd.DataFrame, n_changed: int, max_items: int) -> str:
    diff = out_b - out_a
    verb = "rose" if diff > 0 else "fell" if diff < 0 else "stayed"
    head = f"{label} {verb} from {_fmt_output(out_a, space)} to {_fmt_output(out_b, space)} ({diff:+,.2f})"
    if not n_changed:
        return head + "; the two rows have the same feature values."
    items = [
        f"{r.feature} changed from {_fmt_value(r.value_a)} to {_fmt_value(r.value_b)} ({r.effect:+,.2f})"
        for r in table[table["changed"]].head(max_items).itertuples()
    ]
    text = head + ": " + "; ".join(items) + "."
    rest = n_changed - len(items)
    if rest > 0:
        text = text[:-1] + f"; {rest} smaller change(s) account for the rest."
    return text
