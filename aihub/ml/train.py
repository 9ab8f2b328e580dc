"""Train a model from a :class:`~aihub.ml.config.TrainingConfig` and a DataFrame.

:func:`train_model` is the single entry point. It validates the data against
the configuration, picks and prepares features, splits rows into train /
validation / test, fits (for ``algorithm="auto"``: cross-validates the
candidates of :func:`auto_candidates` on the training split and keeps the best
by ROC AUC, RMSE or silhouette), evaluates on the held-out test split and
returns a :class:`~aihub.ml.model.TrainedModel`.

Long runs are cooperative: ``progress(fraction, message)`` is called between
steps and ``should_cancel()`` is polled between every fit; when it returns
True, :class:`Cancelled` is raised and nothing is returned. Any other failure
raises :class:`~aihub.errors.ValidationError` (bad input) or
:class:`~aihub.errors.TrainingError`; no partially built model escapes.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
import time
from typing import Any, Callable

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

import aihub
from aihub.errors import AihubError, TrainingError, ValidationError
from aihub.ml import metrics as mmetrics
from aihub.ml.config import SELECTION_METRIC, TrainingConfig
from aihub.ml.model import TrainedModel, jsonable, thread_limit
from aihub.ml.preprocess import (
    FeatureWarning,
    FrameCoercer,
    build_feature_schema,
    build_preprocessor,
    frame_sha256,
    infer_column_kind,
    leakage_warnings,
    parse_numeric,
    to_category_strings,
    transformed_feature_origins,
)
from aihub.ml.rfm import clv_table, name_segments, rfm_table

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

RFM_FEATURES = ["recency_days", "frequency", "monetary"]
CLV_FEATURES = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]
_POSITIVE_WORDS = {"yes", "true", "1", "y", "t", "1.0"}


class Cancelled(TrainingError):
    """Training was stopped because ``should_cancel()`` returned True."""

    code = "cancelled"


# ---------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------


def make_estimator(task: str, algorithm: str, params: dict[str, Any], *, seed: int = 0, n_jobs: int = 1):
    """Build an unfitted scikit-learn estimator from validated hyperparameters.

    Parameters
    ----------
    task : {"classification", "regression", "clustering"}
    algorithm : str
        A concrete algorithm (not ``auto``).
    params : dict
        Hyperparameters as validated by :class:`TrainingConfig`; missing keys
        take scikit-learn defaults.
    seed : int
    n_jobs : int
        Threads for random forests.

    Returns
    -------
    estimator
        ``LogisticRegression``, ``RandomForestClassifier/Regressor``,
        ``HistGradientBoostingClassifier/Regressor``, ``LinearRegression``,
        ``Ridge`` or ``KMeans``.
    """
    p = dict(params)
    if algorithm == "logistic_regression":
        return LogisticRegression(
            C=p.get("C", 1.0), max_iter=p.get("max_iter", 1000), class_weight=p.get("class_weight"), random_state=seed
        )
    if algorithm == "random_forest":
        mf = p.get("max_features", "sqrt" if task == "classification" else "all")
        kw = dict(
            n_estimators=p.get("n_estimators", 100),
            max_depth=p.get("max_depth"),
            min_samples_split=p.get("min_samples_split", 2),
            min_samples_leaf=p.get("min_samples_leaf", 5),
            max_features=1.0 if mf == "all" else mf,
            random_state=seed,
            n_jobs=n_jobs,
        )
        if task == "classification":
            return RandomForestClassifier(class_weight=p.get("class_weight"), **kw)
        return RandomForestRegressor(**kw)
    if algorithm == "gradient_boosting":
        kw = dict(
            learning_rate=p.get("learning_rate", 0.1),
            max_iter=p.get("max_iter", 100),
            max_depth=p.get("max_depth"),
            max_leaf_nodes=p.get("max_leaf_nodes", 31),
            min_samples_leaf=p.get("min_samples_leaf", 20),
            l2_regularization=p.get("l2_regularization", 0.0),
            early_stopping=p.get("early_stopping", "auto"),
            random_state=seed,
        )
        if task == "classification":
            return HistGradientBoostingClassifier(class_weight=p.get("class_weight"), **kw)
        return HistGradientBoostingRegressor(**kw)
    if algorithm == "linear_regression":
        return LinearRegression()
    if algorithm == "ridge":
        return Ridge(alpha=p.get("alpha", 1.0))
    if algorithm == "kmeans":
        return KMeans(n_clusters=p.get("n_clusters", 5), n_init=p.get("n_init", 10), max_iter=p.get("max_iter", 300), random_state=seed)
    raise ValidationError(f"algorithm {algorithm!r} is not a concrete algorithm for {task}", field="algorithm")


def auto_candidates(task: str, hyperparameters: dict[str, Any] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """Candidates ``auto`` cross-validates, as ``(name, algorithm, params)``.

    The set is fixed and data-independent (not tuned to any one data set):
    scikit-learn's default-strength linear model, a random forest with
    5-row leaves (smoother probabilities), histogram gradient boosting with
    scikit-learn defaults and a slower-learning, early-stopped variant. After
    the singles, an equal-weight soft blend of the best linear and the best
    tree candidate is scored on the same out-of-fold predictions (ensemble
    selection as in Caruana et al. 2004, restricted to two members).

    Parameters
    ----------
    task : {"classification", "regression"}
    hyperparameters : dict, optional
        ``class_weight`` (classification) is applied to every candidate.
    """
    hp = hyperparameters or {}
    if task == "classification":
        cw = {"class_weight": hp.get("class_weight")}
        return [
            ("logistic_regression", "logistic_regression", {"C": 1.0, "max_iter": 1000, **cw}),
            ("random_forest", "random_forest", {"n_estimators": 200, "min_samples_leaf": 5, "max_features": "sqrt", **cw}),
            ("gradient_boosting", "gradient_boosting", {"learning_rate": 0.1, "max_iter": 100, **cw}),
            (
                "gradient_boosting_slow",
                "gradient_boosting",
                {"learning_rate": 0.05, "max_iter": 500, "max_leaf_nodes": 15, "l2_regularization": 1.0, "early_stopping": True, **cw},
            ),
        ]
    if task == "regression":
        return [
            ("ridge", "ridge", {"alpha": 1.0}),
            ("random_forest", "random_forest", {"n_estimators": 200, "min_samples_leaf": 3, "max_features": "all"}),
            ("gradient_boosting", "gradient_boosting", {"learning_rate": 0.1, "max_iter": 100}),
            (
                "gradient_boosting_slow",
                "gradient_boosting",
                {"learning_rate": 0.05, "max_iter": 500, "max_leaf_nodes": 15, "l2_regularization": 1.0, "early_stopping": True},
            ),
        ]
    raise ValueError(task)


_LINEAR = {"logistic_regression", "linear_regression", "ridge"}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


class _Steps:
    def __init__(self, progress: ProgressFn | None, should_cancel: CancelFn | None):
        self.progress = progress
        self.should_cancel = should_cancel

    def check(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise Cancelled("Training was cancelled; no model was saved.")

    def __call__(self, fraction: float, message: str) -> None:
        self.check()
        if self.progress is not None:
            self.progress(float(min(max(fraction, 0.0), 1.0)), message)


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a model depends on."""
    import shap
    import skops

    return {
        "python": platform.python_version(),
        "aihub": aihub.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "shap": shap.__version__,
        "skops": skops.__version__,
    }


