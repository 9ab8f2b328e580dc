"""Train a model from a :class:`~aihub.ml.config.TrainingConfig` and a DataFrame.

:func:`train_model` is the single entry point. Steps, each a small function:

1. the data and the target are checked (:func:`aihub.ml.targets.analyze_target`
   refuses a target that cannot be learned, naming the column and the reason);
2. every column gets a use (:class:`aihub.ml.schema.ColumnPlan`): number,
   category, date, free text, or left out as an id, a leak, empty or constant;
3. rows are split into train / validation / test (stratified for classes);
4. the estimator is chosen: for ``algorithm="auto"`` the candidates of
   :func:`aihub.ml.estimators.auto_candidates` are cross-validated on the
   training split (:mod:`aihub.ml.selection`);
5. it is fitted, its probabilities calibrated and the decision threshold
   chosen on held-out predictions (:mod:`aihub.ml.decision`), or its
   prediction interval sized (regression), then refitted on training +
   validation rows;
6. it is scored on the held-out test split and packaged as a
   :class:`~aihub.ml.model.TrainedModel` with SHAP feature importance.

Estimators always see class codes 0..K-1, whatever the labels' type (0/1,
booleans, ``"yes"``/``"no"``, -1/1, 0.0/1.0, text).

Long runs are cooperative: ``progress(fraction, message)`` is called between
steps and ``should_cancel()`` is polled between every fit; when it returns
True, :class:`Cancelled` is raised and nothing is returned. Any other failure
raises :class:`~aihub.errors.ValidationError` (bad input) or
:class:`~aihub.errors.TrainingError`; no partially built model escapes.
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

import aihub
import aihub.ml.decision as decision  # noqa: PLR0402  (from aihub.ml import ... would make an import edge to the package: a cycle)
import aihub.ml.metrics as mmetrics
from aihub.errors import AihubError, TrainingError, ValidationError
from aihub.jsonsafe import plain
from aihub.ml.clusters import cluster_test_metrics, select_clusters
from aihub.ml.config import TrainingConfig
from aihub.ml.estimators import auto_candidates, make_estimator
from aihub.ml.explain import global_importance
from aihub.ml.features import date_format
from aihub.ml.intervals import conformal_offsets, interval_bounds
from aihub.ml.model import TrainedModel, thread_limit
from aihub.ml.pipeline import build_preprocessor, coercer, transformed_feature_origins
from aihub.ml.preprocess import (
    FeatureWarning,
    FrameCoercer,
    detect_column_kind,
    frame_sha256,
    leakage_warnings,
    parse_numeric,
    to_category_strings,
)
from aihub.ml.rfm import apply_data_prep
from aihub.ml.schema import ColumnPlan, build_feature_schema
from aihub.ml.selection import Selection, auto_select, oof_predictions, raw_output
from aihub.ml.targets import TargetInfo, analyze_target, encode_labels, normalize_labels, resolve_positive_class

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]

RFM_FEATURES = ["recency_days", "frequency", "monetary"]
CLV_FEATURES = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]


class Cancelled(TrainingError):
    """Training was stopped because ``should_cancel()`` returned True."""

    code = "cancelled"


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
    from importlib.metadata import version

    import lightgbm
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
        "lightgbm": lightgbm.__version__,
        "vaderSentiment": version("vaderSentiment"),
    }


# ---------------------------------------------------------------------------
# Entry point
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
        Bad configuration or data (unusable target, too few rows, no usable
        features...); ``field`` names the culprit.
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
            model = _train(cfg, frame, test_frame, steps)
    except AihubError:
        raise
    except MemoryError as exc:
        raise TrainingError("Training ran out of memory; use fewer rows or a simpler algorithm.") from exc
    except Exception as exc:  # translate library errors at the edge
        raise TrainingError(f"Training failed: {type(exc).__name__}: {exc}") from exc
    model.training_seconds = round(time.perf_counter() - started, 3)
    return model


# ---------------------------------------------------------------------------
# 1. Data and target
# ---------------------------------------------------------------------------


@dataclass
class _Data:
    frame: pd.DataFrame
    test_frame: pd.DataFrame | None
    data_hash: str
    n_input: int
    features: list[str] | None
    explicit: bool
    log: list[str]
    notes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[FeatureWarning] = field(default_factory=list)


def _check_frame(frame: Any, name: str = "data") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}", field=name)
    if frame.empty:
        raise ValidationError(f"{name} has no rows", field=name)
    cols = [str(c).strip() for c in frame.columns]  # as the upload reader names columns: stripped header cells
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise ValidationError(f"{name} has duplicate column names: {', '.join(dupes)}", field=name)
    if list(frame.columns) != cols:
        frame = frame.copy()
        frame.columns = cols
    return frame.reset_index(drop=True)


def _load(cfg: TrainingConfig, frame: Any, test_frame: Any, steps: _Steps) -> _Data:
    frame = _check_frame(frame)
    data = _Data(frame, None, frame_sha256(frame), len(frame), cfg.features, cfg.features is not None, list(cfg.feature_engineering.log_transform))
    if test_frame is not None:
        data.test_frame = _check_frame(test_frame, "test_frame")
    if cfg.data_prep is not None:
        steps(0.02, "Building the customer table from orders")
        data.frame = apply_data_prep(cfg.data_prep, frame)
        if data.test_frame is not None:
            data.test_frame = apply_data_prep(cfg.data_prep, data.test_frame)
        data.features = cfg.features or (RFM_FEATURES if cfg.data_prep["kind"] == "rfm" else CLV_FEATURES)
        data.explicit = True
        if not data.log:
            data.log = [c for c in ("recency_days", "frequency", "monetary", "avg_order_value") if c in data.features]
    if cfg.target is not None and cfg.target not in data.frame.columns:
        raise ValidationError(f"target column {cfg.target!r} is not in the data; columns: {', '.join(data.frame.columns[:40])}", field="target")
    for col in cfg.excluded_columns:
        if col not in data.frame.columns:
            raise ValidationError(f"excluded column {col!r} is not in the data", field="excluded_columns")
    return data


def _blank_target(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().eq("")


def _target(cfg: TrainingConfig, data: _Data) -> TargetInfo | None:
    """Check the target and drop rows without a value (training and test frames)."""
    if cfg.target is None:
        return None
    info = analyze_target(data.frame[cfg.target], cfg.task, cfg.positive_class)
    missing = _blank_target(data.frame[cfg.target])
    if missing.any():
        data.notes.append({"column": cfg.target, "kind": "missing_target", "message": f"{int(missing.sum())} rows without a {cfg.target} value were left out."})
        data.frame = data.frame[~missing].reset_index(drop=True)
    if data.test_frame is not None:
        if cfg.target not in data.test_frame.columns:
            raise ValidationError(f"test_frame lacks the target column {cfg.target!r}", field="test_frame")
        data.test_frame = data.test_frame[~_blank_target(data.test_frame[cfg.target])].reset_index(drop=True)
    if info.positive_reason in ("minority", "last"):
        data.notes.append(
            {
                "column": cfg.target,
                "kind": "positive_class",
                "message": f"Positive class assumed to be {info.positive_class!r} (the {'rarer' if info.positive_reason == 'minority' else 'last'} "
                "outcome); set positive_class to change.",
            }
        )
    if info.choices.get("ask"):
        other = "classes" if cfg.task == "regression" else "amounts"
        data.notes.append({"column": cfg.target, "kind": "target_kind", "message": f"{info.choices['question']} Trained as {'amounts' if cfg.task == 'regression' else 'classes'}; choose task {'classification' if other == 'classes' else 'regression'} for {other}."})
    return info


def _targets(info: TargetInfo | None, values: pd.Series | None) -> np.ndarray | None:
    if info is None or values is None:
        return None
    if info.task == "classification":
        return encode_labels(normalize_labels(values), info.classes)
    return parse_numeric(values)[0].to_numpy(dtype=float)


# ---------------------------------------------------------------------------
# 2. Columns
# ---------------------------------------------------------------------------


_KIND_REASONS = {"empty": "is empty", "constant": "has a single value"}


def _candidates(cfg: TrainingConfig, data: _Data) -> list[str]:
    if data.explicit:
        missing = [c for c in data.features if c not in data.frame.columns]
        if missing:
            raise ValidationError(f"feature columns not in the data: {', '.join(missing)}", field="features", details={"missing": missing})
        return [c for c in data.features if c not in cfg.excluded_columns]
    return [c for c in data.frame.columns if c != cfg.target and c not in cfg.excluded_columns]


def _plan_columns(cfg: TrainingConfig, data: _Data) -> ColumnPlan:
    fe = cfg.feature_engineering
    plan = ColumnPlan(excluded={c: "excluded by configuration" for c in cfg.excluded_columns})
    cands = _candidates(cfg, data)
    for col in data.log:
        if col not in cands:
            raise ValidationError(f"log_transform column {col!r} is not a feature", field="feature_engineering.log_transform")
    groups = {"numeric": plan.numeric, "categorical": plan.categorical, "date": plan.dates, "text": plan.texts}
    for col in cands:
        kind = fe.column_kinds.get(col) or detect_column_kind(data.frame[col])
        if kind in groups:
            groups[kind].append(col)
        else:
            plan.excluded[col] = kind
            if kind != "exclude":
                data.warnings.append(FeatureWarning(col, kind, f"{col!r} was left out because it {_KIND_REASONS.get(kind, kind)}."))
    for col in data.log:
        if col not in plan.numeric:
            raise ValidationError(f"log_transform column {col!r} is not numeric", field="feature_engineering.log_transform")
    plan.log = list(data.log)
    plan.date_formats = {c: date_format(data.frame[c]) for c in plan.dates}
    if cfg.data_prep is None:
        _leaks(cfg, data, plan)
    _encodings(cfg, data, plan)
    if not plan.used:
        raise ValidationError("no usable feature columns remain; choose features explicitly", field="features")
    return plan


def _leaks(cfg: TrainingConfig, data: _Data, plan: ColumnPlan) -> None:
    fe = cfg.feature_engineering
    task = cfg.task if cfg.task != "clustering" else None
    for w in leakage_warnings(data.frame, cfg.target, columns=plan.numeric + plan.categorical, task=task):
        drop = (not data.explicit) and ((w.kind == "id_like" and fe.exclude_id_columns) or (w.kind == "target_leak" and fe.exclude_leaky_columns))
        if drop:
            w.message += " It was left out; name it in features to force it in."
            plan.drop(w.column, w.kind)
        data.warnings.append(w)


def _encodings(cfg: TrainingConfig, data: _Data, plan: ColumnPlan) -> None:
    fe = cfg.feature_engineering
    for col in plan.categorical:
        n_cat = to_category_strings(data.frame[col]).nunique()
        if n_cat <= fe.max_categories:
            continue
        if cfg.task == "clustering":
            msg = f"{col!r} has {n_cat} categories; the {fe.max_categories} most frequent are kept, the rest pooled as '(other)'."
        else:
            plan.target_encoded.append(col)
            msg = f"{col!r} has {n_cat} categories (more than {fe.max_categories}); it is target-encoded (average outcome per category) instead of one-hot."
        data.warnings.append(FeatureWarning(col, "high_cardinality", msg, float(n_cat)))


def _drop_incomplete_rows(cfg: TrainingConfig, data: _Data, plan: ColumnPlan) -> None:
    if cfg.feature_engineering.handle_missing != "drop":
        return
    prep = coercer(plan)
    keep = ~prep.fit(data.frame).transform(data.frame).isna().any(axis=1).to_numpy()
    if (~keep).any():
        data.notes.append({"column": None, "kind": "dropped_rows", "message": f"{int((~keep).sum())} rows with blank feature values were left out (handle_missing=drop)."})
    data.frame = data.frame[keep].reset_index(drop=True)
    if data.test_frame is not None:
        t = prep.transform(data.test_frame)
        data.test_frame = data.test_frame[~t.isna().any(axis=1).to_numpy()].reset_index(drop=True)


# ---------------------------------------------------------------------------
# 3. Split
# ---------------------------------------------------------------------------


@dataclass
class _Split:
    X_fit: pd.DataFrame
    y_fit: np.ndarray | None
    X_val: pd.DataFrame
    y_val: np.ndarray | None
    X_test: pd.DataFrame
    y_test: np.ndarray | None


def _split(cfg: TrainingConfig, data: _Data, info: TargetInfo | None, plan: ColumnPlan) -> _Split:
    min_rows = 20 if cfg.task != "clustering" else 10
    if len(data.frame) < min_rows:
        raise ValidationError(f"at least {min_rows} usable rows are needed; got {len(data.frame)}", field="data")
    used = plan.used
    y_all = _targets(info, data.frame[cfg.target] if info is not None else None)
    strat = y_all if cfg.task == "classification" else None
    idx = np.arange(len(data.frame))
    if data.test_frame is None:
        train_idx, test_idx = train_test_split(idx, test_size=cfg.test_split, random_state=cfg.random_seed, stratify=strat)
    else:
        train_idx, test_idx = idx, None
    train_idx, val_idx = _validation_rows(cfg, data, train_idx, strat)
    pick = (lambda ix: y_all[ix]) if y_all is not None else (lambda ix: None)
    if data.test_frame is not None:
        missing = [c for c in used if c not in data.test_frame.columns]
        if missing:
            raise ValidationError(f"test_frame lacks feature columns: {', '.join(missing)}", field="test_frame")
        X_test = data.test_frame[used].reset_index(drop=True)
        y_test = _targets(info, data.test_frame[cfg.target] if info is not None else None)
    else:
        X_test, y_test = data.frame.iloc[test_idx][used].reset_index(drop=True), pick(test_idx)
    out = _Split(data.frame.iloc[train_idx][used].reset_index(drop=True), pick(train_idx), data.frame.iloc[val_idx][used].reset_index(drop=True), pick(val_idx), X_test, y_test)
    if info is not None and info.task == "classification" and len(np.unique(out.y_fit)) < len(info.classes):
        raise ValidationError("a class is missing from the training split; add more rows of the rare class", field="target")
    return out


def _validation_rows(cfg: TrainingConfig, data: _Data, train_idx: np.ndarray, strat: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    empty = np.array([], dtype=int)
    if cfg.validation_split <= 0 or cfg.task == "clustering":
        return train_idx, empty
    frac = cfg.validation_split / (1.0 - (cfg.test_split if data.test_frame is None else 0.0))
    n_val = round(frac * len(train_idx))
    if n_val < 10:
        return train_idx, empty
    s = strat[train_idx] if strat is not None else None
    try:
        return tuple(train_test_split(train_idx, test_size=n_val, random_state=cfg.random_seed + 1, stratify=s))
    except ValueError:
        return tuple(train_test_split(train_idx, test_size=n_val, random_state=cfg.random_seed + 1))


# ---------------------------------------------------------------------------
# 4-5. Choose, fit, calibrate, validate, refit
# ---------------------------------------------------------------------------


class _Factory:
    """Builds the model pipeline for an estimator (``None``: preprocessing only)."""

    def __init__(self, cfg: TrainingConfig, plan: ColumnPlan, n_classes: int | None):
        self.cfg, self.plan, self.n_classes = cfg, plan, n_classes

    def __call__(self, estimator) -> Pipeline:
        pre = build_preprocessor(self.plan, self.cfg.feature_engineering, seed=self.cfg.random_seed, task=self.cfg.task, n_classes=self.n_classes)
        return Pipeline([("prepare", coercer(self.plan)), ("preprocess", pre), ("model", estimator)])


def _fit(pipe: Pipeline, X: pd.DataFrame, y: np.ndarray | None, algorithm: str) -> Pipeline:
    try:
        return pipe.fit(X) if y is None else pipe.fit(X, y)
    except AihubError:
        raise
    except Exception as exc:
        raise TrainingError(f"{algorithm} could not be fitted: {type(exc).__name__}: {exc}") from exc


def _choose(cfg: TrainingConfig, factory: _Factory, split: _Split, info: TargetInfo, steps: _Steps) -> Selection:
    if cfg.algorithm == "auto":
        return auto_select(cfg, cfg.task, factory, split.X_fit, split.y_fit, _n_classes(info), _pos_code(info), steps)
    params = dict(cfg.hyperparameters)
    return Selection(cfg.algorithm, params, make_estimator(cfg.task, cfg.algorithm, params, seed=cfg.random_seed, n_jobs=cfg.n_jobs), [])


def _n_classes(info: TargetInfo | None) -> int:
    return len(info.classes) if info is not None and info.classes else 0


def _pos_code(info: TargetInfo | None) -> int | None:
    return info.classes.index(info.positive_class) if info is not None and info.positive_class is not None else None


@dataclass
class _Fitted:
    pipe: Pipeline
    validation_metrics: dict[str, Any] | None = None
    interval: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    threshold: dict[str, Any] | None = None


def _held_out(cfg, factory, sel: Selection, split: _Split, val_raw: np.ndarray | None, n_classes: int, steps) -> tuple[np.ndarray, np.ndarray, str]:
    """Out-of-sample raw predictions for calibration, threshold or intervals: validation rows plus out-of-fold ones."""
    parts_y, parts_p, sources = [], [], []
    if val_raw is not None:
        parts_y.append(split.y_val)
        parts_p.append(val_raw)
        sources.append(f"validation split ({len(split.y_val)} rows)")
    oof = sel.oof
    binary = cfg.task == "classification" and n_classes == 2  # threshold and calibration want many held-out rows
    if oof is None and (val_raw is None or binary):
        oof = oof_predictions(cfg, cfg.task, factory, sel.estimator, split.X_fit, split.y_fit, n_classes, steps)
    if oof is not None:
        parts_y.append(split.y_fit)
        parts_p.append(oof)
        sources.append(f"cross-validation ({len(split.y_fit)} rows)")
    return np.concatenate(parts_y), np.concatenate(parts_p), " + ".join(sources)


def _decision(cfg: TrainingConfig, info: TargetInfo, sel: Selection, y: np.ndarray, raw: np.ndarray, source: str, fitted: _Fitted) -> None:
    """Calibration map and decision threshold from held-out raw class-code probabilities."""
    k = len(info.classes)
    weights = decision.class_weights(y, k, cfg.hyperparameters.get("class_weight"))
    if k != 2:
        fitted.calibration = {"method": "prior", "weights": weights} if weights else {"method": "none"}
        return
    pos = _pos_code(info)
    y_pos = (y == pos).astype(int)
    if decision.needs_calibration(sel.algorithm, sel.members, weights):
        fitted.calibration = decision.fit_calibration(y_pos, raw[:, pos], weights, pos)
    else:
        fitted.calibration = {"method": "none"}
    p = decision.apply_calibration(raw, fitted.calibration)[:, pos]
    if cfg.decision_threshold is not None:
        fitted.threshold = decision.fixed_threshold(cfg.decision_threshold, cfg.decision_metric)
    else:
        fitted.threshold = decision.choose_threshold(y_pos, p, cfg.decision_metric, source=source)


def _interval(cfg: TrainingConfig, y: np.ndarray, pred: np.ndarray, source: str) -> dict[str, Any]:
    lo, hi = conformal_offsets(y - pred, cfg.interval_level)
    method = "split-conformal: empirical quantiles of held-out residuals (Lei et al. 2018), constant width"
    if source.startswith("cross-validation"):
        method = "cross-validated residual quantiles (CV+-style, Barber et al. 2021), constant width"
    return {"method": method, "level": cfg.interval_level, "lower_offset": lo, "upper_offset": hi, "n_residuals": len(y), "source": source}


def _fit_validate_refit(cfg: TrainingConfig, factory: _Factory, sel: Selection, split: _Split, info: TargetInfo, steps: _Steps) -> _Fitted:
    steps(0.75, f"Fitting {sel.algorithm}")
    n_classes = _n_classes(info)
    pipe = _fit(factory(clone(sel.estimator)), split.X_fit, split.y_fit, sel.algorithm)
    fitted = _Fitted(pipe)
    val_raw = None
    if len(split.X_val):
        steps(0.8, "Scoring the validation split")
        val_raw = raw_output(cfg.task, pipe.named_steps["model"], pipe[:-1].transform(split.X_val), n_classes)
    y_held, raw_held, source = _held_out(cfg, factory, sel, split, val_raw, n_classes, steps)
    if cfg.task == "classification":
        _decision(cfg, info, sel, y_held, raw_held, source, fitted)
    else:
        fitted.interval = _interval(cfg, y_held, raw_held, source)
    if val_raw is not None:
        fitted.validation_metrics = _metrics(cfg, info, split.y_val, val_raw, fitted)
        steps(0.82, "Refitting on training + validation rows")
        X_full = pd.concat([split.X_fit, split.X_val], ignore_index=True)
        fitted.pipe = _fit(factory(clone(sel.estimator)), X_full, np.concatenate([split.y_fit, split.y_val]), sel.algorithm)
    y_all = np.concatenate([split.y_fit, split.y_val]) if len(split.X_val) else split.y_fit
    if fitted.interval is not None and float(np.min(y_all)) >= 0:
        fitted.interval["floor"] = 0.0  # non-negative targets (spend, demand): never show a negative lower bound
    return fitted


def _metrics(cfg: TrainingConfig, info: TargetInfo, y: np.ndarray, raw: np.ndarray, fitted: _Fitted) -> dict[str, Any]:
    """Held-out metrics from raw estimator output (class-code probabilities or values)."""
    if cfg.task == "regression":
        lo = hi = None
        if fitted.interval is not None:
            lo, hi = interval_bounds(raw, fitted.interval)
        return mmetrics.regression_metrics(y, raw, lo, hi)
    classes = np.asarray(info.classes, dtype=object)
    proba = decision.apply_calibration(raw, fitted.calibration)
    if len(info.classes) == 2 and fitted.threshold is not None:
        pos = _pos_code(info)
        pred_codes = np.where(proba[:, pos] >= fitted.threshold["value"], pos, 1 - pos)
    else:
        pred_codes = np.argmax(proba, axis=1)
    out = mmetrics.classification_metrics(classes[y], classes[pred_codes], proba, list(info.classes), info.positive_class)
    if fitted.threshold is not None:
        out["threshold"] = fitted.threshold["value"]
    return out


# ---------------------------------------------------------------------------
# 6. Package
# ---------------------------------------------------------------------------


def _background(cfg: TrainingConfig, plan: ColumnPlan, X: pd.DataFrame) -> pd.DataFrame:
    """SHAP background rows, stored parsed (numbers as floats, categories as text) so they survive JSON."""
    sample = X.sample(n=min(cfg.explain_background_size, len(X)), random_state=cfg.random_seed).reset_index(drop=True)
    return coercer(plan).fit(sample).transform(sample)


def _train(cfg: TrainingConfig, frame: pd.DataFrame, test_frame: pd.DataFrame | None, steps: _Steps) -> TrainedModel:
    data = _load(cfg, frame, test_frame, steps)
    info = _target(cfg, data)
    plan = _plan_columns(cfg, data)
    _drop_incomplete_rows(cfg, data, plan)
    steps(0.05, "Splitting rows")
    split = _split(cfg, data, info, plan)
    schema = build_feature_schema(data.frame[plan.used], plan, cfg.feature_engineering)
    for spec in schema:
        if spec.unparseable_share > 0:
            data.warnings.append(
                FeatureWarning(spec.name, "numeric_text", f"{spec.name!r} is numeric but {spec.unparseable_share:.1%} of its cells are text; they are treated as blank.", spec.unparseable_share)
            )
    factory = _Factory(cfg, plan, _n_classes(info) or None)
    if cfg.task == "clustering":
        return _package_clusters(cfg, data, plan, schema, split, factory, steps)
    sel = _choose(cfg, factory, split, info, steps)
    fitted = _fit_validate_refit(cfg, factory, sel, split, info, steps)
    steps(0.86, "Scoring the test split")
    model_est = fitted.pipe.named_steps["model"]
    test_raw = raw_output(cfg.task, model_est, fitted.pipe[:-1].transform(split.X_test), _n_classes(info))
    test_metrics = _metrics(cfg, info, split.y_test, test_raw, fitted)
    X_full = pd.concat([split.X_fit, split.X_val], ignore_index=True)
    model = _model(cfg, data, plan, schema, split, fitted.pipe, sel.algorithm, sel.params, test_metrics, info)
    model.validation_metrics = plain(fitted.validation_metrics) if fitted.validation_metrics else None
    model.cv_results = plain(sel.cv_results) if sel.cv_results else None
    model.interval, model.calibration, model.threshold = fitted.interval, fitted.calibration, fitted.threshold
    steps(0.9, "Computing feature importance (SHAP)")
    try:
        model.global_importance = global_importance(model, X_full, max_rows=500, seed=cfg.random_seed)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001  importance is a nice-to-have; never fail a good model on it
        model.warnings.append({"column": None, "kind": "importance_failed", "message": f"Feature importance could not be computed: {exc}"})
    steps(1.0, "Done")
    return model


def _model(cfg, data: _Data, plan: ColumnPlan, schema, split: _Split, pipe: Pipeline, algorithm: str, params: dict, metrics: dict, info: TargetInfo | None) -> TrainedModel:
    classes = plain(info.classes) if info is not None and info.classes else None
    origins, names = transformed_feature_origins(pipe.named_steps["preprocess"], plan.numeric, plan.categorical, classes)
    X_full = pd.concat([split.X_fit, split.X_val], ignore_index=True)
    used_rows = len(data.frame) + (len(data.test_frame) if data.test_frame is not None else 0)
    return TrainedModel(
        pipeline=pipe, config=cfg, task=cfg.task, algorithm=algorithm, estimator_params=plain(params), feature_schema=schema,
        target=cfg.target if cfg.task != "clustering" else None, classes=classes,
        positive_class=plain(info.positive_class) if info is not None else None, metrics=plain(metrics), validation_metrics=None,
        cv_results=None, data_hash=data.data_hash, versions=library_versions(), training_seconds=0.0,
        n_rows={"input": int(data.n_input), "used": int(used_rows), "train": len(split.X_fit), "validation": len(split.X_val), "test": len(split.X_test)},
        warnings=[w.to_dict() for w in data.warnings] + data.notes, excluded_columns=dict(plan.excluded), interval=None,
        segments=None, global_importance=None, explain_background=_background(cfg, plan, X_full), transformed_origins=origins,
        transformed_names=names, created_at=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        class_codes=cfg.task == "classification", target_info=plain(info.to_dict()) if info is not None else None,
    )  # fmt: skip


def _package_clusters(cfg, data: _Data, plan: ColumnPlan, schema, split: _Split, factory: _Factory, steps: _Steps) -> TrainedModel:
    algorithm, params, estimator, cv_results = select_clusters(cfg, factory, split.X_fit, steps)
    steps(0.75, f"Fitting {algorithm}")
    pipe = _fit(factory(clone(estimator)), split.X_fit, None, algorithm)
    steps(0.86, "Scoring the test split")
    test_metrics, segments = cluster_test_metrics(cfg, pipe, data.frame, plan, split.X_test)
    model = _model(cfg, data, plan, schema, split, pipe, algorithm, params, test_metrics, None)
    model.cv_results = plain(cv_results) if cv_results else None
    model.segments = plain(segments) if segments else None
    steps(1.0, "Done")
    return model


__all__ = ["Cancelled", "FrameCoercer", "apply_data_prep", "auto_candidates", "interval_bounds", "library_versions", "make_estimator", "resolve_positive_class", "train_model"]