def _labels(y: pd.Series) -> np.ndarray:
    """Class labels as numpy object array: ints/floats/bools kept, text normalised."""
    from pandas.api import types as ptypes

    if ptypes.is_bool_dtype(y.dtype):
        return np.asarray([bool(v) for v in y], dtype=object)
    if ptypes.is_numeric_dtype(y.dtype) and not isinstance(y.dtype, pd.CategoricalDtype):
        vals = y.to_numpy(dtype=float)
        if np.all(np.mod(vals, 1) == 0):
            return np.asarray([int(v) for v in vals], dtype=object)
        return np.asarray([float(v) for v in vals], dtype=object)
    return to_category_strings(y).to_numpy(dtype=object)


def _sort_key(v: Any) -> tuple:
    return (0, v, "") if isinstance(v, (int, float, bool)) else (1, 0, str(v))


def resolve_positive_class(classes: list, requested: Any = None) -> Any:
    """Pick the positive class of a binary problem.

    ``requested`` matches a class by value or by its text (``"1"`` matches
    ``1``). Default: the class spelled yes/true/1/y/t (case-insensitive),
    else the last class in sorted order (scikit-learn's ``classes_[1]``).

    Raises
    ------
    ValidationError
        ``requested`` is not a class (``field="positive_class"``).
    """
    if requested is not None:
        for c in classes:
            if c == requested and type(c) is type(requested):
                return c
        for c in classes:
            if str(c).strip().lower() == str(requested).strip().lower():
                return c
        raise ValidationError(
            f"positive_class must be one of the target's classes ({', '.join(map(str, classes))}); got {requested!r}",
            field="positive_class",
            details={"allowed": [str(c) for c in classes]},
        )
    if len(classes) != 2:
        return None
    for c in classes:
        if str(c).strip().lower() in _POSITIVE_WORDS:
            return c
    return sorted(classes, key=_sort_key)[-1]


def interval_bounds(pred: np.ndarray, interval: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper prediction-interval bounds (target units).

    ``prediction + lower_offset`` and ``prediction + upper_offset``; with a
    ``floor`` (targets that were never negative in training) the lower bound
    is raised to the floor, but never above the prediction itself.
    """
    pred = np.asarray(pred, dtype=float)
    lo = pred + interval["lower_offset"]
    hi = pred + interval["upper_offset"]
    if interval.get("floor") is not None:
        lo = np.maximum(lo, np.minimum(interval["floor"], pred))
    return lo, hi


def _conformal_offsets(residuals: np.ndarray, level: float) -> tuple[float, float]:
    """Lower/upper residual quantiles with the split-conformal finite-sample correction."""
    r = np.sort(np.asarray(residuals, dtype=float))
    n = len(r)
    alpha = 1.0 - level
    lo = int(math.floor((n + 1) * alpha / 2.0)) - 1
    hi = int(math.ceil((n + 1) * (1.0 - alpha / 2.0))) - 1
    return float(r[min(max(lo, 0), n - 1)]), float(r[min(max(hi, 0), n - 1)])


def _score(task: str, y_true: np.ndarray, pred: np.ndarray, classes: list, pos_index: int | None) -> float:
    if task == "classification":
        if len(classes) == 2:
            return float(roc_auc_score((y_true == classes[pos_index]).astype(int), pred[:, pos_index]))
        return float(roc_auc_score(y_true, pred, multi_class="ovr", labels=np.asarray(classes, dtype=object)))
    return float(np.sqrt(np.mean((np.asarray(y_true, float) - pred) ** 2)))


def _predict_raw(task: str, est, X: np.ndarray) -> np.ndarray:
    return est.predict_proba(X) if task == "classification" else est.predict(X)


# ---------------------------------------------------------------------------
# Main entry point
# ---------------------------------------------------------------------------


def train_model(
    config: TrainingConfig | dict[str, Any],
    frame: pd.DataFrame,
    *,
    test_frame: pd.DataFrame | None = None,
    progress: ProgressFn | None = None,
    should_cancel: CancelFn | None = None,
) -> TrainedModel:
    """Train, evaluate and package one model.

    Parameters
    ----------
    config : TrainingConfig or dict
        Dicts go through :meth:`TrainingConfig.from_dict`.
    frame : pandas.DataFrame of shape (n_rows, n_columns)
        Training data (for ``data_prep`` configs: the orders table).
    test_frame : pandas.DataFrame, optional
        Explicit held-out rows (same columns); ``config.test_split`` is then
        ignored and every row of ``frame`` is used for training/validation.
    progress : callable(fraction, message), optional
        Called with fractions from 0 to 1 and a short status message.
    should_cancel : callable() -> bool, optional
        Polled between steps and between every model fit.

    Returns
    -------
    TrainedModel

    Raises
    ------
    ValidationError
        Bad configuration or data (unknown target, one class only, too few
        rows, no usable features...); ``field`` names the culprit.
    Cancelled
        ``should_cancel()`` returned True.
    TrainingError
        An estimator failed to fit.
    """
    steps = _Steps(progress, should_cancel)
    started = time.perf_counter()
    try:
        cfg = TrainingConfig.from_dict(config if isinstance(config, dict) else config.to_dict())
        steps(0.0, "Checking the data")
        with thread_limit(cfg.n_jobs):
            return _train(cfg, frame, test_frame, steps, started)
    except AihubError:
        raise
    except MemoryError as exc:
        raise TrainingError("Training ran out of memory; use fewer rows or a simpler algorithm.") from exc
    except Exception as exc:  # translate library errors at the edge
        raise TrainingError(f"Training failed: {type(exc).__name__}: {exc}") from exc


def _check_frame(frame: Any, name: str = "data") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}", field=name)
    if frame.empty:
        raise ValidationError(f"{name} has no rows", field=name)
    cols = [str(c) for c in frame.columns]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise ValidationError(f"{name} has duplicate column names: {', '.join(dupes)}", field=name)
    if list(frame.columns) != cols:
        frame = frame.copy()
        frame.columns = cols
    return frame.reset_index(drop=True)


def apply_data_prep(prep: dict[str, Any], frame: pd.DataFrame, *, with_target: bool = True) -> pd.DataFrame:
    """Turn an orders table into the per-customer table a ``data_prep`` config trains on.

    ``rfm``: :func:`~aihub.ml.rfm.rfm_table`. ``clv``:
    :func:`~aihub.ml.rfm.clv_table` (with the ``future_value`` target when
    ``with_target``; for scoring, features use all history).
    """
    common = dict(
        customer_col=prep["customer_column"],
        date_col=prep["date_column"],
        amount_col=prep["amount_column"],
        order_col=prep.get("order_column"),
        dayfirst=prep.get("dayfirst"),
    )
    if prep["kind"] == "rfm":
        return rfm_table(frame, as_of=prep.get("as_of") if with_target else None, **common)
    return clv_table(frame, horizon_days=prep.get("horizon_days", 365), with_target=with_target, **common)


def _train(cfg: TrainingConfig, frame: pd.DataFrame, test_frame: pd.DataFrame | None, steps: _Steps, started: float) -> TrainedModel:
    frame = _check_frame(frame)
    data_hash = frame_sha256(frame)
    n_input = len(frame)
    notes: list[dict[str, Any]] = []
    fe = cfg.feature_engineering
    log_cols = list(fe.log_transform)

    if cfg.data_prep is not None:
        steps(0.02, "Building the customer table from orders")
        frame = apply_data_prep(cfg.data_prep, frame)
        if test_frame is not None:
            test_frame = apply_data_prep(cfg.data_prep, _check_frame(test_frame, "test_frame"))
        default_feats = RFM_FEATURES if cfg.data_prep["kind"] == "rfm" else CLV_FEATURES
        features_req = cfg.features or default_feats
        if not fe.log_transform:
            log_cols = [c for c in ("recency_days", "frequency", "monetary", "avg_order_value") if c in features_req]
        explicit = True
    else:
        features_req = cfg.features
        explicit = cfg.features is not None
        if test_frame is not None:
            test_frame = _check_frame(test_frame, "test_frame")

    target = cfg.target
    task = cfg.task
    if target is not None and target not in frame.columns:
        raise ValidationError(
            f"target column {target!r} is not in the data; columns: {', '.join(frame.columns[:40])}", field="target"
        )
    for col in cfg.excluded_columns:
        if col not in frame.columns:
            raise ValidationError(f"excluded column {col!r} is not in the data", field="excluded_columns")

    # -- target -------------------------------------------------------------
    if target is not None:
        missing_y = frame[target].isna() | frame[target].astype(str).str.strip().eq("")
        if missing_y.any():
            notes.append({"column": target, "kind": "missing_target", "message": f"{int(missing_y.sum())} rows without a {target} value were left out."})
            frame = frame[~missing_y].reset_index(drop=True)
        if test_frame is not None:
            if target not in test_frame.columns:
                raise ValidationError(f"test_frame lacks the target column {target!r}", field="test_frame")
            tm = test_frame[target].isna() | test_frame[target].astype(str).str.strip().eq("")
            test_frame = test_frame[~tm].reset_index(drop=True)

    # -- features -----------------------------------------------------------
    excluded: dict[str, str] = {c: "excluded by configuration" for c in cfg.excluded_columns}
    if explicit:
        missing = [c for c in features_req if c not in frame.columns]
        if missing:
            raise ValidationError(
                f"feature columns not in the data: {', '.join(missing)}", field="features", details={"missing": missing}
            )
        candidates = [c for c in features_req if c not in cfg.excluded_columns]
    else:
        candidates = [c for c in frame.columns if c != target and c not in cfg.excluded_columns]
    for col in log_cols:
        if col not in candidates:
            raise ValidationError(f"log_transform column {col!r} is not a feature", field="feature_engineering.log_transform")

    numeric: list[str] = []
    categorical: list[str] = []
    warn_objs: list[FeatureWarning] = []
    for col in candidates:
        kind = infer_column_kind(frame[col])
        if kind in ("numeric", "categorical"):
            (numeric if kind == "numeric" else categorical).append(col)
        else:
            reason = {"datetime": "holds dates (derive e.g. days-since features to use it)", "empty": "is empty", "constant": "has a single value"}[kind]
            warn_objs.append(FeatureWarning(col, kind, f"{col!r} was left out because it {reason}."))
            excluded[col] = kind
    for col in log_cols:
        if col not in numeric:
            raise ValidationError(f"log_transform column {col!r} is not numeric", field="feature_engineering.log_transform")

    if cfg.data_prep is None:
        leaks = leakage_warnings(frame, target, columns=numeric + categorical, task=task if task != "clustering" else None)
        for w in leaks:
            drop = (not explicit) and ((w.kind == "id_like" and fe.exclude_id_columns) or (w.kind == "target_leak" and fe.exclude_leaky_columns))
            if drop:
                w.message += " It was left out; name it in features to force it in."
                excluded[w.column] = w.kind
                numeric = [c for c in numeric if c != w.column]
                categorical = [c for c in categorical if c != w.column]
            warn_objs.append(w)
    target_encoded: list[str] = []
    for col in categorical:
        n_cat = to_category_strings(frame[col]).nunique()
        if n_cat > fe.max_categories:
            if task == "clustering":
                msg = f"{col!r} has {n_cat} categories; the {fe.max_categories} most frequent are kept, the rest pooled as '(other)'."
            else:
                target_encoded.append(col)
                msg = f"{col!r} has {n_cat} categories (more than {fe.max_categories}); it is target-encoded (average outcome per category) instead of one-hot."
            warn_objs.append(FeatureWarning(col, "high_cardinality", msg, float(n_cat)))
    if not numeric and not categorical:
        raise ValidationError("no usable feature columns remain; choose features explicitly", field="features")
    used = numeric + categorical

    # -- rows ---------------------------------------------------------------
    if fe.handle_missing == "drop":
        coerced = FrameCoercer(numeric, categorical).fit(frame).transform(frame)
        keep = ~coerced.isna().any(axis=1)
        if (~keep).any():
            notes.append({"column": None, "kind": "dropped_rows", "message": f"{int((~keep).sum())} rows with blank feature values were left out (handle_missing=drop)."})
        frame = frame[keep.to_numpy()].reset_index(drop=True)
        if test_frame is not None:
            ct = FrameCoercer(numeric, categorical).fit(test_frame).transform(test_frame)
            test_frame = test_frame[~ct.isna().any(axis=1).to_numpy()].reset_index(drop=True)
    min_rows = 20 if task != "clustering" else 10
    if len(frame) < min_rows:
        raise ValidationError(f"at least {min_rows} usable rows are needed; got {len(frame)}", field="data")

    classes: list | None = None
    pos: Any = None
    y_all: np.ndarray | None = None
    if task == "classification":
        y_all = _labels(frame[target])
        uniq, counts = np.unique(y_all.astype(str), return_counts=True)
        classes = sorted({v for v in y_all.tolist()}, key=_sort_key)
        if len(classes) < 2:
            raise ValidationError(f"target {target!r} has a single class ({classes[0]!r}); two or more are needed", field="target")
        if len(classes) > 50:
            raise ValidationError(
                f"target {target!r} has {len(classes)} distinct values; for numbers use regression", field="target"
            )
        if counts.min() < 2:
            rare = [str(c) for c, k in zip(uniq, counts) if k < 2]
            raise ValidationError(f"classes with fewer than 2 rows cannot be learned: {', '.join(rare)}", field="target")
        pos = resolve_positive_class(classes, cfg.positive_class)
        if cfg.positive_class is None and pos is not None and len(classes) == 2 and str(pos).strip().lower() not in _POSITIVE_WORDS:
            notes.append({"column": target, "kind": "positive_class", "message": f"Positive class assumed to be {pos!r}; set positive_class to change."})
    elif task == "regression":
        yv, bad = parse_numeric(frame[target])
        if bad.any():
            rows = [int(i) + 1 for i in np.flatnonzero(bad.to_numpy())[:5]]
            raise ValidationError(
                f"target {target!r} must be numeric for regression; rows {', '.join(map(str, rows))} are not numbers",
                field="target",
                details={"rows": rows},
            )
        y_all = yv.to_numpy(dtype=float)

    # -- split --------------------------------------------------------------
    steps(0.05, "Splitting rows")
    rng_seed = cfg.random_seed
    idx = np.arange(len(frame))
    strat = y_all.astype(str) if task == "classification" else None
    if test_frame is not None:
        train_idx, test_idx = idx, None
    else:
        train_idx, test_idx = train_test_split(idx, test_size=cfg.test_split, random_state=rng_seed, stratify=strat)
    val_idx = np.array([], dtype=int)
    if cfg.validation_split > 0 and task != "clustering":
        frac = cfg.validation_split / (1.0 - (cfg.test_split if test_frame is None else 0.0))
        n_val = int(round(frac * len(train_idx)))
        if n_val >= 10:
            s = strat[train_idx] if strat is not None else None
            try:
                fit_idx, val_idx = train_test_split(train_idx, test_size=n_val, random_state=rng_seed + 1, stratify=s)
            except ValueError:
                fit_idx, val_idx = train_test_split(train_idx, test_size=n_val, random_state=rng_seed + 1)
            train_idx = fit_idx
    X_fit = frame.iloc[train_idx][used].reset_index(drop=True)
    X_val = frame.iloc[val_idx][used].reset_index(drop=True)
    if test_frame is not None:
        missing = [c for c in used if c not in test_frame.columns]
        if missing:
            raise ValidationError(f"test_frame lacks feature columns: {', '.join(missing)}", field="test_frame")
        X_test = test_frame[used].reset_index(drop=True)
        y_test = (
            _labels(test_frame[target]) if task == "classification" else parse_numeric(test_frame[target])[0].to_numpy(float) if task == "regression" else None
        )
    else:
        X_test = frame.iloc[test_idx][used].reset_index(drop=True)
        y_test = y_all[test_idx] if y_all is not None else None
    y_fit = y_all[train_idx] if y_all is not None else None
    y_val = y_all[val_idx] if y_all is not None else None
    if task == "classification":
        if len(set(y_fit.tolist())) < len(classes):
            raise ValidationError("a class is missing from the training split; add more rows of the rare class", field="target")

    schema = build_feature_schema(frame[used], numeric, categorical)
    for spec in schema:
        if spec.unparseable_share > 0:
            warn_objs.append(
                FeatureWarning(
                    spec.name,
                    "numeric_text",
                    f"{spec.name!r} is numeric but {spec.unparseable_share:.1%} of its cells are text; they are treated as blank.",
                    spec.unparseable_share,
                )
            )
    coercer = FrameCoercer(numeric, categorical, log_cols)

    def pipeline_for(estimator) -> Pipeline:
        pre = build_preprocessor(numeric, categorical, fe, target_encoded=target_encoded, seed=rng_seed, task=task)
        return Pipeline([("prepare", clone(coercer)), ("preprocess", pre), ("model", estimator)])

    # -- model selection ----------------------------------------------------
    cv_results = None
    oof_for_interval: np.ndarray | None = None
    if task == "clustering":
        algorithm, est_params, estimator, cv_results = _select_clusters(cfg, pipeline_for, X_fit, steps)
    elif cfg.algorithm == "auto":
        algorithm, est_params, estimator, cv_results, oof_for_interval = _auto_select(
            cfg, task, pipeline_for, X_fit, y_fit, classes, pos, steps
        )
    else:
        algorithm = cfg.algorithm
        est_params = dict(cfg.hyperparameters)
        estimator = make_estimator(task, algorithm, est_params, seed=rng_seed, n_jobs=cfg.n_jobs)

    # -- fit, validate, refit -------------------------------------------------
    steps(0.75, f"Fitting {algorithm}")
    pipe = _fit(pipeline_for(clone(estimator)), X_fit, y_fit, algorithm)
    validation_metrics = None
    interval = None
    if len(val_idx):
        steps(0.8, "Scoring the validation split")
        validation_metrics, val_pred = _evaluate(task, pipe, X_val, y_val, classes, pos)
        if task == "regression":
            lo, hi = _conformal_offsets(y_val - val_pred, cfg.interval_level)
            interval = {
                "method": "split-conformal: empirical quantiles of validation residuals (Lei et al. 2018), constant width",
                "level": cfg.interval_level,
                "lower_offset": lo,
                "upper_offset": hi,
                "n_residuals": int(len(val_idx)),
            }
        steps(0.82, "Refitting on training + validation rows")
        X_full = pd.concat([X_fit, X_val], ignore_index=True)
        y_full = np.concatenate([y_fit, y_val])
        pipe = _fit(pipeline_for(clone(estimator)), X_full, y_full, algorithm)
    else:
        X_full, y_full = X_fit, y_fit
        if task == "regression":
            if oof_for_interval is None:
                oof_for_interval = _oof_predictions(task, pipeline_for, estimator, X_fit, y_fit, cfg, steps)
            lo, hi = _conformal_offsets(y_fit - oof_for_interval, cfg.interval_level)
            interval = {
                "method": "cross-validated residual quantiles (CV+-style, Barber et al. 2021), constant width",
                "level": cfg.interval_level,
                "lower_offset": lo,
                "upper_offset": hi,
                "n_residuals": int(len(y_fit)),
            }

    if interval is not None and float(np.min(y_full)) >= 0:
        # Non-negative targets (spend, demand): never show a negative lower bound.
        interval["floor"] = 0.0

    # -- test ---------------------------------------------------------------
    steps(0.86, "Scoring the test split")
    segments = None
    if task == "clustering":
        Xt_test = pipe[:-1].transform(X_test)
        test_labels = pipe.named_steps["model"].predict(Xt_test)
        test_metrics = mmetrics.clustering_metrics(Xt_test, test_labels, seed=rng_seed)
        all_labels = pipe.predict(frame[used])
        uniq, counts = np.unique(all_labels, return_counts=True)
        test_metrics["cluster_sizes_all_rows"] = {str(int(u)): int(c) for u, c in zip(uniq, counts)}
        if cfg.data_prep is not None and cfg.data_prep["kind"] == "rfm":
            segments = {str(k): v for k, v in name_segments(frame, all_labels).items()}
        else:
            segments = _generic_segments(frame[used], all_labels, numeric)
        test_metrics["segment_sizes"] = {segments[str(int(u))]["name"]: int(c) for u, c in zip(uniq, counts)}
    else:
        test_metrics, _ = _evaluate(task, pipe, X_test, y_test, classes, pos, interval)

    origins, names = transformed_feature_origins(pipe.named_steps["preprocess"], numeric, categorical)
    bg_n = min(cfg.explain_background_size, len(X_full))
    # Stored parsed (numbers as floats, categories as text) so it survives JSON unchanged.
    sample = X_full.sample(n=bg_n, random_state=rng_seed).reset_index(drop=True)
    background = FrameCoercer(numeric, categorical).fit(sample).transform(sample)

    model = TrainedModel(
        pipeline=pipe,
        config=cfg,
        task=task,
        algorithm=algorithm,
        estimator_params=jsonable(est_params),
        feature_schema=schema,
        target=target,
        classes=jsonable(classes) if classes is not None else None,
        positive_class=jsonable(pos),
        metrics=jsonable(test_metrics),
        validation_metrics=jsonable(validation_metrics) if validation_metrics else None,
        cv_results=jsonable(cv_results) if cv_results else None,
        data_hash=data_hash,
        versions=library_versions(),
        training_seconds=0.0,
        n_rows={
            "input": int(n_input),
            "used": int(len(frame) + (len(test_frame) if test_frame is not None else 0)),
            "train": int(len(X_fit)),
            "validation": int(len(X_val)),
            "test": int(len(X_test)),
        },
        warnings=[w.to_dict() for w in warn_objs] + notes,
        excluded_columns=excluded,
        interval=interval,
        segments=jsonable(segments) if segments else None,
        global_importance=None,
        explain_background=background,
        transformed_origins=origins,
        transformed_names=names,
        created_at=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    )

    if task != "clustering":
        steps(0.9, "Computing feature importance (SHAP)")
        try:
            from aihub.ml.explain import global_importance

            model.global_importance = global_importance(model, X_full, max_rows=500, seed=rng_seed)
        except Cancelled:
            raise
        except Exception as exc:  # importance is a nice-to-have; never fail a good model on it
            model.warnings.append({"column": None, "kind": "importance_failed", "message": f"Feature importance could not be computed: {exc}"})
    steps(1.0, "Done")
    model.training_seconds = round(time.perf_counter() - started, 3)
    return model


def _fit(pipe: Pipeline, X: pd.DataFrame, y: np.ndarray | None, algorithm: str) -> Pipeline:
    try:
        if y is None:
            return pipe.fit(X)
        return pipe.fit(X, y)
    except AihubError:
        raise
    except Exception as exc:
        raise TrainingError(f"{algorithm} could not be fitted: {type(exc).__name__}: {exc}") from exc


def _evaluate(task, pipe, X, y, classes, pos, interval=None):
    if task == "classification":
        proba = pipe.predict_proba(X)
        est_classes = list(jsonable(list(pipe.named_steps["model"].classes_)))
        order = [est_classes.index(c) for c in classes]
        proba = proba[:, order]
        pred = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
        return mmetrics.classification_metrics(y, pred, proba, classes, pos), proba
    pred = pipe.predict(X)
    lo = hi = None
    if interval is not None:
        lo, hi = interval_bounds(pred, interval)
    return mmetrics.regression_metrics(y, pred, lo, hi), pred


def _folds(task: str, y: np.ndarray, n_folds: int, seed: int):
    if task == "classification":
        ys = y.astype(str)
        _, counts = np.unique(ys, return_counts=True)
        k = max(2, min(n_folds, int(counts.min())))
        return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), ys))
    k = max(2, min(n_folds, len(y) // 5))
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y))))


def _auto_select(cfg, task, pipeline_for, X, y, classes, pos, steps: _Steps):
    cands = auto_candidates(task, cfg.hyperparameters)
    folds = _folds(task, y, cfg.cv_folds, cfg.random_seed)
    pos_index = classes.index(pos) if (task == "classification" and pos is not None) else None
    n_out = len(classes) if task == "classification" else 0
    oof = {name: (np.zeros((len(y), n_out)) if task == "classification" else np.zeros(len(y))) for name, _, _ in cands}
    fold_scores: dict[str, list[float]] = {name: [] for name, _, _ in cands}
    seconds: dict[str, float] = {name: 0.0 for name, _, _ in cands}
    total = len(folds) * len(cands)
    done = 0
    for fi, (tr, va) in enumerate(folds):
        prep = pipeline_for(None)[:-1]
        Xtr = prep.fit_transform(X.iloc[tr], y[tr])
        Xva = prep.transform(X.iloc[va])
        for name, algo, params in cands:
            steps(0.1 + 0.6 * done / total, f"Cross-validating {name} (fold {fi + 1} of {len(folds)})")
            t0 = time.perf_counter()
            est = make_estimator(task, algo, params, seed=cfg.random_seed, n_jobs=cfg.n_jobs)
            try:
                est.fit(Xtr, y[tr])
            except Exception as exc:
                raise TrainingError(f"{name} could not be fitted during cross-validation: {type(exc).__name__}: {exc}") from exc
            raw = _predict_raw(task, est, Xva)
            if task == "classification":
                est_classes = list(jsonable(list(est.classes_)))
                raw = raw[:, [est_classes.index(c) for c in classes]]
            oof[name][va] = raw
            fold_scores[name].append(_score(task, y[va], raw, classes, pos_index))
            seconds[name] += time.perf_counter() - t0
            done += 1
    steps(0.7, "Comparing candidates")
    higher_better = task == "classification"
    metric = SELECTION_METRIC[task]
    rows = []
    for name, algo, params in cands:
        sc = fold_scores[name]
        rows.append(
            {"candidate": name, "algorithm": algo, "params": params, "metric": metric, "mean": float(np.mean(sc)), "std": float(np.std(sc)), "folds": sc, "seconds": round(seconds[name], 3)}
        )
    linear = [r for r in rows if r["algorithm"] in _LINEAR]
    trees = [r for r in rows if r["algorithm"] not in _LINEAR]
    pick = (max if higher_better else min)
    if linear and trees:
        bl = pick(linear, key=lambda r: r["mean"])
        bt = pick(trees, key=lambda r: r["mean"])
        blend_oof = (oof[bl["candidate"]] + oof[bt["candidate"]]) / 2.0
        sc = [_score(task, y[va], blend_oof[va], classes, pos_index) for _, va in folds]
        oof["blend"] = blend_oof
        rows.append(
            {
                "candidate": "blend",
                "algorithm": "blend",
                "params": {"members": [bl["candidate"], bt["candidate"]], "weights": [0.5, 0.5]},
                "metric": metric,
                "mean": float(np.mean(sc)),
                "std": float(np.std(sc)),
                "folds": sc,
                "seconds": round(seconds[bl["candidate"]] + seconds[bt["candidate"]], 3),
            }
        )
    # Best mean wins; within 1e-4 the earlier (simpler) candidate is kept.
    best = rows[0]
    for r in rows[1:]:
        better = r["mean"] > best["mean"] + 1e-4 if higher_better else r["mean"] < best["mean"] - 1e-4
        if better:
            best = r
    for r in rows:
        r["selected"] = r is best
    by_name = {name: (algo, params) for name, algo, params in cands}
    if best["candidate"] == "blend":
        members = best["params"]["members"]
        ests = [(m, make_estimator(task, by_name[m][0], by_name[m][1], seed=cfg.random_seed, n_jobs=cfg.n_jobs)) for m in members]
        estimator = VotingClassifier(ests, voting="soft") if task == "classification" else VotingRegressor(ests)
        est_params = {"members": {m: by_name[m][1] for m in members}, "weights": [0.5, 0.5]}
        algorithm = "blend"
    else:
        algo, params = by_name[best["candidate"]]
        estimator = make_estimator(task, algo, params, seed=cfg.random_seed, n_jobs=cfg.n_jobs)
        est_params = dict(params)
        algorithm = algo
    return algorithm, est_params, estimator, rows, (oof[best["candidate"]] if task == "regression" else None)


def _oof_predictions(task, pipeline_for, estimator, X, y, cfg, steps: _Steps) -> np.ndarray:
    folds = _folds(task, y, cfg.cv_folds, cfg.random_seed)
    out = np.zeros(len(y))
    for fi, (tr, va) in enumerate(folds):
        steps(0.76 + 0.04 * fi / len(folds), f"Cross-validating residuals for the prediction interval (fold {fi + 1} of {len(folds)})")
        p = _fit(pipeline_for(clone(estimator)), X.iloc[tr], y[tr], "model")
        out[va] = p.predict(X.iloc[va])
    return out


def _select_clusters(cfg, pipeline_for, X, steps: _Steps):
    from sklearn.metrics import silhouette_score

    if cfg.algorithm == "kmeans":
        params = dict(cfg.hyperparameters)
        return "kmeans", params, make_estimator("clustering", "kmeans", params, seed=cfg.random_seed), None
    max_k = int(cfg.hyperparameters.get("max_clusters", 8))
    max_k = max(2, min(max_k, len(X) - 1))
    prep = pipeline_for(None)[:-1]
    Xt = prep.fit_transform(X)
    rng = np.random.default_rng(cfg.random_seed)
    sample = rng.choice(len(Xt), size=min(len(Xt), 3000), replace=False)
    rows = []
    for i, k in enumerate(range(2, max_k + 1)):
        steps(0.1 + 0.6 * i / max(1, max_k - 1), f"Trying {k} segments")
        t0 = time.perf_counter()
        km = make_estimator("clustering", "kmeans", {"n_clusters": k, "n_init": 10, "max_iter": 300}, seed=cfg.random_seed)
        labels = km.fit_predict(Xt)
        sil = float(silhouette_score(Xt[sample], labels[sample])) if len(np.unique(labels[sample])) > 1 else -1.0
        rows.append(
            {"candidate": f"kmeans_k{k}", "algorithm": "kmeans", "params": {"n_clusters": k, "n_init": 10, "max_iter": 300}, "metric": "silhouette", "mean": sil, "std": 0.0, "folds": [sil], "seconds": round(time.perf_counter() - t0, 3)}
        )
    best = max(rows, key=lambda r: r["mean"])
    for r in rows:
        r["selected"] = r is best
    params = dict(best["params"])
    return "kmeans", params, make_estimator("clustering", "kmeans", params, seed=cfg.random_seed), rows


def _generic_segments(X: pd.DataFrame, labels: np.ndarray, numeric: list[str]) -> dict[str, dict[str, Any]]:
    """Name clusters "Segment 1..k" by size and describe them by numeric medians."""
    uniq, counts = np.unique(labels, return_counts=True)
    order = [int(u) for u, _ in sorted(zip(uniq, counts), key=lambda t: -t[1])]
    out = {}
    for rank, c in enumerate(order, start=1):
        sel = labels == c
        prof = {}
        for col in numeric[:10]:
            vals, _ = parse_numeric(X.loc[sel, col])
            prof[col] = float(vals.median()) if vals.notna().any() else None
        out[str(c)] = {"name": f"Segment {rank}", "description": "", "size": int(sel.sum()), "medians": prof}
    return out
